"""The tf_keras twin of a Keras 3 functional model (tfmot only accepts tf_keras models).

``tf_keras_twin(model)`` walks the Keras 3 functional graph config layer by layer, rebuilds every
layer with the tf_keras class of the same name and a cleaned config (Keras 3 dtype policies and
serialized initializers/regularizers become plain values), wires the same inbound tensors and
copies the weights. ``check_parity`` proves the two give the same outputs before optimizing.

Refused with a message (``TwinError``): layers tf_keras has no class for (the package's own
custom layers, e.g. SegNet's max-location unpooling), nested models, and layers called with
keyword tensors. Handled: every ``keras.layers`` class used by LeNet-5, MobileNetV2, ResNet and
U-Net (Conv2D, DepthwiseConv2D, Conv2DTranspose, Dense, BatchNormalization, pooling, ReLU,
Activation, Add, Concatenate, ZeroPadding2D, Rescaling, Dropout, Flatten, UpSampling2D, ...).
"""

import numpy as np

_DROP_KEYS = ("build_config", "compile_config", "quantization_config", "optional")


class TwinError(ValueError):
    """The model cannot be rebuilt with tf_keras (the message names the layer and why)."""


def _clean(config):
    config = dict(config)
    dtype = config.get("dtype")
    if isinstance(dtype, dict):
        config["dtype"] = dtype.get("config", {}).get("name", "float32")
        if "float16" in config["dtype"]:
            raise TwinError(f"layer {config.get('name')!r} runs in {config['dtype']}; tfmot needs "
                            f"a float32 model (rebuild it under the float32 policy)")
    for key in list(config):
        value = config[key]
        if isinstance(value, dict) and "class_name" in value and "module" in value:
            # serialized initializer/regularizer/constraint: keep the default for weights that
            # are copied anyway, keep regularizers/constraints by class name
            if key.endswith("_initializer"):
                config.pop(key)
            else:
                config[key] = {"class_name": value["class_name"], "config": value.get("config", {})}
        if key in _DROP_KEYS:
            config.pop(key, None)
    return config


def _tensors(arg, built):
    if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
        name, node, index = arg["config"]["keras_history"]
        return built[(name, node, index)]
    if isinstance(arg, (list, tuple)):
        return [_tensors(a, built) for a in arg]
    return arg


def tf_keras_twin(model):
    """Rebuilds ``model`` with tf_keras layers and copies its weights. Raises ``TwinError``."""
    import tf_keras

    config = model.get_config()
    if "layers" not in config:
        raise TwinError(f"model {model.name!r} is not a functional model")
    built, twins = {}, {}
    inputs = []
    for entry in config["layers"]:
        name, cls = entry["name"], entry["class_name"]
        if cls == "InputLayer":
            c = entry["config"]
            tensor = tf_keras.Input(batch_shape=c["batch_shape"], name=name, dtype=c.get("dtype"))
            built[(name, 0, 0)] = tensor
            inputs.append(tensor)
            continue
        layer_cls = getattr(tf_keras.layers, cls, None)
        if layer_cls is None or entry.get("module") not in ("keras.layers", None):
            raise TwinError(f"layer {name!r} ({entry.get('module')}.{cls}) has no tf_keras "
                            f"equivalent; tfmot cannot optimize this model")
        try:
            layer = layer_cls.from_config(_clean(entry["config"]))
        except Exception as e:  # noqa: BLE001 - any config mismatch is a refusal with the reason
            raise TwinError(f"layer {name!r} ({cls}) could not be rebuilt with tf_keras: {e}") from e
        twins[name] = layer
        for node_index, node in enumerate(entry["inbound_nodes"]):
            if any(isinstance(v, dict) and v.get("class_name") == "__keras_tensor__"
                   for v in node.get("kwargs", {}).values()):
                raise TwinError(f"layer {name!r} is called with keyword tensors")
            args = [_tensors(a, built) for a in node["args"]]
            out = layer(*args, **node.get("kwargs", {}))
            outs = out if isinstance(out, (list, tuple)) else [out]
            for i, t in enumerate(outs):
                built[(name, node_index, i)] = t
    outputs = [built[tuple(o)] for o in _as_list_of_refs(config["output_layers"])]
    twin = tf_keras.Model(inputs if len(inputs) > 1 else inputs[0],
                          outputs if len(outputs) > 1 else outputs[0], name=model.name)
    for layer in model.layers:
        if layer.name in twins:
            weights = [np.asarray(w) for w in layer.weights]
            target = twins[layer.name]
            if len(target.weights) != len(weights):
                raise TwinError(f"layer {layer.name!r}: {len(weights)} weights in Keras 3, "
                                f"{len(target.weights)} in tf_keras")
            target.set_weights(weights)
    return twin


def _as_list_of_refs(refs):
    return [refs] if refs and isinstance(refs[0], str) else refs


def check_parity(model, twin, images, atol=1e-4):
    """Max absolute output difference between the Keras 3 model and its twin on ``images``;
    raises ``TwinError`` above ``atol`` (nothing is optimized from a twin that differs)."""
    a = np.asarray(model(images, training=False))
    b = np.asarray(twin(images, training=False))
    diff = float(np.max(np.abs(a - b)))
    if not diff <= atol:
        raise TwinError(f"tf_keras twin of {model.name!r} differs from the model by {diff:.3g} "
                        f"(allowed {atol}); not optimizing")
    return diff
