"""SRGAN's adversarial phase with a VGG19 content loss loaded from a weights file the test
writes (random init, offline), jit, save/reload, and through ``train_model``; the steps the
workflow runs; tiled inference; comparison PNGs; generic export with dynamic sizes."""

import os
import runpy
import warnings

import keras
import numpy as np
import pytest

from kerascv_apps import build_model
from kerascv_apps.data.sources.sr_common import from_images
from kerascv_apps.data.sources.base import DatasetSplits
from kerascv_apps.experiment import train_model
from kerascv_apps.inference.tiling import predict, predict_tiled
from kerascv_apps.io import load_model
from kerascv_apps.losses.super_resolution import VGGContentLoss, vgg_preprocess
from kerascv_apps.metrics.super_resolution import psnr
from kerascv_apps.models.super_resolution.espcn import ESPCN
from kerascv_apps.models.super_resolution.srresnet import SRResNet
from kerascv_apps.training.gan import SRGAN

RNG = np.random.default_rng(2)


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("vgg") / "vgg19_random.weights.h5")
    keras.utils.set_random_seed(3)
    keras.applications.VGG19(include_top=False, weights=None).save_weights(path)
    return path


def test_content_loss_refuses_without_weights(tmp_path):
    with pytest.raises(ValueError, match="vgg_weights=<path>.*allow_random_features=True"):
        VGGContentLoss()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        VGGContentLoss(vgg_weights=str(tmp_path / "missing.weights.h5"))
    with pytest.raises(ValueError, match="content layer"):
        VGGContentLoss(layer="block3_conv1", allow_random_features=True)


def test_content_loss_uses_the_weights_file(vgg_file):
    loss = VGGContentLoss("block5_conv4", vgg_weights=vgg_file)
    ref = keras.applications.VGG19(include_top=False, weights=None)
    ref.load_weights(vgg_file)
    np.testing.assert_array_equal(loss.features.get_layer("block3_conv2").kernel.numpy(),
                                  ref.get_layer("block3_conv2").kernel.numpy())
    hr = RNG.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    assert float(loss(hr, hr)) == 0.0
    # the loss is the scaled feature MSE of the BGR-mean-subtracted images
    feats = keras.Model(ref.input, ref.get_layer("block5_conv4").output)
    sr = np.clip(hr + RNG.normal(0, 20, hr.shape), 0, 255).astype("float32")
    expected = np.mean((feats(vgg_preprocess(sr)).numpy() / 12.75
                        - feats(vgg_preprocess(hr)).numpy() / 12.75) ** 2)
    assert float(loss(hr, sr)) == pytest.approx(expected, rel=1e-4)
    np.testing.assert_allclose(vgg_preprocess(hr[:1, :1, :1])[0, 0, 0].numpy(),
                               hr[0, 0, 0, ::-1] - np.array([103.939, 116.779, 123.68]), rtol=1e-6)


def _small_gan(vgg_file):
    gen = SRResNet(scale=2, filters=8, num_blocks=1)
    disc = build_model("srgan_discriminator", input_shape=(32, 32, 3),
                       stackwise_num_filters=(8, 16), dense_units=16)
    # block2_conv2 keeps the XLA graph small; the recipe test below uses block5_conv4
    gan = SRGAN(gen, disc, content_loss=VGGContentLoss("block2_conv2", vgg_weights=vgg_file))
    return gan


def test_gan_step_under_jit_and_reload(vgg_file, tmp_path):
    gan = _small_gan(vgg_file)
    gan.compile(keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4), jit_compile=True)
    lr = RNG.uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    hr = RNG.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    g0 = [w.numpy().copy() for w in gan.generator.trainable_weights]
    d0 = [w.numpy().copy() for w in gan.discriminator.trainable_weights]
    history = gan.fit(lr, hr, batch_size=2, epochs=1, verbose=0)
    logs = {k: v[-1] for k, v in history.history.items()}
    assert set(logs) >= {"loss", "d_loss", "content_loss", "adversarial_loss", "psnr"}
    assert all(np.isfinite(v) for v in logs.values())
    assert logs["content_loss"] > 0 and logs["d_loss"] > 0
    assert logs["loss"] == pytest.approx(logs["content_loss"] + 1e-3 * logs["adversarial_loss"],
                                         rel=1e-4)
    assert any(not np.array_equal(a, b.numpy()) for a, b in zip(g0, gan.generator.trainable_weights))
    assert any(not np.array_equal(a, b.numpy()) for a, b in zip(d0, gan.discriminator.trainable_weights))
    path = str(tmp_path / "gan.keras")
    gan.save(path)
    reloaded = load_model(path, compile=False)
    assert isinstance(reloaded, SRGAN) and reloaded.adversarial_weight == 1e-3
    np.testing.assert_allclose(reloaded(lr).numpy(), gan(lr).numpy(), atol=1e-4)
    gen_path = str(tmp_path / "generator.keras")
    gan.generator.save(gen_path)
    np.testing.assert_allclose(load_model(gen_path, compile=False)(lr).numpy(), gan(lr).numpy(),
                               atol=1e-4)


def _tiny_splits():
    photos = [np.asarray(keras.ops.image.resize(
        RNG.uniform(0, 255, (1, 12, 12, 3)).astype("float32"), (48 + 4 * i, 40)))[0] for i in range(3)]
    part = lambda ims: from_images(ims, 2)[0]
    return DatasetSplits("tiny", "super_resolution", part(photos), part(photos[:1]),
                         part(photos[1:]), (None, None, 3), info={"scale": 2})


