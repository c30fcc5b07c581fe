"""The backbone contract: classification models as feature extractors for dense heads.

Each classification family declares its feature taps next to its builder (the layers whose
outputs are candidate feature maps, shallow to deep; ``declare_feature_taps``). The stride and
the pixel offset of each tap are computed here from the layer graph (kernel sizes, strides,
dilations, paddings), so a head never searches layer names and never assumes where a feature
pixel sits. Level ``Pk`` is the deepest tap with stride exactly ``2**k``.

Offsets assume input heights and widths divisible by the backbone's largest stride (32 for
every family here): then every "same"-padded strided layer sees an even size and pads the
way TensorFlow does for even sizes (the extra pixel at the end).
"""

import dataclasses

import keras

from kerascv_apps.registry import build_model, get_entry, list_models

_TAP_FAMILIES = set()


@dataclasses.dataclass(frozen=True)
class FeatureLevel:
    """One feature level: feature pixel ``j``'s centre sits at input pixel
    ``offset + stride * j`` (input pixel centres at 0, 1, 2, ...)."""

    name: str
    layer: str
    stride: int
    offset: float
    channels: int


@dataclasses.dataclass
class Backbone:
    """A headless classification model and its feature levels."""

    inputs: object
    features: dict
    levels: dict
    name: str

    def model(self):
        """``keras.Model(inputs, {"P1": ..., ...})`` (dict outputs)."""
        return keras.Model(self.inputs, dict(self.features), name=f"{self.name}_backbone")


def declare_feature_taps(family):
    """Called by a family module whose builders set ``model.feature_taps``."""
    _TAP_FAMILIES.add(family)


def set_feature_taps(model, taps):
    """Records a built model's candidate feature layers (shallow to deep)."""
    model.feature_taps = tuple(taps)
    return model


def list_backbones():
    """Registered classification models whose family declares feature levels."""
    return [n for n in list_models(task="classification") if get_entry(n).family in _TAP_FAMILIES]


# --------------------------------------------------------------------------- geometry

def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _layer_geometry(layer, geometry):
    """(stride, offset) per axis after ``layer`` given its input's (stride, offset) per axis;
    ``None`` for global (spatially pooled) tensors."""
    name = type(layer).__name__
    if name.startswith("Global") or (name in ("AdaptiveAveragePooling2D",)):
        return None
    if name in ("Resizing", "UpSampling2D", "Conv2DTranspose"):
        raise ValueError(f"feature geometry: layer {layer.name!r} ({name}) resamples the map; "
                         "build the backbone without resizing")
    if name == "ZeroPadding2D":
        pads = layer.padding  # ((top, bottom), (left, right))
        return tuple((s, o - s * p[0]) for (s, o), p in zip(geometry, pads))
    if name == "Cropping2D":
        crops = layer.cropping  # ((top, bottom), (left, right))
        return tuple((s, o + s * c[0]) for (s, o), c in zip(geometry, crops))
    if name == "ZeroPadShortcut":  # x[:, ::s, ::s]: pixel j is input pixel s * j
        return tuple((s * layer.strides, o) for s, o in geometry)
    kernel = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    if kernel is None:
        return geometry
    strides = _pair(getattr(layer, "strides", None) or kernel)
    dilation = _pair(getattr(layer, "dilation_rate", 1))
    padding = getattr(layer, "padding", "valid")
    out = []
    for (s, o), k, st, d in zip(geometry, _pair(kernel), strides, dilation):
        extent = (k - 1) * d + 1
        # TF "same" padding on a size divisible by the stride: extent - stride in total,
        # the smaller half before.
        before = max(extent - st, 0) // 2 if padding == "same" else 0
        out.append((s * st, o + s * ((extent - 1) / 2.0 - before)))
    return tuple(out)


def tensor_geometry(tensor):
    """(stride, offset) per spatial axis of a model tensor, walking its layer graph."""
    memo = {}

    def walk(t):
        key = id(t)
        if key in memo:
            return memo[key]
        layer, node_index, _ = t._keras_history
        node = layer._inbound_nodes[node_index]
        inputs = [x for x in node.input_tensors]
        if not inputs:  # the Input
            result = ((1, 0.0), (1, 0.0))
        else:
            spatial = [g for g in (walk(x) for x in inputs if len(x.shape) == 4) if g is not None]
            if not spatial:
                result = None
            else:
                if any(g != spatial[0] for g in spatial):
                    raise ValueError(f"feature geometry: inputs of layer {layer.name!r} are not "
                                     f"aligned: {spatial}")
                result = _layer_geometry(layer, spatial[0])
        memo[key] = result
        return result

    return walk(tensor)


def feature_levels(model):
    """{"Pk": FeatureLevel} from the model's declared ``feature_taps``."""
    taps = getattr(model, "feature_taps", None)
    if not taps:
        raise ValueError(f"model {model.name!r} declares no feature taps; backbones: "
                         f"{', '.join(list_backbones())}")
    levels = {}
    for layer_name in taps:
        tensor = model.get_layer(layer_name).output
        geometry = tensor_geometry(tensor)
        (stride, offset), other = geometry
        if other != (stride, offset):
            raise ValueError(f"feature tap {layer_name!r}: rows and columns differ: {geometry}")
        k = int(stride).bit_length() - 1
        if stride != 2 ** k or k < 1:
            continue
        levels[f"P{k}"] = FeatureLevel(f"P{k}", layer_name, int(stride), float(offset),
                                       int(tensor.shape[-1]))
    return dict(sorted(levels.items(), key=lambda kv: kv[1].stride))


def build_backbone(name, input_shape=(None, None, 3), weights=None, preprocessing=None,
                   **kwargs):
    """Builds the classification model ``name`` headless and returns its feature levels.

    ``weights`` (a keras.applications weights file) and ``preprocessing`` go to the builder;
    other keyword arguments too (e.g. ``alpha``, ``output_stride``).
    """
    entry = get_entry(name)
    if entry.task != "classification" or entry.family not in _TAP_FAMILIES:
        raise ValueError(f"{name!r} is not a backbone; backbones: {', '.join(list_backbones())}")
    if preprocessing is not None:
        kwargs["preprocessing"] = preprocessing
    if weights is not None:
        kwargs["weights"] = weights
    model = build_model(name, input_shape=input_shape, include_top=False, pooling=None, **kwargs)
    levels = feature_levels(model)
    features = {k: model.get_layer(level.layer).output for k, level in levels.items()}
    return Backbone(model.inputs[0], features, levels, name)
