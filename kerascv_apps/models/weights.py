"""Weights by layer name: read a weights file (keras.applications ``.h5``, ``.weights.h5``,
or a ``.keras`` model) and copy it into a model layer by layer.

keras.applications and this package name their layers alike (``conv1_conv``,
``block1_conv1``, ``block_1_expand``, ``stem_conv``, ...), so the released ImageNet files load
into our models; only the class layer is named differently (theirs ``predictions`` or
MobileNet's 1x1 ``conv_preds``, ours ``predictions_dense``). Transfer learning
(``kerascv_apps.training.transfer``) copies with the same function.
"""

import dataclasses
import os
import re

import keras
import numpy as np

# The class layer(s) of every model in the zoo: a new task replaces them.
HEAD_PATTERN = r"^(predictions|aux\d+)(_|$)"
# our layer name -> the names other files give the same layer
ALIASES = {"predictions_dense": ("predictions", "conv_preds")}
# keras.applications constructors of our variants, for ``.weights.h5`` files (stored by
# object structure, not by name: they load only into the architecture that wrote them).
APPLICATIONS = {
    "vgg16": "VGG16", "vgg19": "VGG19", "resnet50": "ResNet50", "resnet101": "ResNet101",
    "resnet152": "ResNet152", "mobilenet_v1": "MobileNet", "mobilenet_v2": "MobileNetV2",
    **{f"efficientnet_b{i}": f"EfficientNetB{i}" for i in range(8)},
}


class WeightsError(ValueError):
    """A weights file that cannot be used; the message names the file and the layer."""


@dataclasses.dataclass
class CopyReport:
    """What ``copy_weights`` did.

    Attributes:
        copied: target layers whose weights were copied.
        mismatched: ``(name, target shapes, source shapes)`` of same-named layers that differ.
        not_in_source: target layers with weights the source lacks (left as initialized).
        excluded: target layers skipped on purpose (the head).
    """

    copied: list
    mismatched: list
    not_in_source: list
    excluded: list

    @property
    def new_layers(self):
        """Layers that were not copied: the new head (and anything the source lacked)."""
        return self.excluded + self.not_in_source + [m[0] for m in self.mismatched]


def named_layers(model):
    """``{name: layer}`` of every layer with weights, nested models flattened."""
    out = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.update(named_layers(layer))
        elif layer.weights:
            out[layer.name] = layer
    return out


def model_weights(model):
    """``{layer name: [arrays]}`` of a built model."""
    return {name: layer.get_weights() for name, layer in named_layers(model).items()}


def _read_legacy_h5(path):
    """``{layer name: [arrays]}`` of a Keras 2 style HDF5 file (keras.applications' cached
    ``*.h5`` files, ``save_weights`` to ``.h5`` or a whole model saved as ``.h5``)."""
    import h5py

    def text(value):
        return value.decode("utf8") if isinstance(value, bytes) else str(value)

    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in group.attrs:
            raise WeightsError(f"{path}: not a Keras HDF5 weights file (no 'layer_names'); "
                               "expected a keras.applications .h5, a .weights.h5 or a .keras file")
        out = {}
        for name in map(text, group.attrs["layer_names"]):
            layer = group[name]
            names = [text(n) for n in layer.attrs.get("weight_names", [])]
            if names:
                out[name] = [np.asarray(layer[n]) for n in names]
    return out


def _read_weights_h5(path, model_name):
    """A Keras 3 ``.weights.h5`` file: loaded into the keras.applications architecture of
    ``model_name`` (with or without its top), then read by layer name."""
    constructor = APPLICATIONS.get(model_name)
    if constructor is None:
        raise WeightsError(f"{path}: a .weights.h5 file stores weights by structure, not by "
                           f"layer name; it is read for {sorted(APPLICATIONS)} only, not "
                           f"{model_name!r} (use a .keras file)")
    errors = []
    for include_top in (True, False):
        source = getattr(keras.applications, constructor)(
            weights=None, include_top=include_top,
            input_shape=None if include_top else (None, None, 3))
        try:
            source.load_weights(path)
            return model_weights(source)
        except Exception as e:  # keras raises several types for a structure mismatch
            errors.append(f"include_top={include_top}: {e}")
    raise WeightsError(f"{path} does not fit keras.applications.{constructor}: "
                       + "; ".join(errors))


