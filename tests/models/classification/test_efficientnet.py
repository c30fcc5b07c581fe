"""EfficientNet-B0..B7: parameter counts, compound scaling, stochastic depth, harness."""

import keras
import numpy as np
import pytest

from kerascv_apps import build_model, list_models
from kerascv_apps.models.classification.efficientnet import (
    IMAGENET_MEAN_RGB, IMAGENET_STDDEV_RGB, VARIANTS, EfficientNet, compound_scaling)
from tests.harness import STEP_OPTIMIZER, image_batch, run_model_test

# A few-layer version (three stages, half width) covering strided/non-strided MBConv blocks,
# residual adds, squeeze-and-excitation and stochastic depth.
SMALL = dict(width_coefficient=0.5, dropout=0.1, top_filters=128,
             stackwise_kernel_sizes=(3, 3, 5), stackwise_num_repeats=(1, 2, 1),
             stackwise_input_filters=(32, 16, 24), stackwise_output_filters=(16, 24, 40),
             stackwise_expansion_ratios=(1, 6, 6), stackwise_strides=(1, 2, 2),
             stackwise_squeeze_and_excite_ratios=(0.25, 0.25, 0.25))


def test_registered_variants():
    assert list_models(family="efficientnet") == [f"efficientnet_b{i}" for i in range(8)]


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


# The published table, typed in from its sources (not from the code): (width coefficient,
# depth coefficient, resolution, dropout) of the authors' release (tensorflow/tpu,
# models/official/efficientnet/efficientnet_builder.py, efficientnet_params), and the parameter
# count of Table 2 of Tan & Le 2019 (millions, as printed) at 1000 classes.
PUBLISHED = {
    "b0": (1.0, 1.0, 224, 0.2, "5.3"), "b1": (1.0, 1.1, 240, 0.2, "7.8"),
    "b2": (1.1, 1.2, 260, 0.3, "9.2"), "b3": (1.2, 1.4, 300, 0.3, "12"),
    "b4": (1.4, 1.8, 380, 0.4, "19"), "b5": (1.6, 2.2, 456, 0.4, "30"),
    "b6": (1.8, 2.6, 528, 0.5, "43"), "b7": (2.0, 3.1, 600, 0.5, "66"),
}


def test_variant_table_is_the_published_one():
    assert sorted(VARIANTS) == sorted(PUBLISHED)
    for key, (width, depth, resolution, dropout, _) in PUBLISHED.items():
        assert VARIANTS[key] == dict(width_coefficient=width, depth_coefficient=depth,
                                     input_shape=(resolution, resolution, 3), dropout=dropout)


def test_published_table_is_not_compound_scaling_rounded():
    """What the comment above VARIANTS says: the released table does not follow eq. 3."""
    import math
    width, depth, resolution = PUBLISHED["b7"][:3]
    phi = math.log(depth) / math.log(1.2)  # 6.2
    d, w, r = compound_scaling(phi)
    assert d == pytest.approx(3.1)
    assert w == pytest.approx(1.81, abs=0.01) and abs(w - width) > 0.15
    assert 224 * r == pytest.approx(533, abs=1) and abs(224 * r - resolution) > 50


@pytest.mark.parametrize("key", sorted(VARIANTS))
def test_every_efficientnet_builds_by_name_at_its_resolution(key):
    width, depth, resolution, dropout, millions = PUBLISHED[key]
    model = build_model(f"efficientnet_{key}")
    assert model.input.shape[1:] == (resolution, resolution, 3)
    assert model.output.shape[1:] == (1000,)
    assert model.get_layer("head_dropout").rate == dropout
    assert model.get_layer("top_activation").output.shape[1] == -(-resolution // 32)
    # Table 2 prints two significant figures (7.8M for B1's 7.86M, 30M for B5's 30.6M): the
    # count must lie within one unit of the last printed figure.
    unit = 0.1 if "." in millions else 1.0
    assert abs(model.count_params() / 1e6 - float(millions)) < unit, model.count_params()



def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="drop_connect_rate"):
        EfficientNet(drop_connect_rate=1.5)


def test_harness():
    x, y = image_batch((32, 32, 3), classes=3)
    report = run_model_test("efficientnet_b0", dict(input_shape=(32, 32, 3), num_classes=3,
                                                    **SMALL), x, y, output_shapes=[(4, 3)],
                            optimizer=STEP_OPTIMIZER)
    assert report["model"].get_layer("block2b_drop").rate > 0
    assert report["mixed"].get_layer("stem_conv").compute_dtype == "float16"
