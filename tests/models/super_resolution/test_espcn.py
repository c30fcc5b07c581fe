"""ESPCN (models/super_resolution/espcn.py) and its pixel-shuffle layer: parameter counts (the
registered edge upscaler and the paper's network), the harness, the anchor skip, and any input
size (graph-mode predict, dynamic TFLite); the paper's luminance-only network (Y through the
network, Cb/Cr bicubic, RGB in and out) from its layers to training and int8 export."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_apps import build_model, list_models
from kerascv_apps.export.tflite import (TFLiteRunner, builtin_op_names, convert_to_tflite,
                                        shared_saved_models)
from kerascv_apps.layers.color import BicubicUpsampling, RGBToYCbCr, YCbCrToRGB
from kerascv_apps.layers.pixel_shuffle import PixelShuffle
from kerascv_apps.losses.super_resolution import PixelLoss
from tests.harness import run_model_test
from tests.models.dynamic_size import check_any_size

RNG = np.random.default_rng(0)


def _lr(n, h, w):
    return RNG.uniform(0, 255, (n, h, w, 3)).astype("float32")


def test_registered_variants():
    names = {f"espcn{kind}_x{r}" for kind in ("", "_paper") for r in (2, 3, 4)}
    assert names <= set(list_models(task="super_resolution"))
    assert build_model("espcn_x3").name == "espcn_x3"
    assert build_model("espcn_x4").output.shape[-1] == 3
    paper = build_model("espcn_paper_x2")
    assert paper.name == "espcn_paper_x2"
    # Shi et al. 2016: on Y, conv5x5(64) tanh, conv3x3(32) tanh, conv3x3(r^2), no anchor skip
    assert paper.count_params() == 21_284
    assert [paper.get_layer(n).kernel_size for n in ("conv1", "conv2", "subpixel_conv")] == [
        (5, 5), (3, 3), (3, 3)]
    assert paper.get_layer("conv1").get_config()["activation"] == "tanh"
    assert "anchor_add" not in {layer.name for layer in paper.layers}
    edge = build_model("espcn_x2")
    assert [edge.get_layer(f"conv{i}").filters for i in (1, 2, 3)] == [64, 64, 32]
    assert [edge.get_layer(f"conv{i}").kernel_size[0] for i in (1, 2, 3)] == [5, 3, 3]
    assert edge.get_layer("conv3").get_config()["activation"] == "relu"
    with pytest.raises(ValueError, match="same length"):
        build_model("espcn_x2", stackwise_num_filters=(8, 4), stackwise_kernel_sizes=(3,))


def test_pixel_shuffle_matches_reference_layout():
    x = np.arange(2 * 3 * 4 * 12, dtype="float32").reshape(2, 3, 4, 12)
    got = np.asarray(PixelShuffle(2)(x))
    # out[b, 2h+i, 2w+j, c] = in[b, h, w, (2i+j)*3 + c]
    ref = x.reshape(2, 3, 4, 2, 2, 3).transpose(0, 1, 3, 2, 4, 5).reshape(2, 6, 8, 3)
    np.testing.assert_array_equal(got, ref)
    with pytest.raises(ValueError, match="divisible"):
        PixelShuffle(2).build((None, 4, 4, 6))


@pytest.mark.parametrize("anchor_skip", [False, True])
def test_espcn_through_harness(anchor_skip):
    x, y = _lr(2, 16, 16), _lr(2, 32, 32)
    report = run_model_test("espcn_x2", dict(anchor_skip=anchor_skip), x, y, PixelLoss("l1"),
                            tflite_input_shape=(1, None, None, 3), parity_atol=0.05,
                            int8=anchor_skip, output_shapes=[(2, 32, 32, 3)])
    assert report["model"].count_params() == (
        (5 * 5 * 3 * 64 + 64) + (9 * 64 * 64 + 64) + (9 * 64 * 32 + 32) + (9 * 32 * 12 + 12))
    if anchor_skip:
        assert "DEPTH_TO_SPACE" in report["int8_ops"]


def test_anchor_skip_starts_near_nearest_upsampling():
    model = build_model("espcn_x2", anchor_skip=True)
    x = _lr(1, 10, 10)
    nearest = np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)
    plain = build_model("espcn_x2", anchor_skip=False)
    err_anchor = np.abs(model.predict(x, verbose=0) - nearest).mean()
    err_plain = np.abs(plain.predict(x, verbose=0) - nearest).mean()
    assert err_anchor < 0.5 * err_plain


def test_any_input_size_float_and_quantized_tflite():
    model = build_model("espcn_x2", anchor_skip=True)
    rows = check_any_size(model, [(16, 16), (9, 11), (24, 17)], scale=2)
    assert max(diff for _, _, diff in rows) < 0.05, rows
    rep = [_lr(1, 20, 20), _lr(1, 13, 17)]
    with shared_saved_models():  # both modes from one SavedModel, as the exporter makes them
        files = {mode: convert_to_tflite(model, mode, representative_data=rep,
                                         input_shape=(1, None, None, 3))
                 for mode in ("float16", "int8")}
    for mode, data in files.items():
        assert "DEPTH_TO_SPACE" in builtin_op_names(data)
        runner = TFLiteRunner(data)
        for h, w in ((9, 11), (24, 16)):
            x = _lr(1, h, w)
            out = runner(x)
            assert out.shape == (1, 2 * h, 2 * w, 3)
            tol = 8.0 if mode == "int8" else 0.5
            assert np.abs(out - model.predict(x, verbose=0)).mean() < tol, mode


def conv(k, m, n):
    """Parameters of a conv with k x k kernels, m input and n output maps: (k*k*m + 1) * n."""
    return (k * k * m + 1) * n


def jfif_ycbcr(rgb):
    """Full-range BT.601 (JPEG File Interchange Format) YCbCr of [0, 255] RGB, typed in from
    the JFIF formulas (not from the package)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return np.stack([0.299 * r + 0.587 * g + 0.114 * b,
                     128 - 0.168736 * r - 0.331264 * g + 0.5 * b,
                     128 + 0.5 * r - 0.418688 * g - 0.081312 * b], axis=-1)