def test_train_model_runs_the_steps_it_says(tmp_path):
    """Repeated random crops: epochs x steps_per_epoch batches, validation on whole images
    without Keras' "ran out of data" interruption."""
    batches = []
    counter = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: batches.append(b))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = train_model("espcn_x2", run_dir=str(tmp_path / "run"), splits=_tiny_splits(),
                          epochs=2, steps_per_epoch=3, batch_size=2, verbose=0,
                          task_kwargs={"patch_size": 8}, callbacks=[counter])
    assert len(batches) == 6 and run.result.epochs_run == [0, 1]
    assert not [w for w in caught if "ran out of data" in str(w.message)]
    assert np.isfinite(run.result.history["val_psnr"]).all()


def test_srgan_recipe_two_phases(vgg_file, tmp_path):
    run = runpy.run_path(os.path.join(os.path.dirname(__file__), "..", "recipes",
                                      "super_resolution", "srgan.py"), run_name="srgan")["run"]
    splits = _tiny_splits()
    s = run(str(tmp_path / "run"), vgg_weights=vgg_file, scale=2, num_blocks=1, filters=8,
            pretrain_epochs=1, gan_epochs=1, steps_per_epoch=2, batch_size=2, patch_size=16,
            verbose=0, disc_filters=(8, 16), disc_dense_units=16, splits=splits)
    assert s["content_layer"] == "block5_conv4"
    assert not s["random_vgg_features"] and s["vgg_weights"] == vgg_file
    for key in ("pretrained_test", "srgan_test"):
        assert np.isfinite(s[key]["psnr_y"]) and s[key]["bicubic_psnr_y"] > 20
    assert os.path.exists(tmp_path / "run" / "generator.keras")
    assert os.path.exists(tmp_path / "run" / "gan" / "checkpoints" / "last.keras")
    gan = load_model(str(tmp_path / "run" / "gan" / "checkpoints" / "last.keras"), compile=False)
    assert isinstance(gan, SRGAN)
    # phase 2 ran SRGAN's own train step inside train_model (its losses are in the history)
    history = (tmp_path / "run" / "gan" / "history.csv").read_text().splitlines()[0]
    assert "d_loss" in history and "adversarial_loss" in history


def test_tiled_equals_whole_image():
    model = ESPCN(scale=2, anchor_skip=True)
    fn = lambda x: model.predict_on_batch(x)
    image = RNG.uniform(0, 255, (20, 26, 3)).astype("float32")
    whole = fn(image[None])[0]
    one_tile = predict_tiled(fn, image, tile=64, context=8, scale=2)
    hr = np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)
    assert abs(psnr(hr, one_tile) - psnr(hr, whole)) < 0.1  # the acceptance bound
    np.testing.assert_allclose(one_tile, whole, atol=1e-3)
    # several tiles: with overlap >= the receptive-field radius (4 LR px) no seams at all
    tiled = predict_tiled(fn, image, tile=8, context=6, scale=2)
    assert np.abs(tiled - whole).max() < 1e-2
    seamed = predict_tiled(fn, image, tile=8, context=0, scale=2)
    assert np.abs(seamed - whole).max() > 1.0  # without overlap, tile borders differ


def test_predict_writes_comparison_pngs(tmp_path):
    from PIL import Image

    model = ESPCN(scale=2, anchor_skip=True)
    lr = RNG.uniform(0, 255, (12, 10, 3)).astype("float32")
    hr = RNG.uniform(0, 255, (24, 20, 3)).astype("float32")
    paths = predict(model, [lr], 2, str(tmp_path), hr_images=[hr], tile=8, overlap=4, names=["x"])
    sr = np.asarray(Image.open(paths[0]))
    cmp = np.asarray(Image.open(paths[1]))
    assert sr.shape == (24, 20, 3)
    assert cmp.shape == (24, 4 * 20 + 3 * 4, 3)  # LR | bicubic | SR | HR with 4-px gaps
    np.testing.assert_array_equal(cmp[:, 3 * 24:3 * 24 + 20], np.round(hr).astype(np.uint8))


def test_generic_export_model_with_the_sr_task(tmp_path):
    from kerascv_apps.export.pipeline import export_model
    from kerascv_apps.tasks import get_task

    # its own generator and seed: the int8 gate below compares two PSNRs of these photos and
    # this initialisation (drawn from the module's RNG, they changed with the tests run before)
    rng = np.random.default_rng(2)
    keras.utils.set_random_seed(0)
    photos = [np.asarray(keras.ops.image.resize(
        rng.uniform(0, 255, (1, 10, 12, 3)).astype("float32"), (h, w)))[0]
        for h, w in ((200, 160), (128, 144))]
    train, _ = from_images(photos, 2)
    test, _ = from_images(photos[::-1], 2)
    splits = DatasetSplits("tiny", "super_resolution", train, test, test, (None, None, 3),
                           info={"scale": 2})
    task = get_task("super_resolution", scale=2)
    assert task.calibration_images(splits, 5).shape == (5, 48, 48, 3)
    report = export_model(ESPCN(scale=2, anchor_skip=True), task, splits, str(tmp_path / "out"),
                          "espcn_x2", formats=("savedmodel", "float32", "int8"),
                          max_quality_drop=0.01, tflite_input_shape=(1, None, None, 3),
                          latency_runs=2)
    assert report["metric"] == "psnr_y" and report["passed"]
    assert abs(report["formats"]["float32"]["quality_drop"]) < 0.01
    print(f"SR int8 PSNR-Y drop {report['formats']['int8']['quality_drop']:.4f} dB")
    assert report["formats"]["int8"]["quality_drop"] <= 0.01  # the README's --max-int8-drop
