"""AlexNet (torchvision and paper layouts): counts, feature map sizes, LRN numerics, harness."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_apps import build_model, list_models
from kerascv_apps.layers.lrn import LocalResponseNormalization
from tests.harness import image_batch, run_model_test

# 224x224, 1000 classes; torchvision's count, and the one-tower paper layout by hand:
# conv (11²·3+1)·96 + (5²·96+1)·256 + (3²·256+1)·384 + (3²·384+1)·384 + (3²·384+1)·256
# + FC (9216+1)·4096 + (4096+1)·4096 + (4096+1)·1000 = 62,378,344.
EXACT_COUNTS = {"alexnet": 61_100_840, "alexnet_paper": 62_378_344}


def test_registered_variants():
    assert set(list_models(family="alexnet")) == {"alexnet", "alexnet_paper"}


@pytest.mark.parametrize("name", sorted(EXACT_COUNTS))
def test_full_size_parameter_counts(name):
    model = build_model(name)
    assert model.name == name and tuple(model.output.shape) == (None, 1000)
    assert model.count_params() == EXACT_COUNTS[name]
    has_lrn = any(isinstance(layer, LocalResponseNormalization) for layer in model.layers)
    assert has_lrn == (name == "alexnet_paper")


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="pooling"):
        build_model("alexnet", pooling="mean")


SMALL_ALEXNET = dict(input_shape=(64, 64, 3), num_classes=10,
                     stackwise_num_filters=(16, 24, 32, 32, 24), fc_units=(32, 32))


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


def test_alexnet_paper_layout_through_the_harness():
    x, y = image_batch((64, 64, 3))
    report = run_model_test("alexnet_paper", SMALL_ALEXNET, x, y, output_shapes=[(4, 10)])
    assert "FlexLRN" not in report["int8_ops"] and "EXP" in report["int8_ops"]


def test_alexnet_torchvision_layout_through_the_harness():
    x, y = image_batch((64, 64, 3), seed=1)
    report = run_model_test("alexnet", SMALL_ALEXNET, x, y, mixed_precision=False)
    # conv5 is 1x1 at 64x64: adaptive pooling repeats it to 6x6 (as torchvision)
    assert report["model"].get_layer("adaptive_pool").output.shape[1:] == (6, 6, 24)
