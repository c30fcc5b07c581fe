"""VGG (configurations A-E, batch-normalized variants): counts, keras.applications layout,
fully convolutional backbone, harness."""

import keras
import numpy as np
import pytest

from kerascv_apps import build_model, list_models
from kerascv_apps.layers.lrn import LocalResponseNormalization
from tests.harness import image_batch, run_model_test

# 224x224, 1000 classes: keras.applications' counts of VGG-16/19, and the paper's Table 2
# (millions): A, A-LRN 133; B 133; C 134; D 138; E 144.
EXACT_COUNTS = {"vgg16": 138_357_544, "vgg19": 143_667_240}
PAPER_MILLIONS = {"vgg11": 133, "vgg11_lrn": 133, "vgg13": 133, "vgg16_c": 134}


def test_registered_variants():
    assert set(list_models(family="vgg")) == {
        "vgg11", "vgg11_lrn", "vgg13", "vgg16_c", "vgg16", "vgg19",
        "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"}


@pytest.mark.parametrize("name", sorted(EXACT_COUNTS) + sorted(PAPER_MILLIONS))
def test_full_size_parameter_counts(name):
    model = build_model(name)
    assert model.name == name and tuple(model.output.shape) == (None, 1000)
    count = model.count_params()
    if name in EXACT_COUNTS:
        assert count == EXACT_COUNTS[name]
    else:
        assert round(count / 1e6) == PAPER_MILLIONS[name]
    has_lrn = any(isinstance(layer, LocalResponseNormalization) for layer in model.layers)
    assert has_lrn == (name == "vgg11_lrn")


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="stackwise_num_blocks"):
        build_model("vgg16", stackwise_num_blocks=(2, 2))
    with pytest.raises(ValueError, match="num_classes"):
        build_model("vgg11", input_shape=(32, 32, 3), num_classes=0)


SMALL_VGG = dict(input_shape=(32, 32, 3), num_classes=10,
                 stackwise_num_filters=(8, 16, 16, 24, 24), fc_units=(32, 32))


@pytest.mark.parametrize("name", [n for n in list_models(family="vgg") if n.endswith("_bn")])
def test_bn_variants_build_by_name(name):
    model = build_model(name, input_shape=(32, 32, 3))
    plain = build_model(name[:-3], input_shape=(32, 32, 3))
    assert model.name == name and tuple(model.output.shape) == (None, 1000)
    # no conv bias, 4 BN statistics per channel instead: +3 per conv channel
    conv_channels = sum(layer.filters for layer in plain.layers
                        if isinstance(layer, keras.layers.Conv2D))
    assert model.count_params() - plain.count_params() == 3 * conv_channels


def test_vgg16_matches_keras_applications_layout():
    ours = build_model("vgg16")
    ref = keras.applications.VGG16(weights=None)
    ours_w = {layer.name: [tuple(w.shape) for w in layer.weights] for layer in ours.layers}
    ref_w = {layer.name: [tuple(w.shape) for w in layer.weights] for layer in ref.layers}
    # keras.applications calls the class layer 'predictions' (ours: 'predictions_dense' +
    # a float32 'predictions' activation); every other weighted layer has the same name.
    ref_w["predictions_dense"] = ref_w.pop("predictions")
    ours_w.pop("predictions")
    assert {k: v for k, v in ours_w.items() if v} == {k: v for k, v in ref_w.items() if v}


def test_vgg16_c_uses_1x1_convs_in_stages_3_to_5():
    model = build_model("vgg16_c", input_shape=(32, 32, 3), num_classes=10)
    kernels = {layer.name: layer.kernel_size for layer in model.layers
               if isinstance(layer, keras.layers.Conv2D)}
    assert len(kernels) == 13
    assert [k for k, v in kernels.items() if v == (1, 1)] == [
        "block3_conv3", "block4_conv3", "block5_conv3"]


def test_vgg16_backbone_taps_by_layer_name_at_any_size():
    backbone = build_model("vgg16", include_top=False, input_shape=(None, None, 3))
    taps = keras.Model(backbone.input, [backbone.get_layer(n).output
                                        for n in ("block3_pool", "block4_pool", "block5_pool")])
    for size in ((64, 64), (96, 128)):
        outs = taps(np.zeros((1,) + size + (3,), "float32"))
        assert [tuple(o.shape) for o in outs] == [
            (1, size[0] // s, size[1] // s, c) for s, c in ((8, 256), (16, 512), (32, 512))]
    assert backbone.count_params() == 14_714_688  # the 13 conv layers of VGG-16


@pytest.mark.parametrize("name", ["vgg11_lrn", "vgg16_bn"])
def test_vgg_through_the_harness(name):
    x, y = image_batch((32, 32, 3), seed=2)
    report = run_model_test(name, SMALL_VGG, x, y, output_shapes=[(4, 10)],
                            mixed_precision=name == "vgg16_bn")
    if name == "vgg16_bn":
        assert report["mixed"].get_layer("block1_conv1").compute_dtype == "float16"