@pytest.mark.parametrize("r", [2, 3, 4])
def test_paper_espcn_super_resolves_luminance_with_the_papers_count(r):
    paper = build_model(f"espcn_paper_x{r}")
    # Shi et al. 2016 on Y: conv5x5 1->64, conv3x3 64->32, conv3x3 32->r^2; the colour layers
    # have no weights
    assert paper.count_params() == conv(5, 1, 64) + conv(3, 64, 32) + conv(3, 32, r * r)
    assert paper.get_layer("conv1").kernel.shape == (5, 5, 1, 64)
    assert paper.get_layer("subpixel_conv").filters == r * r
    assert paper.input.shape[-1] == paper.output.shape[-1] == 3  # RGB in and out
    rgb = build_model(f"espcn_paper_x{r}", color_mode="rgb")  # the RGB variant, kept as option
    assert rgb.count_params() == conv(5, 3, 64) + conv(3, 64, 32) + conv(3, 32, 3 * r * r)
    assert not {"rgb_to_ycbcr", "chroma_bicubic"} & {layer.name for layer in rgb.layers}
    if r == 2:
        assert (paper.count_params(), rgb.count_params()) == (21_284, 26_796)
    with pytest.raises(ValueError, match="color_mode"):
        build_model(f"espcn_paper_x{r}", color_mode="ycbcr")


def test_paper_espcn_output_chroma_is_bicubic_and_luma_ignores_input_chroma():
    keras.utils.set_random_seed(0)
    model = build_model("espcn_paper_x3")
    x = _lr(2, 10, 13)
    ycc = jfif_ycbcr(x.astype("float64"))
    out = jfif_ycbcr(np.asarray(model(x), "float64"))
    chroma = tf.image.resize(ycc[..., 1:].astype("float32"), (30, 39), method="bicubic").numpy()
    np.testing.assert_allclose(out[..., 1:], chroma, atol=2e-2)
    # same luminance, other chroma: the output's Y is unchanged, its chroma follows
    other = ycc.copy()
    other[..., 1:] = RNG.uniform(60, 190, other[..., 1:].shape)
    inverse = np.linalg.inv(np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5],
                                      [0.5, -0.418688, -0.081312]]))
    x2 = ((other - [0, 128, 128]) @ inverse.T).astype("float32")
    out2 = jfif_ycbcr(np.asarray(model(x2), "float64"))
    np.testing.assert_allclose(out2[..., 0], out[..., 0], atol=2e-2)
    assert np.abs(out2[..., 1:] - out[..., 1:]).max() > 10
    # and the network (its only weights) sets the output's Y
    model.get_layer("subpixel_conv").bias.assign(np.full(9, 0.1, "float32"))
    out3 = jfif_ycbcr(np.asarray(model(x), "float64"))
    np.testing.assert_allclose(out3[..., 0] - out[..., 0], 25.5, atol=0.05)
    np.testing.assert_allclose(out3[..., 1:], out[..., 1:], atol=2e-2)


@pytest.mark.parametrize("r", [2, 3, 4])
def test_colour_layers_match_tf_bicubic_and_jfif(r):
    x = RNG.uniform(0, 255, (2, 7, 9, 2)).astype("float32")
    np.testing.assert_allclose(np.asarray(BicubicUpsampling(r)(x)),
                               tf.image.resize(x, (7 * r, 9 * r), method="bicubic").numpy(),
                               atol=1e-3)  # borders included
    rgb = np.array([[[[255, 0, 0], [0, 255, 0], [0, 0, 255], [90, 90, 90]]]], "float32")
    y, cbcr = RGBToYCbCr(255.0)(rgb)
    got = np.concatenate([np.asarray(y), np.asarray(cbcr)], axis=-1)
    np.testing.assert_allclose(got, jfif_ycbcr(rgb.astype("float64")), atol=1e-3)
    np.testing.assert_allclose(got[0, 0, 3], [90, 128, 128], atol=1e-3)  # grey: no chroma
    np.testing.assert_allclose(np.asarray(YCbCrToRGB(255.0)([y, cbcr])), rgb, atol=1e-3)


