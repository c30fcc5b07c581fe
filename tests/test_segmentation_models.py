"""Segmentation models through the shared harness (small widths, small inputs), plus the
architecture facts the papers fix: U-Net's size arithmetic and parameter count, SegNet's
VGG-16 encoder, PSPNet at any input size."""

import keras
import numpy as np
import pytest

from kerascv_apps import build_model
from kerascv_apps.losses.segmentation import SegmentationCrossentropy
from kerascv_apps.inference.tiling import predict_tiled
from kerascv_apps.models.segmentation.unet import (UNet, unet_tile_args, unet_input_size,
                                                   unet_margin, unet_output_size, unet_tiling)
from tests.harness import check_mixed_precision, check_model

NUM_CLASSES = 3
TINY_VGG = dict(stackwise_num_filters=(4, 8, 8, 16, 16))
TINY_RESNET = dict(stackwise_num_filters=(4, 4, 8, 8), stackwise_num_blocks=(1, 1, 1, 1),
                   stem_filters=8)


def _batch(size=32, n=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, (n, size, size, 3)).astype(np.float32)
    y = rng.integers(0, NUM_CLASSES, (n, size, size)).astype(np.int32)
    y[:, :2] = 255  # some ignored pixels
    return x, y


def _check(model, size=32, **kwargs):
    x, y = _batch(size)
    report = check_model(model, x, y, SegmentationCrossentropy(), **kwargs)
    assert report["output_shapes"][0][1:] == (size, size, NUM_CLASSES)
    assert abs(report["loss"] - np.log(NUM_CLASSES)) < 1.5  # a sane start for 3 classes
    return report


# --- U-Net -------------------------------------------------------------------------------
def _unet_paper_param_count(in_ch, base, depth, classes):
    """Hand count: (k*k*m + 1)*n per conv; 2x2 up-convs; 1x1 classifier."""
    conv = lambda k, m, n: (k * k * m + 1) * n  # noqa: E731
    total, ch = 0, in_ch
    for level in range(depth + 1):
        f = base * 2 ** level
        total += conv(3, ch, f) + conv(3, f, f)
        ch = f
    for level in reversed(range(depth)):
        f = base * 2 ** level
        total += conv(2, ch, f) + conv(3, 2 * f, f) + conv(3, f, f)
        ch = f
    return total + conv(1, ch, classes)


def test_unet_paper_configuration_sizes_and_parameters():
    assert unet_output_size(572, 4) == 388 and unet_margin(4) == 92
    assert unet_input_size(388, 4) == 572
    assert unet_output_size(570, 4) is None  # 570 - 4 = 566 -> 283 -> 279 is odd before a pool
    model = UNet((572, 572, 1), num_classes=2)  # the paper's configuration (shape-only build)
    assert tuple(model.output.shape) == (None, 388, 388, 2)
    expected = _unet_paper_param_count(1, 64, 4, 2)
    assert expected == 31_030_658
    assert model.count_params() == expected
    with pytest.raises(ValueError, match="not valid for the paper U-Net"):
        UNet((570, 570, 1), num_classes=2)


def test_unet_tiling_plan_and_tiled_prediction_matches_padded_model():
    plan = unet_tiling((50, 37), depth=2, tile_output_size=20)
    assert plan["tile_input"] == (60, 60) and plan["tile_output"] == (20, 20)
    assert plan["tiles"] == (3, 2)
    assert plan["padding"] == ((20, 20 + 60 - 50), (20, 20 + 40 - 37))
    keras.utils.set_random_seed(0)
    padded = UNet((40, 40, 3), NUM_CLASSES, base_filters=4, depth=2, pad_input=True)
    assert tuple(padded.output.shape) == (None, 40, 40, NUM_CLASSES)
    free = UNet((None, None, 3), NUM_CLASSES, base_filters=4, depth=2)
    free.set_weights(padded.get_weights())
    x = np.random.default_rng(1).uniform(0, 255, (40, 40, 3)).astype(np.float32)
    ref = np.asarray(padded(x[None]))[0]
    fn = lambda t: free(t, training=False)
    np.testing.assert_allclose(predict_tiled(fn, x, **unet_tile_args(free, x.shape[:2], depth=2)),
                               ref, atol=1e-5)
    args = unet_tile_args(free, x.shape[:2], depth=2, tile_output_size=12)
    np.testing.assert_allclose(predict_tiled(fn, x, **args), ref, atol=1e-5)


def test_unet_paper_variant_harness():
    model = UNet((32, 32, 3), NUM_CLASSES, base_filters=4, depth=2, pad_input=True,
                 context_dilations=(1, 2))
    _check(model)


def test_unet_valid_output_is_smaller_and_trains_on_cropped_targets():
    model = UNet((44, 44, 3), NUM_CLASSES, base_filters=4, depth=2)
    assert tuple(model.output.shape) == (None, 4, 4, NUM_CLASSES)
    x, y = _batch(44)
    model.compile("adam", SegmentationCrossentropy())
    assert np.isfinite(model.train_on_batch(x, y))


