"""PSPNet (models/segmentation/pspnet.py): the harness on three backbones, the auxiliary head
through AuxiliaryOutput, and any input size in graph mode (predict, SavedModel, dynamic
TFLite)."""

import os
import tempfile

import numpy as np
import pytest

from kerascv_apps import build_model
from kerascv_apps.losses.segmentation import SegmentationCrossentropy
from kerascv_apps.models.outputs import inference_model, output_loss_weights
from tests.harness import STEP_OPTIMIZER, check_mixed_precision, check_model
from tests.models.dynamic_size import check_any_size
from tests.models.segmentation.seg_common import (BACKBONES, NUM_CLASSES, TINY_BACKBONES, batch,
                                                  check_segmentation)

TINY_HEADS = dict(head_filters=8, aux_filters=8)


def _tiny_psp(input_shape=(None, None, 3), include_aux=False, **kwargs):
    return build_model("pspnet", input_shape=input_shape, num_classes=NUM_CLASSES,
                       backbone_kwargs=TINY_BACKBONES["resnet50"], include_aux=include_aux,
                       **TINY_HEADS, **kwargs)


def _conv(k, m, n, bias=True):
    """A k x k convolution from m to n channels: (k*k*m + 1) * n with bias, k*k*m*n without."""
    return k * k * m * n + (n if bias else 0)


def _bn(n):
    return 4 * n  # gamma, beta, moving mean, moving variance


def test_paper_configuration_keeps_its_parameter_count():
    """Counted from the paper's layers, not from the code: ResNet-50 without its classifier
    (keras.applications' layout: convolutions with biases, each followed by BN), the pyramid
    module (four 1x1 conv-BN from 2048 to 2048/4 channels), the 3x3 conv-BN on the 4096
    concatenated channels to 512, and the 1x1 classifier (21 classes, with bias)."""
    resnet50, channels = _conv(7, 3, 64) + _bn(64), 64
    for filters, blocks in zip((64, 128, 256, 512), (3, 4, 6, 3)):
        for i in range(blocks):
            resnet50 += (_conv(1, channels, filters) + _bn(filters)
                         + _conv(3, filters, filters) + _bn(filters)
                         + _conv(1, filters, 4 * filters) + _bn(4 * filters))
            if i == 0:  # projection shortcut
                resnet50 += _conv(1, channels, 4 * filters) + _bn(4 * filters)
            channels = 4 * filters
    assert resnet50 + _conv(1, 2048, 1000) == 25_636_712  # the published ResNet-50
    pyramid = 4 * (_conv(1, 2048, 512, bias=False) + _bn(512))
    head = _conv(3, 2048 + 4 * 512, 512, bias=False) + _bn(512) + _conv(1, 512, 21)
    model = build_model("pspnet", input_shape=(224, 224, 3))
    assert model.count_params() == resnet50 + pyramid + head


@pytest.mark.parametrize("backbone", BACKBONES)
def test_pspnet_harness_on_each_backbone(backbone):
    # backbone= alone: VGG and MobileNet have no dilated variant, the pyramid sits on their
    # stride-32 map (the variant's output_stride=8 is for backbones that dilate)
    check_segmentation("pspnet", backbone=backbone, backbone_kwargs=TINY_BACKBONES[backbone],
                       input_shape=(32, 32, 3), harness=dict(int8=backbone == "vgg16"),
                       **TINY_HEADS)


@pytest.mark.parametrize("backbone, stride", [("resnet50", 8), ("vgg16", 32), ("mobilenet_v2", 32)])
def test_pspnet_takes_the_stride_its_backbone_supports(backbone, stride):
    model = build_model("pspnet", backbone=backbone, backbone_kwargs=TINY_BACKBONES[backbone],
                        input_shape=(64, 64, 3), num_classes=NUM_CLASSES, **TINY_HEADS)
    assert model.get_layer("ppm_concat").output.shape[1] == 64 // stride


def test_aux_head_is_an_auxiliary_output_dropped_for_inference():
    model = _tiny_psp((32, 32, 3), include_aux=True)
    assert output_loss_weights(model) == {"predictions": 1.0, "aux_predictions": 0.4}
    # the auxiliary head reads conv4 (the tap before conv5, both at stride 8 when dilated)
    assert model.get_layer("aux_head_conv").input.shape[-1] == 4 * TINY_BACKBONES["resnet50"][
        "stackwise_num_filters"][2]
    x, y = batch(32)
    check_model(model, x, {"predictions": y, "aux_predictions": y},
                {"predictions": SegmentationCrossentropy(),
                 "aux_predictions": SegmentationCrossentropy()},
                loss_weights=output_loss_weights(model), tflite=False, optimizer=STEP_OPTIMIZER)
    deploy = inference_model(model)
    assert len(deploy.outputs) == 1
    np.testing.assert_allclose(np.asarray(deploy(x, training=False)),
                               np.asarray(model(x, training=False)[0]), atol=1e-6)
    check_mixed_precision(lambda: _tiny_psp(), x)


def test_any_input_size_graph_mode_savedmodel_and_dynamic_tflite():
    import tensorflow as tf

    model = _tiny_psp()
    sizes = [(32, 32), (44, 60), (37, 29)]  # stride 8: the last two are not multiples
    rows = check_any_size(model, sizes)
    assert max(diff for _, _, diff in rows) < 1e-4, rows
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "saved")
        model.export(path, verbose=False)
        loaded = tf.saved_model.load(path)
        for h, w in sizes:
            x = np.random.default_rng(h).uniform(0, 255, (1, h, w, 3)).astype(np.float32)
            out = loaded.serve(tf.constant(x)).numpy()
            assert out.shape == (1, h, w, NUM_CLASSES)
            # graph-mode predict at these sizes is checked above: the eager call is the reference
            np.testing.assert_allclose(out, np.asarray(model(x, training=False)), atol=1e-5)
