"""SR generators, the SRGAN discriminator and the pixel-shuffle layer through the shared harness."""

import keras
import numpy as np
import pytest

from kerascv_apps import build_model, list_models
from kerascv_apps.export.tflite import TFLiteRunner, builtin_op_names, convert_to_tflite
from kerascv_apps.layers.pixel_shuffle import PixelShuffle
from kerascv_apps.losses.super_resolution import PixelLoss
from kerascv_apps.models.super_resolution.espcn import ESPCN
from kerascv_apps.models.super_resolution.srresnet import SRResNet
from tests.harness import check_mixed_precision, check_model

RNG = np.random.default_rng(0)


def _lr(n, h, w):
    return RNG.uniform(0, 255, (n, h, w, 3)).astype("float32")


def test_registered_variants():
    names = set(list_models(task="super_resolution"))
    assert {"srresnet_x2", "srresnet_x4", "espcn_x2", "espcn_x4", "srgan_discriminator"} <= names


def test_pixel_shuffle_matches_reference_layout():
    x = np.arange(2 * 3 * 4 * 12, dtype="float32").reshape(2, 3, 4, 12)
    got = np.asarray(PixelShuffle(2)(x))
    # out[b, 2h+i, 2w+j, c] = in[b, h, w, (2i+j)*3 + c]
    ref = x.reshape(2, 3, 4, 2, 2, 3).transpose(0, 1, 3, 2, 4, 5).reshape(2, 6, 8, 3)
    np.testing.assert_array_equal(got, ref)
    with pytest.raises(ValueError, match="divisible"):
        PixelShuffle(2).build((None, 4, 4, 6))


def test_srresnet_x4_full_size_parameters_match_the_paper_layout():
    model = build_model("srresnet_x4")
    conv = lambda k, cin, cout: k * k * cin * cout + cout
    block = 2 * conv(3, 64, 64) + 2 * 4 * 64 + 64  # two convs, two BN (4 vectors), PReLU
    expected = (conv(9, 3, 64) + 64 + 16 * block + conv(3, 64, 64) + 4 * 64
                + 2 * (conv(3, 64, 256) + 64) + conv(9, 64, 3))
    assert model.count_params() == expected == 1_554_883
    assert sum(layer.name.endswith("_shuffle") for layer in model.layers) == 2
    out = model.predict(_lr(1, 7, 5), verbose=0)
    assert out.shape == (1, 28, 20, 3)  # any input size, ×4


def test_srresnet_small_through_harness():
    model = SRResNet(scale=2, filters=8, num_blocks=2)
    x, y = _lr(2, 12, 12), _lr(2, 24, 24)
    report = check_model(model, x, y, PixelLoss("mse"), tflite_input_shape=(1, None, None, 3),
                         parity_atol=0.05)
    assert report["output_shapes"][0] == (2, 24, 24, 3)
    assert "DEPTH_TO_SPACE" in report["int8_ops"] and "PRELU" in report["int8_ops"]
    check_mixed_precision(lambda: SRResNet(scale=2, filters=8, num_blocks=1), x)


@pytest.mark.parametrize("anchor_skip", [False, True])
def test_espcn_through_harness(anchor_skip):
    model = ESPCN(scale=2, anchor_skip=anchor_skip)
    assert model.count_params() == (5 * 5 * 3 * 64 + 64) + (9 * 64 * 32 + 32) + (9 * 32 * 12 + 12)
    x, y = _lr(2, 16, 16), _lr(2, 32, 32)
    report = check_model(model, x, y, PixelLoss("l1"), tflite_input_shape=(1, None, None, 3),
                         parity_atol=0.05)
    assert "DEPTH_TO_SPACE" in report["int8_ops"]
    check_mixed_precision(lambda: ESPCN(scale=2, anchor_skip=anchor_skip), x)


def test_espcn_anchor_skip_starts_near_nearest_upsampling():
    model = ESPCN(scale=2, anchor_skip=True)
    x = _lr(1, 10, 10)
    nearest = np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)
    plain = ESPCN(scale=2, anchor_skip=False, name="plain")
    err_anchor = np.abs(model.predict(x, verbose=0) - nearest).mean()
    err_plain = np.abs(plain.predict(x, verbose=0) - nearest).mean()
    assert err_anchor < 0.5 * err_plain


def test_tflite_sr_runs_at_two_input_sizes():
    model = ESPCN(scale=2, anchor_skip=True)
    rep = [_lr(1, 20, 20), _lr(1, 13, 17)]
    for mode in ("float32", "float16", "int8"):
        data = convert_to_tflite(model, mode, representative_data=rep, input_shape=(1, None, None, 3))
        assert "DEPTH_TO_SPACE" in builtin_op_names(data)
        runner = TFLiteRunner(data)
        for h, w in ((9, 11), (24, 16)):
            x = _lr(1, h, w)
            out = runner(x)
            assert out.shape == (1, 2 * h, 2 * w, 3)
            tol = 8.0 if mode == "int8" else 0.5
            assert np.abs(out - model.predict(x, verbose=0)).mean() < tol, mode


def test_discriminator_small_through_harness():
    model = build_model("srgan_discriminator", input_shape=(32, 32, 3),
                        stackwise_num_filters=(8, 16), dense_units=16)
    names = [layer.name for layer in model.layers]
    assert "stage1_a_bn" not in names and "stage1_b_bn" in names  # no BN on the first conv
    assert sum(n.endswith("_conv") for n in names) == 4
    x = _lr(2, 32, 32)
    y = np.array([[1.0], [0.0]], "float32")
    bce = keras.losses.BinaryCrossentropy(from_logits=True)  # the model returns logits
    report = check_model(model, x, y, bce, parity_atol=1e-3)
    assert report["output_shapes"][0] == (2, 1)
    full = build_model("srgan_discriminator")
    assert sum(layer.name.endswith("_conv") for layer in full.layers) == 8
    assert full.get_layer("stage4_b_conv").filters == 512 and full.get_layer("dense").units == 1024
    with pytest.raises(ValueError, match="fixed input size"):
        build_model("srgan_discriminator", input_shape=(None, None, 3))
