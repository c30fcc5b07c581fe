"""One way to drop auxiliary heads and one way to weight their losses (by output name)."""

import keras

from kerascv_apps.keras_adapter import producing_layer as _producer
from kerascv_apps.layers.outputs import AuxiliaryOutput


def _split_outputs(model):
    """(main outputs, auxiliary outputs) as lists of (name, tensor, layer)."""
    main, aux = [], []
    for name, tensor in zip(model.output_names, model.outputs):
        layer = _producer(tensor)
        (aux if isinstance(layer, AuxiliaryOutput) else main).append((name, tensor, layer))
    return main, aux


def inference_model(model, name=None):
    """The single-output model: the main output of a training model whose other outputs are
    :class:`AuxiliaryOutput` heads (layers, and so weights, shared). A model without
    auxiliary outputs is returned as is."""
    main, aux = _split_outputs(model)
    if not aux:
        return model
    if len(main) != 1:
        raise ValueError(f"inference_model: model {model.name!r} needs exactly one main output "
                         f"besides its auxiliary outputs, has {[n for n, _, _ in main]}")
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, main[0][1], name=name or model.name)


def output_loss_weights(model):
    """{output name: loss weight} in output order: 1.0 for the main output, the
    ``loss_weight`` of each :class:`AuxiliaryOutput`."""
    weights = {}
    for output_name, tensor in zip(model.output_names, model.outputs):
        layer = _producer(tensor)
        weights[output_name] = layer.loss_weight if isinstance(layer, AuxiliaryOutput) else 1.0
    return weights


def _float32_config(value):
    """A model config with every mixed-precision dtype policy replaced by float32."""
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy" and \
                str(value.get("config", {}).get("name", "")).startswith("mixed_"):
            return {**value, "config": {**value["config"], "name": "float32"}}
        return {k: _float32_config(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_float32_config(v) for v in value]
    return value


def float32_model(model):
    """``model`` itself, or for a model trained in mixed precision (``--precision auto`` picks
    mixed_bfloat16 where it trains faster) the same network in float32 with its weights (mixed
    precision keeps float32 variables): the converters and the phone contract take float32
    graphs, and a bf16 graph fails int8 conversion op by op."""
    config = model.get_config()
    clean = _float32_config(config)
    if clean == config:
        return model
    copy = model.__class__.from_config(clean)
    copy.set_weights(model.get_weights())
    return copy
