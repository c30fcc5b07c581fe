"""MobileNet v1/v2 and EfficientNet: parameter counts, scaling rules, shared harness."""

import keras
import numpy as np
import pytest

from harness import check_mixed_precision, check_model
from kerascv_apps import build_model, list_models
from kerascv_apps.models.classification.efficientnet import (
    IMAGENET_MEAN_RGB, IMAGENET_STDDEV_RGB, VARIANTS, EfficientNet, compound_scaling)
from kerascv_apps.models.classification.mobilenet import MobileNetV2

# keras.applications' counts at 224x224 and 1000 classes (alpha 1.0).
COUNTS = {"mobilenet_v1": 4_253_864, "mobilenet_v2": 3_538_984, "efficientnet_b0": 5_330_571}


@pytest.mark.parametrize("name", list_models(family="mobilenet") + ["efficientnet_b0"])
def test_parameter_counts_match_keras_applications(name):
    model = build_model(name)
    if name in COUNTS:
        assert model.count_params() == COUNTS[name]
    if name.startswith("mobilenet"):
        alpha = 0.5 if name.endswith("_050") else 1.0
        factory = (keras.applications.MobileNet if "v1" in name
                   else keras.applications.MobileNetV2)
        assert model.count_params() == factory(weights=None, alpha=alpha).count_params()


def test_efficientnet_b0_count_is_network_plus_normalization_state():
    model = build_model("efficientnet_b0")
    norm = model.get_layer("normalization")
    # 5,330,571 = 5,330,564 network weights + the Normalization state (mean 3, variance 3,
    # count 1) that keras.applications also carries; the state holds ImageNet statistics.
    assert norm.count_params() == 7
    assert model.count_params() - norm.count_params() == 5_330_564
    np.testing.assert_allclose(np.asarray(norm.adapt_mean), IMAGENET_MEAN_RGB, rtol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.asarray(norm.adapt_variance)), IMAGENET_STDDEV_RGB,
                               rtol=1e-6)
    pixels = np.full((1, 224, 224, 3), 255.0 * np.asarray(IMAGENET_MEAN_RGB), "float32")
    head = keras.Model(model.input, model.get_layer("normalization").output)
    assert np.abs(np.asarray(head(pixels))).max() < 1e-5  # the mean pixel maps to 0


def test_efficientnet_scaling_and_stochastic_depth():
    b0 = build_model("efficientnet_b0", input_shape=(32, 32, 3))
    blocks = sorted({layer.name.split("_")[0] for layer in b0.layers
                     if layer.name.startswith("block")})
    assert len(blocks) == 16  # 1+2+2+3+3+4+1 MBConv blocks
    # drop rate of block i of 16 is 0.2 * i / 16; only shape-keeping blocks have one
    assert b0.get_layer("block2b_drop").rate == pytest.approx(0.2 * 2 / 16)
    assert b0.get_layer("block7a_project_conv").filters == 320
    b4 = build_model("efficientnet_b4", input_shape=(32, 32, 3))
    assert b4.input.shape[1:] == (32, 32, 3)
    # B4: width 1.4 -> stem 48, top 1792; depth 1.8 -> stage 6 has ceil(4 * 1.8) = 8 blocks
    assert b4.get_layer("stem_conv").filters == 48
    assert b4.get_layer("top_conv").filters == 1792
    assert "block6h_add" in {layer.name for layer in b4.layers}
    assert "block6i_add" not in {layer.name for layer in b4.layers}
    depth, width, resolution = compound_scaling(1)
    assert (depth, width, resolution) == pytest.approx((1.2, 1.1, 1.15))
    assert depth * width ** 2 * resolution ** 2 == pytest.approx(1.92, abs=0.01)


@pytest.mark.parametrize("key", sorted(VARIANTS))
def test_every_efficientnet_builds_by_name_at_its_resolution(key):
    resolution, dropout = VARIANTS[key]["input_shape"][0], VARIANTS[key]["dropout"]
    model = build_model(f"efficientnet_{key}", num_classes=10)
    assert model.input.shape[1:] == (resolution, resolution, 3)
    assert model.output.shape[1:] == (10,)
    assert model.get_layer("head_dropout").rate == dropout
    assert model.get_layer("top_activation").output.shape[1] == -(-resolution // 32)


def test_mobilenet_v2_residual_structure():
    model = build_model("mobilenet_v2", input_shape=(64, 64, 3), include_top=False, pooling=None)
    adds = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Add)]
    assert len(adds) == 10  # stride-1 blocks with equal in/out channels
    assert model.output.shape[1:] == (2, 2, 1280)
    assert build_model("mobilenet_v2", alpha=1.4).get_layer("Conv_1").filters == 1792


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="alpha"):
        build_model("mobilenet_v1", alpha=0)
    with pytest.raises(ValueError, match="stackwise"):
        MobileNetV2(stackwise_num_blocks=(1, 2))
    with pytest.raises(ValueError, match="drop_connect_rate"):
        EfficientNet(drop_connect_rate=1.5)


def _batch(n=4, size=32, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(0, 255, (n, size, size, 3)).astype("float32"),
            rng.integers(0, classes, n).astype("int32"))


# Few-layer versions (short stage tables, small widths) keep the harness cheap while still
# covering every block type: strided/non-strided depthwise blocks, residual adds, SE, drop.
SMALL = {
    "mobilenet_v1": dict(alpha=0.25, stackwise_num_filters=(64, 128, 128, 256),
                         stackwise_strides=(1, 2, 1, 2)),
    "mobilenet_v2": dict(alpha=0.35, stackwise_expansion_ratios=(1, 6, 6),
                         stackwise_num_filters=(16, 24, 32), stackwise_num_blocks=(1, 2, 1),
                         stackwise_strides=(1, 2, 2), last_filters=64),
    "efficientnet_b0": dict(width_coefficient=0.5, dropout=0.1, top_filters=128,
                            stackwise_kernel_sizes=(3, 3, 5),
                            stackwise_num_repeats=(1, 2, 1),
                            stackwise_input_filters=(32, 16, 24),
                            stackwise_output_filters=(16, 24, 40),
                            stackwise_expansion_ratios=(1, 6, 6),
                            stackwise_strides=(1, 2, 2),
                            stackwise_squeeze_and_excite_ratios=(0.25, 0.25, 0.25)),
}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_harness(name):
    x, y = _batch()
    model = build_model(name, input_shape=(32, 32, 3), num_classes=3, **SMALL[name])
    if name == "efficientnet_b0":
        assert model.get_layer("block2b_drop").rate > 0
    report = check_model(model, x, y, "sparse_categorical_crossentropy")
    assert report["output_shapes"] == [(4, 3)]
    assert any(isinstance(layer, keras.layers.DepthwiseConv2D) for layer in model.layers)


def test_mixed_precision_efficientnet_and_mobilenet():
    x, _ = _batch(n=2)
    for name in ("efficientnet_b0", "mobilenet_v2"):
        model = check_mixed_precision(
            lambda: build_model(name, input_shape=(32, 32, 3), num_classes=3, **SMALL[name]), x)
        assert model.get_layer("stem_conv" if "efficient" in name else "Conv1").compute_dtype \
            == "float16"