def test_unet_same_harness_and_mixed_precision():
    build = lambda: build_model("unet_same", input_shape=(32, 32, 3), num_classes=NUM_CLASSES,  # noqa
                                base_filters=4, depth=3)
    _check(build())
    check_mixed_precision(build, _batch()[0])


# --- SegNet ------------------------------------------------------------------------------
def test_segnet_encoder_is_vgg16_convs():
    model = build_model("segnet", input_shape=(224, 224, 3), num_classes=12)
    convs = [l for l in model.layers if l.name.startswith("block") and l.name[-6:-1] == "_conv"]
    assert len(convs) == 13
    # VGG-16's 13 conv kernels (biases replaced by BN): 14,714,688 - 4,224 biases
    assert sum(int(np.prod(l.kernel.shape)) for l in convs) == 14_710_464
    assert len([l for l in model.layers if l.name.endswith("_unpool")]) == 5


def test_segnet_harness_with_jit_training_step():
    # three stages keep the XLA compile short; the mechanism is the same at five
    model = build_model("segnet", input_shape=(32, 32, 3), num_classes=NUM_CLASSES,
                        stackwise_num_filters=(4, 8, 8), stackwise_num_blocks=(1, 1, 2))
    report = _check(model, jit_compile=True)
    assert not [op for op in report["int8_ops"] if op.startswith("Flex")]
    check_mixed_precision(lambda: build_model("segnet", input_shape=(32, 32, 3), num_classes=NUM_CLASSES,
                                              stackwise_num_filters=(4, 8), stackwise_num_blocks=(1, 1)),
                          _batch()[0])


# --- FCN -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["fcn32s", "fcn8s"])
def test_fcn_vgg_harness(name):
    model = build_model(name, input_shape=(32, 32, 3), num_classes=NUM_CLASSES,
                        backbone_kwargs=TINY_VGG, fc_filters=16)
    assert model.get_layer("fc6").kernel.shape[:2] == (7, 7)
    if name == "fcn8s":
        assert model.get_layer("score_block3").kernel.shape[-1] == NUM_CLASSES
        assert np.all(model.get_layer("score_block4").get_weights()[0] == 0)
    _check(model)


def test_fcn16s_and_resnet_backbone_build():
    m16 = build_model("fcn16s", input_shape=(None, None, 3), num_classes=NUM_CLASSES,
                      backbone_kwargs=TINY_VGG, fc_filters=8)
    assert [l.name for l in m16.layers if l.name.startswith("fuse_")] == ["fuse_block4"]
    assert np.asarray(m16(_batch(64, 1)[0])).shape == (1, 64, 64, NUM_CLASSES)
    res = build_model("fcn8s_resnet50", input_shape=(32, 32, 3), num_classes=NUM_CLASSES,
                      backbone_kwargs=TINY_RESNET)
    _check(res, tflite=False)
    with pytest.raises(ValueError, match="divisible by 32"):
        build_model("fcn8s", input_shape=(40, 40, 3), num_classes=2, backbone_kwargs=TINY_VGG)


# --- PSPNet ----------------------------------------------------------------------------------
def _tiny_psp(input_shape, include_aux=False):
    return build_model("pspnet", input_shape=input_shape, num_classes=NUM_CLASSES,
                       backbone_kwargs=TINY_RESNET, head_filters=8, aux_filters=8,
                       include_aux=include_aux)


def test_pspnet_any_input_size_including_none():
    model = _tiny_psp((None, None, 3), include_aux=True)
    assert model.aux_loss_weights == {"aux_predictions": 0.4}
    tap = model.get_layer("conv5_block1_out").output
    for h, w in ((64, 64), (48, 80), (96, 40)):
        x = np.random.default_rng(h).uniform(0, 255, (1, h, w, 3)).astype(np.float32)
        outs = [np.asarray(o) for o in model(x, training=False)]
        assert [o.shape for o in outs] == [(1, h, w, NUM_CLASSES)] * 2
        np.testing.assert_allclose(outs[0].sum(-1), 1.0, atol=1e-4)
    features = keras.Model(model.inputs[0], tap)
    assert tuple(features(np.zeros((1, 48, 80, 3), np.float32)).shape[1:3]) == (6, 10)  # stride 8
    with pytest.raises(ValueError, match="divisible by 8"):
        _tiny_psp((60, 60, 3))


def test_pspnet_harness_with_aux_head_then_deployable():
    from kerascv_apps.tasks.segmentation import SegmentationTask

    model = _tiny_psp((32, 32, 3), include_aux=True)
    x, y = _batch(32)
    check_model(model, x, {"predictions": y, "aux_predictions": y},
                {"predictions": SegmentationCrossentropy(), "aux_predictions": SegmentationCrossentropy()},
                loss_weights={"predictions": 1.0, "aux_predictions": 0.4}, tflite=False)
    deploy = SegmentationTask.inference_model(model)
    assert len(deploy.outputs) == 1
    check_model(deploy, x, y, SegmentationCrossentropy(), train_step=False)
    check_mixed_precision(lambda: _tiny_psp((None, None, 3)), x)
