"""Auxiliary outputs: one way to drop them and one way to weight them, by output name."""

import keras
import numpy as np
import pytest

from kerascv_apps.io import load_model
from kerascv_apps.layers.outputs import AuxiliaryOutput
from kerascv_apps.models.outputs import inference_model, output_loss_weights


def _two_headed():
    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(3, name="hidden")(inputs)
    aux = AuxiliaryOutput(0.25, name="aux")(keras.layers.Dense(2, name="aux_dense")(hidden))
    main = keras.layers.Dense(2, name="predictions")(hidden)
    return keras.Model(inputs, [aux, main], name="two_headed")  # main output deliberately second


def test_weights_by_output_name_and_inference_model_keeps_the_main_output(tmp_path):
    model = _two_headed()
    assert output_loss_weights(model) == {"aux": 0.25, "predictions": 1.0}
    infer = inference_model(model)
    assert infer.output_names == ["predictions"] and infer.name == "two_headed"
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    np.testing.assert_array_equal(np.asarray(infer(x)), np.asarray(model(x)[1]))
    assert inference_model(infer) is infer
    path = str(tmp_path / "m.keras")
    model.save(path)
    reloaded = load_model(path, compile=False)  # safe_mode=True
    assert output_loss_weights(reloaded) == {"aux": 0.25, "predictions": 1.0}
    assert inference_model(reloaded).output_names == ["predictions"]


def test_bad_weight_and_two_main_outputs_are_refused():
    with pytest.raises(ValueError, match="loss_weight"):
        AuxiliaryOutput(-1.0)
    inputs = keras.Input((4,))
    a = keras.layers.Dense(2, name="a")(inputs)
    b = keras.layers.Dense(2, name="b")(inputs)
    c = AuxiliaryOutput(0.3, name="c")(a)
    with pytest.raises(ValueError, match="exactly one main output"):
        inference_model(keras.Model(inputs, [a, b, c]))


def test_weights_by_name_need_targets_and_losses_by_name():
    """Keras 3.15 applies a ``loss_weights`` dict by output name only when the losses and
    targets are dicts too (with lists it pairs them by sorted key): compile that way."""
    two = _two_headed()
    model = keras.Model(two.inputs, two.outputs[::-1])  # main first: not sorted by name
    x = np.random.default_rng(1).normal(size=(8, 4)).astype("float32")
    y = np.zeros((8, 2), "float32")
    main, aux = (float(keras.losses.MeanSquaredError()(y, o)) for o in model.predict(x, verbose=0))
    assert abs(main - aux) > 1e-3  # so a swapped weighting would show
    weights = output_loss_weights(model)
    assert list(weights) == ["predictions", "aux"]
    model.compile(loss={n: "mse" for n in model.output_names}, loss_weights=weights)
    total = model.evaluate(x, {n: y for n in model.output_names}, verbose=0, return_dict=True)
    assert total["loss"] == pytest.approx(main + 0.25 * aux, rel=1e-5)
