"""LeNet-5: the paper's parameter count (derived, with and without the C3 connection table),
the table itself and the independence it promises, padding of 28x28 inputs, the harness.
The fresh-process safe-mode reload of ``lenet5(c3_table=True)`` is in tests/test_reload.py."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_apps import build_model
from kerascv_apps.layers.connection_table import LENET5_C3_TABLE, ConnectionTableConv2D
from tests.harness import image_batch, run_model_test

# LeCun et al. 1998, Table I, typed in as printed: row = S2 map, column = C3 map.
TABLE_I = """
X . . . X X X . . X X X X . X X
X X . . . X X X . . X X X X . X
X X X . . . X X X . . X . X X X
. X X X . . X X X X . . X . X X
. . X X X . . X X X X . X X . X
. . . X X X . . X X X X . X X X
"""


def conv(k, m, n):
    """Parameters of a conv with k x k kernels, m input and n output maps: (k*k*m + 1) * n."""
    return (k * k * m + 1) * n


def test_table_is_table_i_of_the_paper():
    grid = [row.split() for row in TABLE_I.strip().splitlines()]
    assert len(grid) == 6 and all(len(row) == 16 for row in grid)
    columns = tuple(tuple(i for i in range(6) if grid[i][j] == "X") for j in range(16))
    assert LENET5_C3_TABLE == columns
    assert sum(len(c) for c in columns) == 60


def test_lenet5_parameter_count_and_layers():
    c1, c3, c5, f6 = conv(5, 1, 6), conv(5, 6, 16), conv(5, 16, 120), (120 + 1) * 84
    c3_table = 5 * 5 * sum(len(maps) for maps in LENET5_C3_TABLE) + 16
    out = (84 + 1) * 10  # softmax dense (the paper: 10 RBF units, fixed prototypes)
    assert (c1, c3, c3_table, c5, f6) == (156, 2_416, 1_516, 48_120, 10_164)
    # the paper's 60,000 trainable parameters also count S2 (12) and S4 (32), not the RBF layer
    assert c1 + 6 * 2 + c3_table + 16 * 2 + c5 + f6 == 60_000
    model = build_model("lenet5")
    assert model.count_params() == c1 + c3 + c5 + f6 + out == 61_706
    assert [l.name for l in model.layers if l.weights] == ["c1", "c3", "c5", "f6", "predictions_dense"]
    keras.utils.clear_session()
    paper = build_model("lenet5", c3_table=True)
    assert isinstance(paper.get_layer("c3"), ConnectionTableConv2D)
    assert paper.get_layer("c3").count_params() == c3_table
    assert paper.count_params() == c1 + c3_table + c5 + f6 + out == 60_806


def _c3_input_dependence(layer, x):
    """(6, 16) bool: does C3 map j change when S2 map i alone changes, and is its gradient
    with respect to S2 map i nonzero."""
    base = np.asarray(layer(x))
    changes = np.zeros((6, 16), bool)
    for i in range(6):
        y = x.copy()
        y[..., i] += np.random.default_rng(i).normal(0, 1, y.shape[:-1])
        changes[i] = np.abs(np.asarray(layer(y)) - base).max(axis=(0, 1, 2)) > 1e-6
    grads = np.zeros((6, 16), bool)
    xt = tf.constant(x)
    for j in range(16):
        with tf.GradientTape() as tape:
            tape.watch(xt)
            out = tf.reduce_sum(layer(xt)[..., j])
        grads[:, j] = np.abs(tape.gradient(out, xt).numpy()).max(axis=(0, 1, 2)) > 0
    return changes, grads


def test_c3_maps_are_independent_of_unconnected_s2_maps_before_and_after_training():
    keras.utils.set_random_seed(0)
    model = build_model("lenet5", c3_table=True)
    c3 = model.get_layer("c3")
    expected = np.zeros((6, 16), bool)
    for j, maps in enumerate(LENET5_C3_TABLE):
        expected[list(maps), j] = True
    x = np.random.default_rng(0).normal(0, 1, (2, 14, 14, 6)).astype("float32")
    for step in range(2):
        changes, grads = _c3_input_dependence(c3, x)
        np.testing.assert_array_equal(changes, expected)
        np.testing.assert_array_equal(grads, expected)
        full = np.asarray(c3.full_kernel())
        assert np.all(full[:, :, ~expected] == 0) and np.all(full[:, :, expected] != 0)
        if step == 0:  # train, then check again: absent connections stay absent
            model.compile(keras.optimizers.SGD(0.5), "sparse_categorical_crossentropy")
            images, labels = image_batch((32, 32, 1))
            for _ in range(3):
                model.train_on_batch(images, labels)


def test_connection_table_layer_errors_name_the_problem():
    with pytest.raises(ValueError, match="input map 6 but the input has 6 channels"):
        ConnectionTableConv2D([(0, 6)], 3)(np.zeros((1, 8, 8, 6), "float32"))
    with pytest.raises(ValueError, match="at least one input map"):
        ConnectionTableConv2D([(0,), ()], 3)


def test_lenet5_pads_mnist_to_32():
    model = build_model("lenet5", input_shape=(28, 28, 1))
    assert model.get_layer("pad_to_32").output.shape[1:3] == (32, 32)
    assert model.count_params() == 61_706


def test_bad_input_shape_is_named():
    with pytest.raises(ValueError, match="input_shape"):
        build_model("lenet5", input_shape=(32, 32))


@pytest.mark.parametrize("c3_table", [False, True])
def test_lenet5_through_the_harness(c3_table):
    x, y = image_batch((32, 32, 1))
    run_model_test("lenet5", dict(input_shape=(32, 32, 1), c3_table=c3_table), x, y,
                   output_shapes=[(4, 10)])
