"""LLNet (models/restoration/llnet.py): the paper's layer sizes, the harness (train step,
.keras round trip, TFLite float parity, int8 builtins), graph mode and dynamic TFLite at three
input sizes, and the patch averaging: a network that reproduces its patches returns the image."""

import numpy as np

from kerascv_apps import build_model
from kerascv_apps.losses.super_resolution import PixelLoss
from tests.harness import run_model_test
from tests.models.dynamic_size import check_any_size

RNG = np.random.default_rng(0)
SMALL = dict(patch_size=5, hidden_units=(12, 8, 6), stride=2)


def test_paper_layer_sizes_and_parameter_count():
    model = build_model("llnet")
    units = [model.get_layer(f"llnet_enc{i}").filters for i in (1, 2, 3)]
    units += [model.get_layer(f"llnet_dec{i}").filters for i in (1, 2, 3)]
    assert units == [867, 578, 289, 578, 867, 289]
    assert model.get_layer("llnet_enc1").kernel_size == (17, 17)
    dense = lambda a, b: a * b + b  # noqa: E731
    sizes = [289, 867, 578, 289, 578, 867, 289]
    assert model.count_params() == sum(dense(a, b) for a, b in zip(sizes, sizes[1:])) == 1_840_930


def test_llnet_small_through_harness():
    x = RNG.uniform(0, 255, (2, 12, 12, 3)).astype("float32")
    report = run_model_test("llnet", dict(input_shape=(None, None, 3), **SMALL), x, x,
                            PixelLoss("mse"), tflite_input_shape=(1, None, None, 3),
                            parity_atol=0.05, output_shapes=[(2, 12, 12, 3)])
    assert "TRANSPOSE_CONV" in report["int8_ops"]


def test_any_input_size_graph_mode_and_dynamic_tflite():
    model = build_model("llnet", **SMALL)
    rows = check_any_size(model, [(9, 7), (16, 16), (21, 30)])
    assert max(diff for _, _, diff in rows) < 0.05, rows


def test_identity_patches_give_back_the_image():
    """With the first layer copying each patch out and a linear path back, the averaged fold
    of overlapping patches returns the input (up to the sigmoid's range)."""
    model = build_model("llnet", patch_size=3, hidden_units=(9,), stride=1)
    enc, dec = model.get_layer("llnet_enc1"), model.get_layer("llnet_dec1")
    # sigmoid(4 * v - 2) ~ v on [0, 1] is not exact; use tiny slopes around 0.5 instead:
    # enc: h = sigmoid(a (x - 0.5)), dec: out = sigmoid(b (h - 0.5)) with a·b/16 = 1 -> ~x
    a = 0.2
    b = 16.0 / a
    enc.set_weights([a * np.eye(9, dtype="float32").reshape(3, 3, 1, 9),
                     np.full(9, -0.5 * a, "float32")])
    dec.set_weights([b * np.eye(9, dtype="float32").reshape(1, 1, 9, 9),
                     np.full(9, -0.5 * b, "float32")])
    x = RNG.uniform(100, 155, (1, 10, 8, 3)).astype("float32")
    y = np.asarray(model(x))
    assert np.max(np.abs(y - x)) < 1.0
