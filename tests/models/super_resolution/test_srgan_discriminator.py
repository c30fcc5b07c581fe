"""The SRGAN discriminator (models/super_resolution/srgan_discriminator.py)."""

import keras
import numpy as np
import pytest

from kerascv_apps import build_model
from tests.harness import run_model_test


def test_discriminator_layout_and_small_harness():
    full = build_model("srgan_discriminator")
    assert sum(layer.name.endswith("_conv") for layer in full.layers) == 8
    assert full.get_layer("stage4_b_conv").filters == 512 and full.get_layer("dense").units == 1024
    assert tuple(full.input.shape) == (None, 96, 96, 3)
    keras.utils.clear_session()
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    y = np.array([[1.0], [0.0]], "float32")
    bce = keras.losses.BinaryCrossentropy(from_logits=True)  # the model returns logits
    report = run_model_test("srgan_discriminator", dict(input_shape=(32, 32, 3),
                            stackwise_num_filters=(8, 16), dense_units=16), x, y, bce,
                            parity_atol=1e-3, int8=False, mixed_precision=False,
                            output_shapes=[(2, 1)])
    names = [layer.name for layer in report["model"].layers]
    assert "stage1_a_bn" not in names and "stage1_b_bn" in names  # no BN on the first conv
    assert sum(n.endswith("_conv") for n in names) == 4
    with pytest.raises(ValueError, match="fixed input size"):
        build_model("srgan_discriminator", input_shape=(None, None, 3))
