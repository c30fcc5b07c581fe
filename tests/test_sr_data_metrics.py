"""SR data sources (embedded photos, DIV2K via tfds mock data, HR folder), the pairing
augmentation, PSNR/SSIM against scikit-image, the Task's bicubic baseline and the linear
ceiling recipe."""

import os

import numpy as np
import pytest
import tensorflow as tf
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from kerascv_apps.data import DataError, load_dataset
from kerascv_apps.data.sources import photos as photos_module
from kerascv_apps.data.sources.sr_common import SRAugment, bicubic_downscale, downscale
from kerascv_apps.experiment import pipelines
from kerascv_apps.metrics.super_resolution import psnr, rgb_to_y, shave, sr_metrics, ssim
from kerascv_apps.tasks import get_task

RNG = np.random.default_rng(1)


@pytest.fixture(scope="module")
def photos_x4():
    return load_dataset("photos", scale=4)


def test_photos_split_is_fixed_and_disjoint(photos_x4):
    s = photos_x4
    assert s.sizes == {"train": 14, "val": 2, "test": 3}
    assert not set(photos_module.TRAIN) & (set(photos_module.VAL) | set(photos_module.TEST))
    pairs = list(s.test.as_numpy_iterator())
    assert [hr.shape for _, hr in pairs] == [(300, 448, 3), (400, 600, 3), (512, 512, 3)]
    for lr, hr in pairs:
        assert lr.shape == (hr.shape[0] // 4, hr.shape[1] // 4, 3)
        np.testing.assert_array_equal(lr, bicubic_downscale(hr, 4).numpy())
        assert lr.dtype == np.float32 and 0 <= lr.min() and lr.max() <= 255
    with pytest.raises(DataError, match="held-out"):
        load_dataset("photos", train=("chelsea",))


def test_sr_augment_keeps_lr_hr_aligned():
    lr = RNG.uniform(0, 255, (20, 30, 3)).astype("float32")
    hr = np.repeat(np.repeat(lr, 3, axis=0), 3, axis=1)  # HR = exact nearest ×3 of LR
    aug = SRAugment(patch_size=8, scale=3)
    seen = set()
    for i in range(12):
        a, b = aug(tf.constant(lr), tf.constant(hr), tf.constant([i, 7], tf.int64))
        a, b = a.numpy(), b.numpy()
        assert a.shape == (8, 8, 3) and b.shape == (24, 24, 3)
        np.testing.assert_array_equal(b, np.repeat(np.repeat(a, 3, axis=0), 3, axis=1))
        seen.add(a.tobytes())
    assert len(seen) > 6  # crops/flips/rotations vary with the seed


def test_train_pipeline_batches(photos_x4):
    task = get_task("super_resolution", splits=photos_x4, patch_size=16)
    train, _, _ = pipelines(task, photos_x4, 4, repeat=True)
    lr, hr = next(iter(train))
    assert lr.shape == (4, 16, 16, 3) and hr.shape == (4, 64, 64, 3)
    # each LR crop is one of the task's downscalers applied to its HR crop (+ a 2-px margin,
    # so the match is close, not exact, at the rim)
    for i in range(4):
        errors = [np.abs(downscale(hr[i], 4, m).numpy()[2:-2, 2:-2]
                         - lr[i].numpy()[2:-2, 2:-2]).mean() for m in task.degradations]
        assert min(errors) < 3.0, errors


def test_degradations_differ_and_pil_matches_antialiased_tf():
    hr = photos_module.load_photo("chelsea")[:96, :128].astype("float32")
    outs = {m: np.asarray(downscale(hr, 2, m)) for m in
            ("bicubic_antialias", "bicubic", "area", "pil_bicubic")}
    assert all(o.shape == (48, 64, 3) for o in outs.values())
    assert np.abs(outs["pil_bicubic"] - outs["bicubic_antialias"]).mean() < 0.5
    assert np.abs(outs["bicubic"] - outs["bicubic_antialias"]).mean() > 1.0
    with pytest.raises(ValueError, match="unknown method"):
        downscale(hr, 2, "lanczos")
    with pytest.raises(ValueError, match="unknown degradations"):
        SRAugment(8, 2, degradations=("lanczos",))


def test_div2k_with_tfds_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=3):
        s = load_dataset("div2k", scale=2, val_images=1)
        lr, hr = next(iter(s.train))
    assert hr.shape[0] % 2 == 0 and hr.shape[1] % 2 == 0 and hr.shape[2] == 3
    assert lr.shape == (hr.shape[0] // 2, hr.shape[1] // 2, 3)
    assert s.info["config"] == "div2k/bicubic_x2"


def test_hr_folder_source(tmp_path):
    from PIL import Image

    for i in range(5):
        Image.fromarray(RNG.integers(0, 255, (40 + i, 50, 3), dtype=np.uint8)).save(
            tmp_path / f"img{i}.png")
    s = load_dataset(f"sr-folder:{tmp_path}", scale=2)
    assert s.sizes == {"train": 3, "val": 1, "test": 1}
    lr, hr = next(iter(s.test))
    assert hr.shape == (44, 50, 3) and lr.shape == (22, 25, 3)
    with pytest.raises(DataError, match="not a directory"):
        load_dataset("sr-folder:/nonexistent/dir", scale=2)
    empty = tmp_path / "empty"
    os.makedirs(empty)
    with pytest.raises(DataError, match="holds 0 images"):
        load_dataset(f"sr-folder:{empty}", scale=2)


def test_psnr_ssim_match_skimage():
    a = RNG.uniform(0, 255, (48, 40, 3))
    b = np.clip(a + RNG.normal(0, 12, a.shape), 0, 255)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), abs=1e-9)
    ya, yb = rgb_to_y(a), rgb_to_y(b)
    np.testing.assert_allclose(ya, rgb2ycbcr(a / 255.0)[..., 0], atol=1e-9)
    ref = structural_similarity(ya, yb, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False, data_range=255)
    assert ssim(ya, yb) == pytest.approx(ref, abs=1e-9)
    ref_rgb = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, channel_axis=-1,
                                    use_sample_covariance=False, data_range=255)
    assert ssim(a, b) == pytest.approx(ref_rgb, abs=1e-9)


