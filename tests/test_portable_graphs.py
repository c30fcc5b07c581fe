"""No model or layer of the package runs a batch matmul with an operand broadcast over the batch
dimensions: TensorFlow's oneDNN kernel for it returns wrong values (or NaN, or kills the
process) on AVX-512 CPUs, and which CPU a user has must not change what a model computes.

Every registered name is traced small with a static batch of 2 where the reload shards build it
(tests/reload_support.py; test_reload*.py assert it), and every BatchMatMul / Einsum in the
graph is checked: same batch dimensions on both operands (tests/graph_check.py). Here: the
check itself, and the shapes that broke."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_apps.layers.alignment import AlignedResize, interpolation_matrix, resample
from tests.graph_check import broadcast_matmuls


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
