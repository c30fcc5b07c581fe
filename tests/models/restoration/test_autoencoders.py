"""conv_autoencoder and dae (models/restoration/): the harness, graph mode and dynamic TFLite
at three input sizes (output size = input size), and the skip connections of the DAE."""

import numpy as np
import pytest

from kerascv_apps import build_model
from kerascv_apps.losses.super_resolution import PixelLoss
from tests.harness import run_model_test
from tests.models.dynamic_size import check_any_size

RNG = np.random.default_rng(0)
SMALL = {"conv_autoencoder": dict(filters=(4, 8), bottleneck=8),
         "dae": dict(filters=4, num_layers=6)}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_small_through_harness(name):
    x = RNG.uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    run_model_test(name, dict(input_shape=(None, None, 3), **SMALL[name]), x, x,
                   PixelLoss("mse"), tflite_input_shape=(1, None, None, 3), parity_atol=0.05,
                   output_shapes=[(2, 16, 16, 3)], mixed_precision=name == "dae")


@pytest.mark.parametrize("name", sorted(SMALL))
def test_any_input_size_graph_mode_and_dynamic_tflite(name):
    model = build_model(name, **SMALL[name])
    rows = check_any_size(model, [(7, 5), (16, 16), (13, 30)])
    assert max(diff for _, _, diff in rows) < 0.05, rows


def test_dae_skips_mirror_the_encoder_and_the_input_reaches_the_output():
    model = build_model("dae", filters=4, num_layers=8, skip_every=2)
    adds = sorted(layer.name for layer in model.layers if layer.name.startswith("skip")
                  and not layer.name.endswith("relu"))
    assert adds == ["skip2"]  # enc2 -> the decoder layer at the same depth (enc4 is the last)
    assert model.get_layer("input_skip") is not None
    for layer in model.layers:  # all-zero weights: the residual path alone
        if layer.get_weights():
            layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
    x = RNG.uniform(0, 255, (1, 9, 11, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(model(x)), x, rtol=1e-5, atol=1e-3)
    plain = build_model("dae", filters=4, num_layers=4, residual=False)
    assert "input_skip" not in [layer.name for layer in plain.layers]


def test_bad_arguments_are_refused_by_name():
    with pytest.raises(ValueError, match="even num_layers"):
        build_model("dae", num_layers=5)
    with pytest.raises(ValueError, match="filters and bottleneck"):
        build_model("conv_autoencoder", filters=())