def read_weights(path, model_name=None):
    """``{layer name: [arrays]}`` from a ``.keras``, ``.h5`` or ``.weights.h5`` file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise WeightsError(f"weights file not found: {path}")
    if path.endswith(".keras"):
        from kerascv_apps.io import load_model

        return model_weights(load_model(path, compile=False))
    if path.endswith(".weights.h5"):
        return _read_weights_h5(path, model_name)
    if path.endswith((".h5", ".hdf5")):
        return _read_legacy_h5(path)
    raise WeightsError(f"weights file must be .h5, .weights.h5 or .keras, got {path!r}")


def _shapes(arrays):
    return [tuple(np.shape(a)) for a in arrays]


def _fit(values, layer):
    """``values`` shaped for ``layer``'s weights (1x1 conv kernels fit a Dense), or None."""
    want = [tuple(w.shape) for w in layer.weights]
    if len(values) != len(want):
        return None
    out = []
    for value, shape in zip(values, want):
        value = np.asarray(value)
        if value.shape != shape:
            if value.size != int(np.prod(shape)) or \
                    tuple(d for d in value.shape if d != 1) != tuple(d for d in shape if d != 1):
                return None
            value = value.reshape(shape)
        out.append(value)
    return out


def copy_weights(target, source, *, exclude=HEAD_PATTERN, strict=False, origin="source"):
    """Copies ``source`` ({layer name: [arrays]}) into same-named layers of ``target``.

    Args:
        target: the model to fill.
        source: ``{layer name: [arrays]}`` (``read_weights``, ``model_weights``).
        exclude: regex of target layer names never copied (default: the class layer(s));
            ``None`` copies everything.
        strict: raise on the first layer (in model order) that the source lacks or whose
            shapes differ, instead of reporting it.
        origin: how the source is named in error messages (e.g. its path).

    Returns:
        A :class:`CopyReport`.
    """
    report = CopyReport([], [], [], [])
    pattern = re.compile(exclude) if exclude else None
    for name, layer in named_layers(target).items():
        if pattern is not None and pattern.search(name):
            report.excluded.append(name)
            continue
        key = next((k for k in (name,) + ALIASES.get(name, ()) if k in source), None)
        if key is None:
            if strict:
                raise WeightsError(f"{origin}: has no weights for layer {name!r} of model "
                                   f"{target.name!r} (shapes {_shapes(layer.weights)})")
            report.not_in_source.append(name)
            continue
        values = _fit(source[key], layer)
        if values is None:
            mismatch = (name, _shapes(layer.weights), _shapes(source[key]))
            if strict:
                raise WeightsError(f"{origin}: layer {name!r} of model {target.name!r} has "
                                   f"weight shapes {mismatch[1]}, the file has {mismatch[2]}")
            report.mismatched.append(mismatch)
            continue
        layer.set_weights(values)
        if isinstance(layer, keras.layers.Normalization):
            layer.finalize_state()  # its call() uses constants derived from mean/variance
        report.copied.append(name)
    if not report.copied:
        raise WeightsError(f"no layer of {target.name!r} matches a layer of {origin} by name "
                           "and shape (are they the same family?)")
    return report


def load_weights_file(model, source, origin="weights file", new_head=False):
    """Loads weights into ``model`` by layer name (``build_model(..., weights=path)``).

    ``source`` is a path or what ``read_weights`` returned for it. Every layer must be found
    with equal shapes, except the class layer when the file has none (a headless
    ``include_top=False`` file) or ``new_head`` asks for a new one: the head keeps its
    initialization.
    """
    if not isinstance(source, dict):
        origin = os.fspath(source)
        source = read_weights(source, model.name)
    has_head = any(re.search(HEAD_PATTERN, k) or k == "conv_preds" for k in source)
    exclude = HEAD_PATTERN if new_head or not has_head else None
    return copy_weights(model, source, exclude=exclude, strict=True,
                        origin=origin)
