"""LeNet-5: the paper's parameter count, padding of 28x28 inputs, the shared harness."""

import pytest

from kerascv_apps import build_model
from tests.harness import image_batch, run_model_test


def test_lenet5_parameter_count_and_layers():
    model = build_model("lenet5")
    # C1 156 + C3 2,416 + C5 48,120 + F6 10,164 + output 850 (LeCun 1998 layout)
    assert model.count_params() == 61_706
    assert [l.name for l in model.layers if l.weights] == ["c1", "c3", "c5", "f6", "predictions_dense"]


def test_lenet5_pads_mnist_to_32():
    model = build_model("lenet5", input_shape=(28, 28, 1))
    assert model.get_layer("pad_to_32").output.shape[1:3] == (32, 32)
    assert model.count_params() == 61_706


def test_bad_input_shape_is_named():
    with pytest.raises(ValueError, match="input_shape"):
        build_model("lenet5", input_shape=(32, 32))



def test_lenet5_through_the_harness():
    x, y = image_batch((32, 32, 1))
    run_model_test("lenet5", dict(input_shape=(32, 32, 1)), x, y, output_shapes=[(4, 10)])
