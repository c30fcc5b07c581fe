"""SRResNet (models/super_resolution/srresnet.py): the paper's parameter count, the harness,
and any input size (graph-mode predict, dynamic TFLite)."""

import numpy as np

from kerascv_apps import build_model
from kerascv_apps.losses.super_resolution import PixelLoss
from tests.harness import run_model_test
from tests.models.dynamic_size import check_any_size

RNG = np.random.default_rng(0)


def _lr(n, h, w):
    return RNG.uniform(0, 255, (n, h, w, 3)).astype("float32")


def test_srresnet_x4_full_size_parameters_match_the_paper_layout():
    model = build_model("srresnet_x4")
    assert model.name == "srresnet_x4"
    conv = lambda k, cin, cout: k * k * cin * cout + cout  # noqa: E731
    block = 2 * conv(3, 64, 64) + 2 * 4 * 64 + 64  # two convs, two BN (4 vectors), PReLU
    expected = (conv(9, 3, 64) + 64 + 16 * block + conv(3, 64, 64) + 4 * 64
                + 2 * (conv(3, 64, 256) + 64) + conv(9, 64, 3))
    assert model.count_params() == expected == 1_554_883
    assert sum(layer.name.endswith("_shuffle") for layer in model.layers) == 2


def test_srresnet_small_through_harness():
    x, y = _lr(2, 12, 12), _lr(2, 24, 24)
    report = run_model_test("srresnet_x2", dict(filters=8, num_blocks=2), x, y, PixelLoss("mse"),
                            tflite_input_shape=(1, None, None, 3), parity_atol=0.05,
                            output_shapes=[(2, 24, 24, 3)])
    assert "DEPTH_TO_SPACE" in report["int8_ops"] and "PRELU" in report["int8_ops"]


def test_any_input_size_graph_mode_and_dynamic_tflite():
    model = build_model("srresnet_x4", filters=8, num_blocks=2)
    rows = check_any_size(model, [(7, 5), (12, 12), (9, 16)], scale=4)
    assert max(diff for _, _, diff in rows) < 0.05, rows