def test_sr_metrics_crop_the_border_and_round():
    hr = RNG.uniform(0, 255, (32, 32, 3)).round()
    sr = hr.copy()
    sr[:3] = 0  # damage only inside the 3-pixel border
    m = sr_metrics(hr, sr + 0.3, scale=3)  # +0.3 rounds away
    assert m["psnr_y"] == float("inf") and m["ssim_y"] == pytest.approx(1.0)
    m4 = sr_metrics(hr, sr, scale=2)
    assert m4["psnr_y"] < 30
    assert shave(hr, 3).shape == (26, 26, 3)


def test_task_reports_bicubic_beside_the_model(photos_x4):
    task = get_task("super_resolution", scale=4)
    assert task.quality_metric == "psnr_y" and task.monitor() == ("val_psnr", "max")
    lrs, hrs = zip(*photos_x4.test.as_numpy_iterator())
    bicubic = task.bicubic(hrs, lrs)
    res = task.evaluate(list(hrs), bicubic, inputs=list(lrs))
    assert res["psnr_y"] == pytest.approx(res["bicubic_psnr_y"]) and res["gain_psnr_y"] == 0
    nearest = [np.repeat(np.repeat(lr, 4, axis=0), 4, axis=1) for lr in lrs]
    worse = task.evaluate(list(hrs), nearest)
    assert worse["bicubic_psnr_y"] == pytest.approx(res["bicubic_psnr_y"])  # same degradation
    assert worse["gain_psnr_y"] < -0.5 and 20 < worse["bicubic_psnr_y"] < 40
    assert task.score(list(hrs), nearest) == pytest.approx(worse["psnr_y"])
    assert len(res["per_image"]) == 3 and "bicubic_ssim_rgb" in res["per_image"][0]


def test_benchmark_downscalers_scores_bicubic_as_zero_gain():
    from kerascv_apps.data.sources.sr_common import bicubic_upscale
    from kerascv_apps.tasks.super_resolution import benchmark_downscalers

    images = [photos_module.load_photo("chelsea")[:64, :96], photos_module.load_photo("camera")[:80, :64]]
    same = benchmark_downscalers(lambda x: bicubic_upscale(x, 2), images, 2, names=["a", "b"])
    assert len(same["rows"]) == 6 and set(same["mean_gain"]) == {"bicubic_antialias", "bicubic",
                                                                  "pil_bicubic"}
    assert all(abs(r["gain_psnr_y"]) < 1e-9 for r in same["rows"])
    nearest = benchmark_downscalers(lambda x: np.repeat(np.repeat(x, 2, axis=1), 2, axis=2),
                                    images, 2)
    assert nearest["min_gain"] < -0.5 and max(nearest["mean_gain"].values()) < 0


def test_linear_ceiling_recipe_fits_at_least_bicubic():
    """recipes/super_resolution/linear_ceiling.py: a least-squares 5x5 -> 2x2 filter fitted to
    one image's LR contains bicubic's 4x4 interpolation, so in sample it is at least as good;
    the mixed fit sits between the per-kind fits on each kind."""
    import runpy

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ceiling = runpy.run_path(os.path.join(root, "recipes", "super_resolution",
                                          "linear_ceiling.py"), run_name="linear_ceiling")
    hr = np.asarray(photos_module.load_photo("astronaut")[:96, :96], np.float32)
    gains = {}
    for methods in (("bicubic_antialias",), ("bicubic",), ("bicubic_antialias", "bicubic")):
        w = ceiling["fit"]([hr], methods, 2, 5)
        assert w.shape == (26, 4)
        gains[methods] = [ceiling["gain"](w, [hr], m, 2, 5) for m in ("bicubic_antialias", "bicubic")]
    # measured: aa-fit +1.52 dB on aa LR, -1.03 on non-aa LR; non-aa fit +0.40; mixed +1.35 / +0.11
    assert gains[("bicubic_antialias",)][0] > 1.0 and gains[("bicubic",)][1] > 0.2
    assert gains[("bicubic_antialias",)][1] < -0.5  # sharpening tuned to aa LR hurts aliased LR
    mixed = gains[("bicubic_antialias", "bicubic")]
    assert 0.5 < mixed[0] <= gains[("bicubic_antialias",)][0] + 1e-6
    assert gains[("bicubic_antialias",)][1] < mixed[1] <= gains[("bicubic",)][1] + 1e-6
