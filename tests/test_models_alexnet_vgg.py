"""AlexNet and VGG: parameter counts, keras.applications naming, LRN numerics, shared harness."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from harness import check_mixed_precision, check_model
from kerascv_apps import build_model, list_models
from kerascv_apps.layers.lrn import LocalResponseNormalization

# 224x224, 1000 classes. alexnet/vgg16/vgg19 are the torchvision / keras.applications counts;
# alexnet_paper is the one-tower paper layout, computed by hand:
# conv (11²·3+1)·96 + (5²·96+1)·256 + (3²·256+1)·384 + (3²·384+1)·384 + (3²·384+1)·256
# + FC (9216+1)·4096 + (4096+1)·4096 + (4096+1)·1000 = 62,378,344.
EXACT_COUNTS = {"alexnet": 61_100_840, "alexnet_paper": 62_378_344,
                "vgg16": 138_357_544, "vgg19": 143_667_240}
# The paper's Table 2 (millions): A, A-LRN 133; B 133; C 134; D 138; E 144.
PAPER_MILLIONS = {"vgg11": 133, "vgg11_lrn": 133, "vgg13": 133, "vgg16_c": 134}

SMALL_ALEXNET = dict(input_shape=(64, 64, 3), num_classes=10,
                     stackwise_num_filters=(16, 24, 32, 32, 24), fc_units=(32, 32))
SMALL_VGG = dict(input_shape=(32, 32, 3), num_classes=10,
                 stackwise_num_filters=(8, 16, 16, 24, 24), fc_units=(32, 32))


def _batch(shape, n=4, seed=0, classes=10):
    rng = np.random.default_rng(seed)
    return (rng.uniform(0, 255, (n,) + tuple(shape)).astype("float32"),
            rng.integers(0, classes, n).astype("int32"))


def test_registered_variants():
    assert set(list_models(family="alexnet")) == {"alexnet", "alexnet_paper"}
    assert set(list_models(family="vgg")) == {
        "vgg11", "vgg11_lrn", "vgg13", "vgg16_c", "vgg16", "vgg19",
        "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"}


@pytest.mark.parametrize("name", sorted(EXACT_COUNTS) + sorted(PAPER_MILLIONS))
def test_full_size_parameter_counts(name):
    model = build_model(name)
    assert model.name == name
    assert tuple(model.output.shape) == (None, 1000)
    count = model.count_params()
    if name in EXACT_COUNTS:
        assert count == EXACT_COUNTS[name]
    if name in PAPER_MILLIONS:
        assert round(count / 1e6) == PAPER_MILLIONS[name]
    if name in ("alexnet_paper", "vgg11_lrn"):
        assert any(isinstance(layer, LocalResponseNormalization) for layer in model.layers)


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


def test_alexnet_feature_map_sizes_follow_the_torchvision_layout():
    model = build_model("alexnet", include_top=False, pooling=None)
    # floor((224 + 2·2 - 11) / 4) + 1 = 55 -> pool 27 -> pool 13 -> pool 6
    assert model.get_layer("conv1").output.shape[1:] == (55, 55, 64)
    assert model.get_layer("pool2").output.shape[1:] == (13, 13, 192)
    assert model.output.shape[1:] == (6, 6, 256)


def test_resize_to_feeds_small_images_to_a_larger_net():
    model = build_model("alexnet", input_shape=(32, 32, 1), num_classes=10, resize_to=(64, 64),
                        stackwise_num_filters=(8, 8, 8, 8, 8), fc_units=(16, 16))
    assert model.get_layer("resize").output.shape[1:] == (64, 64, 1)
    assert model.get_layer("conv1").output.shape[1:3] == (15, 15)  # floor((64+4-11)/4)+1
    image = np.full((1, 32, 32, 1), 255.0, "float32")
    probe = keras.Model(model.input, model.get_layer("resize").output)
    np.testing.assert_allclose(np.asarray(probe(image)), 1.0, rtol=1e-6)  # rescaled, then resized
    with pytest.raises(ValueError, match="resize_to"):
        build_model("vgg11", input_shape=(32, 32, 1), resize_to=(64,))


def test_lrn_matches_tensorflow_and_the_formula():
    x = np.random.default_rng(1).normal(0, 20, (2, 3, 3, 11)).astype("float32")
    layer = LocalResponseNormalization(size=5, bias=2.0, alpha=1e-4, beta=0.75)
    ours = np.asarray(layer(x))
    ref = tf.nn.local_response_normalization(x, depth_radius=2, bias=2.0, alpha=1e-4 / 5, beta=0.75)
    np.testing.assert_allclose(ours, ref.numpy(), rtol=1e-5, atol=1e-6)
    # channel 0 sums channels 0..2 only (window clipped at the border)
    expected = x[..., 0] / (2.0 + 1e-4 / 5 * (x[..., :3] ** 2).sum(-1)) ** 0.75
    np.testing.assert_allclose(ours[..., 0], expected, rtol=1e-5)
    assert abs(ours[..., 5] - x[..., 5]).max() > 1e-3  # the normalization does something
    with pytest.raises(ValueError, match="size"):
        LocalResponseNormalization(size=4)


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="pooling"):
        build_model("alexnet", pooling="mean")
    with pytest.raises(ValueError, match="stackwise_num_blocks"):
        build_model("vgg16", stackwise_num_blocks=(2, 2))
    with pytest.raises(ValueError, match="num_classes"):
        build_model("vgg11", input_shape=(32, 32, 3), num_classes=0)



def test_alexnet_paper_layout_through_the_harness():
    x, y = _batch((64, 64, 3))
    model = build_model("alexnet_paper", **SMALL_ALEXNET)
    report = check_model(model, x, y, "sparse_categorical_crossentropy")
    assert report["output_shapes"] == [(4, 10)]
    assert "FlexLRN" not in report["int8_ops"] and "EXP" in report["int8_ops"]
    check_mixed_precision(lambda: build_model("alexnet_paper", **SMALL_ALEXNET), x)


def test_alexnet_torchvision_layout_through_the_harness():
    x, y = _batch((64, 64, 3), seed=1)
    model = build_model("alexnet", **SMALL_ALEXNET)
    # conv5 is 1x1 at 64x64: adaptive pooling repeats it to 6x6 (as torchvision)
    assert model.get_layer("adaptive_pool").output.shape[1:] == (6, 6, 24)
    check_model(model, x, y, "sparse_categorical_crossentropy")


@pytest.mark.parametrize("name", ["vgg11_lrn", "vgg16_bn"])
def test_vgg_through_the_harness(name):
    x, y = _batch((32, 32, 3), seed=2)
    model = build_model(name, **SMALL_VGG)
    report = check_model(model, x, y, "sparse_categorical_crossentropy")
    assert report["output_shapes"] == [(4, 10)]
    if name == "vgg16_bn":
        mixed = check_mixed_precision(lambda: build_model(name, **SMALL_VGG), x)
        assert mixed.get_layer("block1_conv1").compute_dtype == "float16"
