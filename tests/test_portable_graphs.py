"""No model or layer of the package runs a batch matmul with an operand broadcast over the batch
dimensions: TensorFlow's oneDNN kernel for it returns wrong values (or NaN, or kills the
process) on AVX-512 CPUs, and which CPU a user has must not change what a model computes.

Every registered name is traced small (the reload suite's arguments) with a static batch of 2,
and every BatchMatMul / Einsum in the graph is checked: same batch dimensions on both operands."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_apps import build_model, list_models
from kerascv_apps.layers.alignment import AlignedResize, interpolation_matrix, resample
from tests.reload_support import model_kwargs

BATCH_MATMULS = {"BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"}


def _dims(tensor):
    return tensor.shape.as_list() if tensor.shape.rank is not None else None


def _einsum_broadcasts(op):
    """True when some label shared by both operands has different sizes (a broadcast) or an
    ellipsis covers different shapes."""
    equation = op.get_attr("equation").decode()
    inputs = equation.split("->")[0].split(",")
    if len(inputs) != 2:
        return False
    a, b = (_dims(t) for t in op.inputs)
    if a is None or b is None:
        return True
    if "..." in inputs[0] or "..." in inputs[1]:
        ea = a[:len(a) - len(inputs[0].replace("...", ""))]
        eb = b[:len(b) - len(inputs[1].replace("...", ""))]
        return ea != eb
    sizes_a = dict(zip(inputs[0], a))
    sizes_b = dict(zip(inputs[1], b))
    return any(sizes_a[k] != sizes_b[k] for k in sizes_a.keys() & sizes_b.keys())


def broadcast_matmuls(graph):
    """(op name, operand shapes) of every broadcast batch matmul in ``graph`` and the function
    graphs it calls."""
    found = []
    for op in graph.get_operations():
        if op.type in BATCH_MATMULS:
            a, b = (_dims(t) for t in op.inputs[:2])
            if a is None or b is None or a[:-2] != b[:-2]:
                found.append((op.name, a, b))
        elif op.type == "Einsum" and _einsum_broadcasts(op):
            found.append((op.name, *(_dims(t) for t in op.inputs)))
    for function in getattr(graph, "_functions", {}).values():
        inner = getattr(function, "graph", None)
        if inner is not None:
            found.extend(broadcast_matmuls(inner))
    return found


def traced(model, batch=2):
    specs = [tf.TensorSpec((batch, *t.shape[1:]), t.dtype) for t in model.inputs]
    fn = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False))
    return fn.get_concrete_function(*specs).graph


def test_the_check_finds_a_broadcast_batch_matmul():
    def broadcast(x):
        return keras.ops.matmul(keras.ops.ones((1, 1, 3, 4)), x)

    graph = tf.function(broadcast).get_concrete_function(
        tf.TensorSpec((2, 5, 4, 6), tf.float32)).graph
    assert len(broadcast_matmuls(graph)) == 1

    def einsum(x):
        return tf.einsum("...ij,...jk->...ik", tf.ones((1, 1, 3, 4)), x)

    graph = tf.function(einsum).get_concrete_function(tf.TensorSpec((2, 5, 4, 6))).graph
    assert len(broadcast_matmuls(graph)) == 1


@pytest.mark.parametrize("name", sorted(list_models()))
def test_no_registered_model_broadcasts_a_batch_matmul(name):
    keras.utils.set_random_seed(0)
    model = build_model(name, **model_kwargs(name))
    if any(d is None for t in model.inputs for d in t.shape[1:]):
        pytest.fail(f"{name}: the small arguments should give a static input size")
    assert broadcast_matmuls(traced(model)) == []


@pytest.mark.parametrize("shape", [(6, 1, 48, 6), (2, 1, 48, 6), (6, 3, 48, 6), (1, 1, 48, 6)])
def test_resample_equals_numpy_on_the_shapes_that_broke(shape):
    """The shapes of the oneDNN report: (B, C, h, w) tensors resized to 48 x 48 rows/cols;
    here as NHWC (B, h, w, C) through ``resample`` against NumPy's products."""
    b, c, h, w = shape
    rng = np.random.default_rng(0)
    x = rng.normal(size=(b, h, w, c)).astype("float32")
    rows = np.asarray(interpolation_matrix(48, h, h / 48, 0.3))
    cols = np.asarray(interpolation_matrix(48, w, w / 48, -0.2))
    expected = np.einsum("Hh,bhwc,Ww->bHWc", rows, x, cols)
    got = np.asarray(resample(x, rows, cols))
    assert got.shape == (b, 48, 48, c)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    graph = tf.function(resample).get_concrete_function(
        tf.TensorSpec(x.shape), tf.TensorSpec(rows.shape), tf.TensorSpec(cols.shape)).graph
    assert broadcast_matmuls(graph) == []


def test_aligned_resize_with_unknown_sizes_has_no_broadcast():
    layer = AlignedResize(8, 3.5)
    fn = tf.function(lambda x, ref: layer([x, ref]))
    graph = fn.get_concrete_function(tf.TensorSpec((None, None, None, 5)),
                                     tf.TensorSpec((None, None, None, 3))).graph
    assert broadcast_matmuls(graph) == []
