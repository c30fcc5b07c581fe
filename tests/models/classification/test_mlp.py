"""MLP baseline: the lectures' first-layer figure, the shared harness."""

import numpy as np

from kerascv_apps import build_model
from tests.harness import image_batch, run_model_test


def test_mlp_first_layer_matches_lecture_figure():
    model = build_model("mlp", input_shape=(28, 28, 1), hidden_units=(128,))
    assert model.get_layer("fc1").kernel.shape == (784, 128)
    assert int(np.prod(model.get_layer("fc1").kernel.shape)) == 100_352



def test_mlp_through_the_harness():
    x, y = image_batch((16, 16, 3))
    run_model_test("mlp", dict(input_shape=(16, 16, 3)), x, y, output_shapes=[(4, 10)])
