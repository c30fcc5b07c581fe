import numpy as np
import pytest

from harness import check_mixed_precision, check_model
from kerascv_apps import build_model


def test_lenet5_parameter_count_and_layers():
    model = build_model("lenet5")
    # C1 156 + C3 2,416 + C5 48,120 + F6 10,164 + output 850 (LeCun 1998 layout)
    assert model.count_params() == 61_706
    assert [l.name for l in model.layers if l.weights] == ["c1", "c3", "c5", "f6", "predictions_dense"]


def test_lenet5_pads_mnist_to_32():
    model = build_model("lenet5", input_shape=(28, 28, 1))
    assert model.get_layer("pad_to_32").output.shape[1:3] == (32, 32)
    assert model.count_params() == 61_706


def test_mlp_first_layer_matches_lecture_figure():
    model = build_model("mlp", input_shape=(28, 28, 1), hidden_units=(128,))
    assert model.get_layer("fc1").kernel.shape == (784, 128)
    assert int(np.prod(model.get_layer("fc1").kernel.shape)) == 100_352


@pytest.mark.parametrize("name,shape", [("lenet5", (32, 32, 1)), ("mlp", (16, 16, 3))])
def test_shared_harness(name, shape):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (4,) + shape).astype("float32")
    y = np.array([0, 1, 2, 3])
    report = check_model(build_model(name, input_shape=shape), x, y, "sparse_categorical_crossentropy")
    assert report["output_shapes"][0] == (4, 10)
    check_mixed_precision(lambda: build_model(name, input_shape=shape), x)


def test_bad_input_shape_is_named():
    with pytest.raises(ValueError, match="input_shape"):
        build_model("lenet5", input_shape=(32, 32))
