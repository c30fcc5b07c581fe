"""ESPCN (models/super_resolution/espcn.py) and its pixel-shuffle layer: parameter counts (the
registered edge upscaler and the paper's network), the harness, the anchor skip, and any input
size (graph-mode predict, dynamic TFLite)."""

import numpy as np
import pytest

from kerascv_apps import build_model, list_models
from kerascv_apps.export.tflite import TFLiteRunner, builtin_op_names, convert_to_tflite
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
    # Shi et al. 2016: conv5x5(64) tanh, conv3x3(32) tanh, conv3x3(3*r^2), no anchor skip
    assert paper.count_params() == 26_796
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
    for mode in ("float16", "int8"):
        data = convert_to_tflite(model, mode, representative_data=rep, input_shape=(1, None, None, 3))
        assert "DEPTH_TO_SPACE" in builtin_op_names(data)
        runner = TFLiteRunner(data)
        for h, w in ((9, 11), (24, 16)):
            x = _lr(1, h, w)
            out = runner(x)
            assert out.shape == (1, 2 * h, 2 * w, 3)
            tol = 8.0 if mode == "int8" else 0.5
            assert np.abs(out - model.predict(x, verbose=0)).mean() < tol, mode
