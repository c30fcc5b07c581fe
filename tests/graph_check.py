"""The broadcast batch-matmul check of a traced graph (tests/test_portable_graphs.py says why):
TensorFlow's oneDNN batch matmul returns wrong values (or NaN, or kills the process) on AVX-512
CPUs when one operand is broadcast over the batch dimensions."""

import tensorflow as tf

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
