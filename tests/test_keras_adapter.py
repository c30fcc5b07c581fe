"""Every Keras internal the package uses sits in ``kerascv_apps/keras_adapter.py``; each test
here fails when a Keras (or tf_keras) release moves one of them."""

import inspect
import os
import re

import keras
import numpy as np

import kerascv_apps
from kerascv_apps import keras_adapter


def _model():
    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="dense")(x))


def test_producing_layer_and_node():
    model = _model()
    assert keras_adapter.producing_layer(model.outputs[0]).name == "dense"
    layer, index, node = keras_adapter.producing_node(model.outputs[0])
    assert (layer.name, index) == ("dense", 0)
    assert keras_adapter.producing_layer(node.input_tensors[0]).name == "pool"
    assert [t.shape for t in node.output_tensors] == [(None, 2)] and not node.is_input
    first = keras_adapter.producing_node(model.inputs[0])[2]
    assert first.is_input and list(first.input_tensors) == []


def test_run_graph_shares_the_layers():
    model = _model()
    new_input = keras.Input((8, 8, 3))
    out = keras_adapter.run_graph(model, new_input)
    again = keras.Model(new_input, out)
    assert [l.name for l in again.layers[1:]] == ["conv", "pool", "dense"]  # flat, not nested
    assert again.get_layer("conv") is model.get_layer("conv")  # shared, not copied
    x = np.random.default_rng(0).normal(size=(1, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(again(x), model(x), rtol=1e-6)


def test_tf_keras_inbound_layers():
    import tf_keras

    inputs = tf_keras.Input((8, 8, 3))
    x = tf_keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = tf_keras.layers.BatchNormalization(name="bn")(x)
    model = tf_keras.Model(inputs, x)
    assert [l.name for l in keras_adapter.tf_keras_inbound_layers(model.get_layer("bn"))] == ["conv"]


def test_multiworker_fix_targets_exist():
    """What ``multiworker_fit_fixes`` replaces (run end to end by test_distribute)."""
    from keras.src.backend.tensorflow import trainer

    assert callable(trainer.reduce_per_replica)
    assert callable(trainer._collective_all_reduce_multi_worker)
    model = _model()
    assert callable(model._symbolic_build) and callable(model._maybe_symbolic_build)
    assert "data_batch" in inspect.signature(model._symbolic_build).parameters


PRIVATE = re.compile(r"keras\.src|_keras_history|_inbound_nodes|_run_through_graph|"
                     r"_symbolic_build|_collective_all_reduce")


def test_no_keras_internals_outside_the_adapter():
    root = os.path.dirname(kerascv_apps.__file__)
    found = []
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if name.endswith(".py") and path != keras_adapter.__file__:
                with open(path) as f:
                    found += [f"{path}:{i}" for i, line in enumerate(f, 1) if PRIVATE.search(line)]
    assert not found, "use kerascv_apps.keras_adapter:\n" + "\n".join(found)