def test_paper_espcn_through_harness_int8_builtin():
    x, y = _lr(2, 16, 16), _lr(2, 32, 32)
    report = run_model_test("espcn_paper_x2", {}, x, y, PixelLoss("l1"),
                            tflite_input_shape=(1, None, None, 3), parity_atol=0.05,
                            output_shapes=[(2, 32, 32, 3)])
    assert {"DEPTH_TO_SPACE", "CONV_2D"} <= set(report["int8_ops"])


def test_paper_espcn_trains_evaluates_and_exports_through_the_sr_task(tmp_path):
    """The task's whole path on the Y model: train_model (crops, RGB pixel loss, PSNR), test
    evaluation beside bicubic, and the generic export (float32/int8 TFLite scored by the
    task on the test images)."""
    from kerascv_apps.data.sources.base import DatasetSplits
    from kerascv_apps.data.sources.sr_common import from_images
    from kerascv_apps.experiment import train_model
    from kerascv_apps.export.pipeline import export_model

    photos = [np.asarray(keras.ops.image.resize(
        RNG.uniform(0, 255, (1, 10, 12, 3)).astype("float32"), (h, w)))[0]
        for h, w in ((64, 48), (48, 56), (56, 40))]
    part = lambda ims: from_images(ims, 2)[0]  # noqa: E731
    splits = DatasetSplits("tiny", "super_resolution", part(photos), part(photos[:1]),
                           part(photos[1:]), (None, None, 3), info={"scale": 2})
    run = train_model("espcn_paper_x2", run_dir=str(tmp_path / "run"), splits=splits, epochs=1,
                      steps_per_epoch=2, batch_size=2, verbose=0, task_kwargs={"patch_size": 8})
    assert run.model.count_params() == 21_284
    assert np.isfinite(run.result.history["val_psnr"]).all()
    # measured: float32 drop 0.000 dB, int8 -0.02 dB on these images (a 300-step model on the
    # photos: int8 0.21 dB, its RGB twin 0.06 dB; mostly the network's own int8 error)
    report = export_model(run.model, run.task, splits, str(tmp_path / "out"), "espcn_paper_x2",
                          formats=("float32", "int8"), max_quality_drop=0.3,
                          tflite_input_shape=(1, None, None, 3), latency_runs=1)
    assert report["metric"] == "psnr_y" and report["passed"], report
    assert abs(report["formats"]["float32"]["quality_drop"]) < 0.01
    assert report["formats"]["int8"]["quality_drop"] < 0.3


def test_luma_pixel_loss_ignores_chroma_and_equals_the_psnr_y_error():
    """``pixel_loss="mse_y"`` (the paper trains ESPCN with MSE on Y): the loss is the mean
    squared error of the BT.601 luma that PSNR-Y scores, so a change of chroma alone costs
    nothing, while the RGB loss sees it."""
    from kerascv_apps.metrics.super_resolution import rgb_to_y
    from kerascv_apps.tasks import get_task

    hr = _lr(2, 6, 5)
    loss_y = get_task("super_resolution", scale=2, pixel_loss="mse_y").loss()
    assert (loss_y.kind, loss_y.channel) == ("mse", "y")
    sr = np.clip(hr + RNG.normal(0, 20, hr.shape), 0, 255).astype("float32")
    expected = np.mean(((rgb_to_y(sr) - rgb_to_y(hr)) / 255.0) ** 2)
    assert float(loss_y(hr, sr)) == pytest.approx(expected, rel=1e-4)
    # same luma, other chroma: RGB loss > 0, luma loss 0
    ycc = jfif_ycbcr(hr.astype("float64"))
    ycc[..., 1:] += 20.0
    inverse = np.linalg.inv(np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5],
                                      [0.5, -0.418688, -0.081312]]))
    recoloured = ((ycc - [0, 128, 128]) @ inverse.T).astype("float32")
    assert float(PixelLoss("mse")(hr, recoloured)) > 1e-3
    assert float(loss_y(hr, recoloured)) < 1e-9
    l1_y = PixelLoss.from_config(get_task("super_resolution", pixel_loss="l1_y").loss()
                                 .get_config())
    assert (l1_y.kind, l1_y.channel, l1_y.name) == ("l1", "y", "pixel_l1_y")
    with pytest.raises(ValueError, match="pixel_loss"):
        get_task("super_resolution", pixel_loss="mse_y2").loss()
    from kerascv_apps.tasks.options import check_task_kwargs  # what --task-arg accepts

    assert check_task_kwargs("super_resolution", {"pixel_loss": "mse_y"}) == {
        "pixel_loss": "mse_y"}
