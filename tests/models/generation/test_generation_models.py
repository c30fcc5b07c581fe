"""Autoencoder, VAE and DCGAN builders (models/generation/): structure, the shared harness."""

import keras
import numpy as np
import pytest

from kerascv_apps import build_model
from kerascv_apps.models.generation.common import model_parts
from tests.harness import run_model_test

SMALL_AE = dict(input_shape=(16, 16, 1), latent_dim=4, filters=(4, 8))


def _images(n=4, shape=(16, 16, 1)):
    return np.random.default_rng(0).uniform(0, 255, (n,) + shape).astype("float32")


def test_autoencoder_bottleneck_by_name_and_harness():
    x = _images()
    report = run_model_test("autoencoder", SMALL_AE, x, x, "mse", int8=False,
                            mixed_precision=False, output_shapes=[(4, 16, 16, 1)])
    model = report["model"]
    parts = model_parts(model)
    assert parts["encoder"].get_layer("bottleneck").units == 4
    assert tuple(parts["encoder"].outputs[0].shape) == (None, 4)
    assert tuple(parts["decoder"].inputs[0].shape) == (None, 4)
    out = np.asarray(model(x))
    assert out.min() >= 0 and out.max() <= 255  # pixels
    dense = build_model("autoencoder_dense", input_shape=(16, 16, 1), latent_dim=3,
                        hidden_units=(8,))
    assert model_parts(dense)["encoder"].get_layer("bottleneck").units == 3
    assert not any(isinstance(l, keras.layers.Conv2D) for l in model_parts(dense)["encoder"].layers)
    with pytest.raises(ValueError, match="divisible by 4"):
        build_model("autoencoder", input_shape=(18, 18, 1), filters=(4, 8))


def test_vae_heads_sampling_and_kl_loss():
    x = _images()
    model = build_model("vae", input_shape=(16, 16, 1), latent_dim=3, filters=(4, 8),
                        hidden_units=8)
    encoder = model_parts(model)["encoder"]
    assert [tuple(o.shape) for o in encoder.outputs] == [(None, 3), (None, 3)]
    assert encoder.get_layer("z_mean").units == 3 and encoder.get_layer("z_log_var").units == 3
    # inference is deterministic (z = mu); training draws z
    a, b = np.asarray(model(x, training=False)), np.asarray(model(x, training=False))
    np.testing.assert_array_equal(a, b)
    c = np.asarray(model(x, training=True))
    assert np.max(np.abs(c - a)) > 0
    # the KL term is added as a model loss
    model(x, training=True)
    mu, log_var = (np.asarray(t) for t in encoder(x))
    kl = np.mean(-0.5 * np.sum(1 + log_var - mu ** 2 - np.exp(log_var), axis=-1))
    # float32 cancellation in 1 + log_var - mu^2 - exp(log_var): ~1e-8 absolute
    np.testing.assert_allclose(float(model.losses[0]), kl, rtol=1e-4, atol=1e-7)
    report = run_model_test("vae", dict(input_shape=(16, 16, 1), latent_dim=3, filters=(4, 8),
                                        hidden_units=8), x, x, "mse", int8=False,
                            mixed_precision=False, output_shapes=[(4, 16, 16, 1)])
    assert report["model"].get_layer("reparameterize").kl_weight == 1.0


def test_dcgan_generator_and_discriminator():
    g = build_model("dcgan", input_shape=(16, 16, 1), latent_dim=8, base_filters=4,
                    num_upsamplings=2)
    assert tuple(g.inputs[0].shape) == (None, 8) and tuple(g.outputs[0].shape) == (None, 16, 16, 1)
    # paper: BN everywhere in G but the output; tanh output (pixels: (t + 1) * 127.5)
    names = [layer.name for layer in g.layers]
    assert "project_bn" in names and "deconv1_bn" in names
    assert g.get_layer("deconv_out").activation.__name__ == "tanh"
    assert g.get_layer("deconv2_bn" if "deconv2_bn" in names else "deconv1_bn")
    z = np.random.default_rng(0).standard_normal((4, 8)).astype("float32")
    out = np.asarray(g(z))
    assert out.min() >= 0 and out.max() <= 255
    d = build_model("dcgan_discriminator", input_shape=(16, 16, 1), base_filters=4,
                    num_downsamplings=2)
    dnames = [layer.name for layer in d.layers]
    assert "conv1_bn" not in dnames and "conv2_bn" in dnames  # no BN on D's first layer
    assert d.get_layer("conv1_lrelu").negative_slope == pytest.approx(0.2)
    run_model_test("dcgan", dict(input_shape=(16, 16, 1), latent_dim=8, base_filters=4,
                                 num_upsamplings=2), z, out, "mse", int8=False,
                   mixed_precision=False, output_shapes=[(4, 16, 16, 1)])


def test_vae_kl_warmup_ramps_then_is_the_elbo_and_reloads(tmp_path):
    """KL warm-up: the KL term's weight is step / warmup_steps during the first training
    steps (0 at the first), then kl_weight; inference does not count steps; the step count
    is saved with the model. Without warm-up the layer has no variable (older files load)."""
    from kerascv_apps.layers.generation import Reparameterize, kl_divergence

    mu = np.array([[1.0, -2.0], [0.5, 0.0]], "float32")
    log_var = np.array([[0.1, -0.3], [0.0, 0.2]], "float32")
    kl = float(np.mean(kl_divergence(mu, log_var)))
    layer = Reparameterize(kl_weight=1.0, kl_warmup_steps=4, seed=1)
    seen = []
    for _ in range(6):
        layer([mu, log_var], training=True)
        seen.append(float(layer.losses[-1]))
    np.testing.assert_allclose(seen, [0, 0.25 * kl, 0.5 * kl, 0.75 * kl, kl, kl], rtol=1e-5)
    layer([mu, log_var], training=False)
    assert float(layer.kl_step) == 4.0 and float(layer.losses[-1]) == pytest.approx(kl, rel=1e-5)
    assert not Reparameterize().weights
    with pytest.raises(ValueError, match="kl_warmup_steps"):
        Reparameterize(kl_warmup_steps=-1)
    model = build_model("vae", input_shape=(16, 16, 1), latent_dim=2, filters=(4, 8),
                        hidden_units=8, kl_warmup_steps=10)
    model.compile(optimizer="adam", loss="mse")
    x = _images(8)
    model.fit(x, x, batch_size=4, epochs=1, verbose=0)
    assert float(model.get_layer("reparameterize").kl_step) == 2.0
    path = str(tmp_path / "vae.keras")
    model.save(path)
    again = keras.models.load_model(path, safe_mode=True, compile=False)
    layer = again.get_layer("reparameterize")
    assert layer.kl_warmup_steps == 10 and float(layer.kl_step) == 2.0
