"""Restoration data, task and baselines (data/degrade.py, data/sources/restoration.py,
tasks/restoration.py, metrics/restoration.py, layers/patches.py, training/layerwise.py)."""

import numpy as np
import pytest
import tensorflow as tf

from kerascv_apps.data.degrade import Degradation, degrade_numpy
from kerascv_apps.data.sources.base import DataError, load_dataset

RNG = np.random.default_rng(0)


def _smooth(h=64, w=64):
    y, x = np.mgrid[0:h, 0:w]
    img = 128 + 60 * np.sin(x / 9.0)[..., None] * np.cos(y / 7.0)[..., None] * np.ones(3)
    return img.astype(np.float32)


def test_gaussian_noise_has_its_sigma_and_is_fixed_by_the_seed():
    clean = np.full((128, 128, 3), 128.0, np.float32)
    deg = Degradation("gaussian", sigma=25)
    a, b, c = (degrade_numpy(deg, clean, s) for s in (1, 1, 2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert 24.0 < float(np.std(a - clean)) < 26.0
    assert np.all(a == np.round(a)) and a.min() >= 0 and a.max() <= 255


def test_low_light_darkens_by_gamma_and_adds_noise():
    clean = np.full((64, 64, 3), 128.0, np.float32)
    dark = degrade_numpy(Degradation("low_light", gamma=3.0, sigma=0.0), clean)
    assert np.allclose(dark, np.round(255 * (128 / 255) ** 3))
    noisy = degrade_numpy(Degradation("low_light", gamma=3.0, sigma=10.0), clean)
    assert 8.0 < float(np.std(noisy - dark)) < 12.0


def test_poisson_blur_and_jpeg():
    clean = _smooth()
    bright = np.full((128, 128, 3), 200.0, np.float32)
    shot = degrade_numpy(Degradation("poisson", peak=50), bright) - bright
    # photon counts of mean 50 * 200/255: std = 255 * sqrt(lam) / peak
    assert abs(float(np.std(shot)) - 255 * np.sqrt(50 * 200 / 255) / 50) < 2.0
    edge = np.zeros((32, 32, 3), np.float32)
    edge[:, 16:] = 255.0
    blurred = degrade_numpy(Degradation("blur", blur_sigma=2.0), edge)
    assert 0 < blurred[5, 15, 0] < 255 and blurred[5, 2, 0] == 0
    jpeg = degrade_numpy(Degradation("jpeg", quality=5), RNG.uniform(0, 255, (32, 32, 3)))
    assert jpeg.shape == (32, 32, 3)
    assert degrade_numpy(Degradation("jpeg", quality=95), clean).std() > 0


def test_bad_degradations_are_refused_by_name():
    with pytest.raises(DataError, match="unknown kind 'snow'"):
        Degradation("snow")
    with pytest.raises(DataError, match="peak does not apply"):
        Degradation("gaussian", peak=3)
    with pytest.raises(DataError, match="sigma"):
        Degradation("gaussian", sigma=[30, 10])


def test_embedded_photos_hold_out_by_name_and_the_test_set_is_fixed():
    a = load_dataset("restore", degradation="gaussian", sigma=25)
    b = load_dataset("restore", degradation="gaussian", sigma=25)
    assert a.task == "restoration" and a.sizes == {"train": 14, "val": 2, "test": 5}
    assert {"sklearn:china", "sklearn:flower", "chelsea"} <= set(a.info["test_images"])
    assert not set(a.info["test_images"]) & set(a.info["train_images"])
    first_a = next(iter(a.test.as_numpy_iterator()))
    first_b = next(iter(b.test.as_numpy_iterator()))
    assert np.array_equal(first_a[0], first_b[0])
    assert 23 < float(np.std(first_a[0] - first_a[1])) < 27  # clipping trims a little
    other = load_dataset("restore", degradation="gaussian", sigma=25, seed=1)
    assert not np.array_equal(next(iter(other.test.as_numpy_iterator()))[0], first_a[0])
    with pytest.raises(DataError, match="held-out photos also in train"):
        load_dataset("restore", test=("astronaut",))


def test_any_source_is_wrapped_and_its_task_says_what_is_clean(tmp_path):
    from PIL import Image

    for i in range(3):
        Image.fromarray(RNG.integers(0, 255, (24, 20, 3), dtype=np.uint8)).save(
            tmp_path / f"p{i}.png")
    splits = load_dataset(f"restore:sr-folder:{tmp_path}", degradation="low_light",
                          source_kwargs='{"scale": 2}')
    degraded, clean = next(iter(splits.test.as_numpy_iterator()))
    hr = np.asarray(Image.open(tmp_path / "p2.png"), np.float32)[:24, :20]
    assert np.array_equal(clean, hr)  # the SR task's clean image is the HR target
    assert degraded.mean() < clean.mean() - 30
    with pytest.raises(DataError, match="itself a restoration dataset"):
        load_dataset("restore:restore")


def test_training_crops_are_degraded_anew_per_seed():
    from kerascv_apps.data.sources.restoration import RestorationAugment

    aug = RestorationAugment(16, Degradation("gaussian", sigma=25))
    clean = tf.constant(_smooth())
    x1, y1 = aug(clean, clean, tf.constant([1, 2], tf.int64))
    x2, y2 = aug(clean, clean, tf.constant([1, 3], tf.int64))
    assert x1.shape == (16, 16, 3) and not np.array_equal(x1.numpy(), x2.numpy())
    assert 15 < float(np.std(x1.numpy() - y1.numpy())) < 35
    # per-channel gains in [min_gain, 1] on the clean crop, the noise made after them
    gray = tf.constant(np.full((32, 32, 3), 200.0, np.float32))
    quiet = RestorationAugment(16, Degradation("gaussian", sigma=0), min_gain=0.3)
    x, y = quiet(gray, gray, tf.constant([4, 5], tf.int64))
    channel = y.numpy()[0, 0]
    assert np.array_equal(x.numpy(), y.numpy()) and len(set(channel)) == 3
    assert np.all(channel >= 60) and np.all(channel <= 200)


@pytest.mark.parametrize("stride", [1, 3, 5])
def test_patch_fold_undoes_the_patch_split(stride):
    import keras

    from kerascv_apps.layers.patches import BatchToChannels, ChannelsToBatch, PatchFold
    from kerascv_apps.layers.segmentation import MirrorPadding2D

    p = 5
    image = RNG.uniform(0, 1, (2, 13, 11, 3)).astype(np.float32)
    gray = ChannelsToBatch()(image)
    padded = MirrorPadding2D(p - 1)(gray)
    # one patch per position: a conv with a one-hot kernel copies each patch into channels
    kernel = np.eye(p * p, dtype=np.float32).reshape(p, p, 1, p * p)
    patches = keras.ops.conv(padded, kernel, strides=stride, padding="valid")
    folded = PatchFold(p, stride, p - 1)([patches, gray])
    out = np.asarray(BatchToChannels(3)(folded))
    np.testing.assert_allclose(out, image, atol=1e-5)
    # a mean of overlapping patches: a constant added to one patch spreads, divided
    bumped = np.asarray(patches).copy()
    bumped[0, 2, 2] += 1.0
    diff = np.asarray(PatchFold(p, stride, p - 1)([bumped, gray])) - np.asarray(folded)
    assert 0 < diff.max() <= 1.0 + 1e-6


def test_task_scores_and_reports_the_baselines_of_its_degradation(tmp_path):
    from kerascv_apps.metrics.restoration import restoration_metrics, run_baseline
    from kerascv_apps.tasks.base import get_task

    clean = [_smooth(48, 40), _smooth(40, 56)]
    noisy = [degrade_numpy(Degradation("gaussian", sigma=25), c, i) for i, c in enumerate(clean)]
    task = get_task("restoration", degradation={"kind": "gaussian"})
    results = task.evaluate(clean, noisy, inputs=noisy, names=["a", "b"])
    assert results["baselines"] == ["input", "nlm", "tv", "wavelet"]
    assert abs(results["psnr"] - results["input_psnr"]) < 1e-9  # the "model" is the input
    assert results["nlm_psnr"] > results["input_psnr"] + 3
    assert results["per_image"][1]["image"] == "b"
    assert task.score(clean, noisy) == pytest.approx(results["psnr"])
    assert task.plots(results, str(tmp_path))[0].endswith(".png")
    dark = [degrade_numpy(Degradation("low_light", gamma=3, sigma=5), c) for c in clean]
    low = get_task("restoration", degradation={"kind": "low_light"})
    res = low.evaluate(clean, dark, inputs=dark)
    assert res["baselines"] == ["input", "he", "clahe"]
    assert res["he_psnr"] > res["input_psnr"]
    he = run_baseline("he", dark[0])
    assert restoration_metrics(clean[0], he)["psnr"] == pytest.approx(
        res["per_image"][0]["he_psnr"])
    # colour gains on the training crops for noise, none for low light (the brightness to
    # restore), unless asked for
    from types import SimpleNamespace

    def crops_gain(t, kind):
        return t.augmentation("none", SimpleNamespace(info={"degradation": {"kind": kind}}))
    assert crops_gain(task, "gaussian").min_gain == 0.3
    assert crops_gain(low, "low_light").min_gain == 1.0
    assert crops_gain(get_task("restoration", min_gain=0.5), "low_light").min_gain == 0.5


def test_tiled_prediction_equals_whole_image_prediction():
    from kerascv_apps import build_model
    from kerascv_apps.tasks.base import get_task

    model = build_model("dae", filters=4, num_layers=4)
    task = get_task("restoration", tile=16, context=8)
    image = RNG.uniform(0, 255, (1, 37, 29, 3)).astype(np.float32)
    whole = np.asarray(model(image))
    tiled = task.tiled(lambda x: np.asarray(model(x)))(image)
    np.testing.assert_allclose(tiled, whole, atol=1e-3)


def test_layerwise_pretraining_ties_the_decoder_to_the_encoder():
    from kerascv_apps import build_model
    from kerascv_apps.training.layerwise import pretrain_llnet

    model = build_model("llnet", input_shape=(None, None, 3), patch_size=3,
                        hidden_units=(8, 6, 4), stride=1)
    clean = RNG.uniform(0.2, 0.8, (256, 9)).astype(np.float32)
    noisy = np.clip(clean + RNG.normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)
    before = model.get_layer("llnet_enc1").get_weights()[0].copy()
    losses = pretrain_llnet(model, noisy, clean, epochs=2, batch_size=64)
    assert len(losses) == 3
    enc = [model.get_layer(f"llnet_enc{i}").get_weights()[0] for i in (1, 2, 3)]
    dec = [model.get_layer(f"llnet_dec{i}").get_weights()[0] for i in (3, 2, 1)]
    assert not np.allclose(enc[0], before)
    for e, d in zip(enc, dec):
        w = e.reshape(-1, e.shape[-1])
        np.testing.assert_allclose(d.reshape(w.shape[::-1]), w.T)
    # the DA objective (one full batch, learning rate 0: the objective of the weights kept):
    # half the squared error summed over the patch + beta * sparsity KL + lambda/2 ||W||^2
    model = build_model("llnet", input_shape=(None, None, 3), patch_size=3,
                        hidden_units=(8,), stride=1)  # one DA layer
    losses = pretrain_llnet(model, noisy, clean, epochs=1, batch_size=256, learning_rate=0.0)
    w, b = model.get_layer("llnet_enc1").get_weights()
    w = w.reshape(9, 8)
    b_out = model.get_layer("llnet_dec1").get_weights()[1]
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    h = sig(noisy @ w + b)
    rec = np.mean(0.5 * np.sum((sig(h @ w.T + b_out) - clean) ** 2, axis=-1))
    rho, rho_hat = 0.05, h.mean(0)
    kl = np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))
    assert losses[0] == pytest.approx(rec + 0.01 * kl + 0.5e-5 * np.sum(w ** 2), rel=1e-4)
