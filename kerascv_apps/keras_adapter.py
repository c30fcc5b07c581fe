"""The one module that touches Keras internals (private attributes, ``keras.src``).

Each function says which public API it is waiting for; ``tests/test_keras_adapter.py``
exercises every one of them, so a Keras release that moves one fails there first. Code
elsewhere in the package uses Keras only through its public API.
"""

import contextlib


def producing_layer(tensor):
    """The layer whose call produced the symbolic ``tensor`` of a functional model.

    Waits for: a public accessor of a ``KerasTensor``'s producing operation (Keras 3 keeps it
    in ``tensor._keras_history``)."""
    return tensor._keras_history[0]


def producing_node(tensor):
    """``(layer, node_index, node)`` of the call that produced ``tensor``; the node's
    ``input_tensors``, ``output_tensors`` and ``is_input`` describe that call.

    Waits for: a public graph API for functional models (the public alternative today is the
    serialized form, ``model.get_config()["layers"][i]["inbound_nodes"]``, which names
    layers instead of giving tensors)."""
    layer, node_index, _ = tensor._keras_history
    return layer, node_index, layer._inbound_nodes[node_index]


def run_graph(model, inputs):
    """Runs a functional ``model``'s own layers on new symbolic ``inputs`` and returns its
    outputs there (layers shared, not nested as one layer, not copied).

    Waits for: a public "call inline" of a functional model (``model(inputs)`` nests it as a
    single layer; ``keras.models.clone_model(..., input_tensors=...)`` copies the layers)."""
    return model._run_through_graph(inputs, operation_fn=lambda op: op)


def tf_keras_inbound_layers(layer):
    """The layers feeding a tf_keras (Keras 2, used by tfmot) ``layer``.

    Waits for: nothing better in tf_keras, which is frozen; kept here so every private use
    is in one file."""
    return [inbound for node in layer._inbound_nodes
            for inbound in (node.inbound_layers if isinstance(node.inbound_layers, (list, tuple))
                            else [node.inbound_layers])]


@contextlib.contextmanager
def multiworker_fit_fixes(model, dataset, strategy):
    """Works around two failures of Keras 3.15 (TensorFlow backend) in ``fit`` under
    ``MultiWorkerMirroredStrategy``, for the duration of the block:

    1. its symbolic build reduces a batch of ``PerReplica`` values eagerly ("Attempt to convert
       a value (PerReplica...) to a Tensor"). The build only needs shapes: the model, loss,
       metrics and optimizer are built here from the dataset's element spec instead;
    2. it averages the scalar step results across workers along axis 0 ("Invalid reduction
       dimension 0 for input with 0 dimensions"): scalars are averaged with ``axis=None``.

    Waits for: Keras to build and reduce correctly under this strategy (then this is a no-op
    to delete); there is no public hook for either step.
    """
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer as tf_trainer

    with strategy.scope():
        model._symbolic_build(data_batch=dataset.element_spec)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    original = tf_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if (reduction in ("auto", "mean")
                and tf_trainer._collective_all_reduce_multi_worker(strategy)):
            return tf.nest.map_structure(
                lambda v: strategy.reduce("MEAN", v, axis=None if v.shape.rank == 0 else 0),
                values)
        return original(values, strategy, reduction)

    tf_trainer.reduce_per_replica = reduce_per_replica
    try:
        yield
    finally:
        tf_trainer.reduce_per_replica = original
