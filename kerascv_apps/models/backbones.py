"""The backbone contract: classification models as feature extractors for dense heads.

Each classification family declares its feature taps next to its builder (the layers whose
outputs are candidate feature maps, shallow to deep; ``declare_feature_taps``). When a backbone
is built (:func:`build_backbone`) the stride and the pixel offset of each tap are computed from
the model's serialized graph (kernel sizes, strides, dilations, paddings; ``get_config``, public
API) and recorded: :class:`BackboneModel`, the feature extractor, carries them in its config, so
they survive save/load (like keras-hub's ``pyramid_outputs``). A head never searches layer names
and never assumes where a feature pixel sits. Level ``Pk`` is the deepest tap with stride
exactly ``2**k``.

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


def _levels(records):
    return {r["name"]: FeatureLevel(**r) for r in records or []}


@keras.saving.register_keras_serializable(package="kerascv_apps")
class BackboneModel(keras.Model):
    """A backbone's feature extractor: ``{"P1": ..., "P5": ...}`` outputs, with its
    ``feature_levels`` (``{"Pk": FeatureLevel}``) and every tap (``tap_levels``, shallow to
    deep, named after their layer) in its config, so they survive save/load."""

    def __init__(self, inputs, outputs, name=None, **kwargs):
        levels = kwargs.pop("feature_levels", None)
        taps = kwargs.pop("tap_levels", None)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self.feature_levels = _levels(levels)
        self.tap_levels = list(_levels(taps).values())

    def get_config(self):
        config = super().get_config()
        config["feature_levels"] = [dataclasses.asdict(v) for v in self.feature_levels.values()]
        config["tap_levels"] = [dataclasses.asdict(v) for v in self.tap_levels]
        return config


@dataclasses.dataclass
class Backbone:
    """A headless classification model and its feature levels (recorded when it was built).

    ``levels``: ``{"Pk": FeatureLevel}``, one per stride; ``taps``: every declared tap with its
    geometry (shallow to deep; a dilated ResNet has two at its last stride, PSPNet's auxiliary
    head reads the one before the deepest)."""

    inputs: object
    features: dict
    levels: dict
    name: str
    taps: list = dataclasses.field(default_factory=list)
    source: object = None  # the headless model the taps are layers of

    switches: dict = dataclasses.field(default_factory=dict)  # {"Pk": switch mask}

    def tap_output(self, level):
        """The symbolic output of a tap (a ``FeatureLevel`` of ``taps`` or ``levels``)."""
        return tap_tensor(self.source, level.layer)

    def model(self):
        """The :class:`BackboneModel` (dict outputs ``{"P1": ..., ...}``, levels in its config;
        a backbone built with switch pooling also outputs ``"Pk_switches"``: the mask at the
        input of level ``Pk``'s pooling)."""
        outputs = {**self.features, **{f"{k}_switches": v for k, v in self.switches.items()}}
        return BackboneModel(self.inputs, outputs, name=f"{self.name}_backbone",
                             feature_levels=[dataclasses.asdict(v) for v in self.levels.values()],
                             tap_levels=[dataclasses.asdict(v) for v in self.taps])


def declare_feature_taps(family):
    """Called by a family module whose builders set ``model.feature_taps``."""
    _TAP_FAMILIES.add(family)


def set_feature_taps(model, taps):
    """Records a built model's candidate feature layers (shallow to deep)."""
    model.feature_taps = tuple(taps)
    return model


def list_backbones():
    """Registered models whose family declares feature levels (classification families)."""
    return [n for n in list_models() if get_entry(n).family in _TAP_FAMILIES]


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
    if name == "MaxPoolingWithSwitches":  # 2x2 / stride 2, valid (and its switches)
        return tuple((s * 2, o + s * 0.5) for s, o in geometry)
    if name == "MaxUnpoolingWithSwitches":  # back to the pooling's input grid
        return tuple((s // 2, o - s / 4.0) for s, o in geometry)
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


def _tensor_refs(call):
    """``(keras_history, shape)`` of every tensor in a serialized layer call."""
    if isinstance(call, dict):
        if call.get("class_name") == "__keras_tensor__":
            yield call["config"]["keras_history"], call["config"].get("shape")
            return
        for value in call.values():
            yield from _tensor_refs(value)
    elif isinstance(call, (list, tuple)):
        for value in call:
            yield from _tensor_refs(value)


UNKNOWN = "unknown"  # layer_geometries(strict=False): no geometry (resampled, reused layer)


def layer_geometries(model, strict=True):
    """``{layer name: per-axis (stride, offset)}`` of each layer's output in ``model`` (None
    for spatially pooled tensors), from its serialized graph (``get_config``: public API).

    ``strict=False``: a layer whose geometry cannot be told (it resamples, is called more than
    once, or merges misaligned inputs), and every layer after it, maps to ``UNKNOWN`` instead
    of raising (explanations look for the deepest level of any model, decoders included)."""
    table = {}
    for layer_config in model.get_config()["layers"]:
        name = layer_config["name"]
        calls = layer_config.get("inbound_nodes") or []
        if not calls:  # an Input
            table[name] = ((1, 0.0), (1, 0.0))
            continue
        try:
            if len(calls) > 1:
                raise ValueError(f"feature geometry: layer {name!r} is called {len(calls)} times")
            spatial = []
            for (parent, _, _), shape in _tensor_refs(calls[0]):
                if parent not in table:
                    raise ValueError(f"feature geometry: layer {name!r} reads {parent!r}, which "
                                     "comes later in the model's config")
                if table[parent] == UNKNOWN:
                    raise ValueError(f"feature geometry: layer {name!r} reads {parent!r}, whose "
                                     "geometry is unknown")
                if shape is not None and len(shape) == 4 and table[parent] is not None:
                    spatial.append(table[parent])
            if not spatial:
                table[name] = None
                continue
            if any(g != spatial[0] for g in spatial):
                raise ValueError(f"feature geometry: inputs of layer {name!r} are not aligned: "
                                 f"{spatial}")
            table[name] = _layer_geometry(model.get_layer(name), spatial[0])
        except ValueError:
            if strict:
                raise
            table[name] = UNKNOWN
    return table


def tap_tensor(model, layer_name):
    """The feature map a tap layer outputs: its output, or the first of its outputs (a
    ``MaxPoolingWithSwitches`` also returns its switches)."""
    output = model.get_layer(layer_name).output
    return output[0] if isinstance(output, (list, tuple)) else output


def switches_of(model, layer_name):
    """The switch mask a ``MaxPoolingWithSwitches`` tap records (its second output), or None."""
    output = model.get_layer(layer_name).output
    return output[1] if isinstance(output, (list, tuple)) and len(output) == 2 else None


def tap_levels(model):
    """Every declared tap of ``model`` (``feature_taps``) as a FeatureLevel named after its
    layer, shallow to deep; taps of spatially pooled tensors are left out."""
    taps = getattr(model, "feature_taps", None)
    if not taps:
        raise ValueError(f"model {model.name!r} declares no feature taps; backbones: "
                         f"{', '.join(list_backbones())}")
    geometry = layer_geometries(model)
    levels = []
    for layer_name in taps:
        if geometry.get(layer_name) is None:
            continue
        (stride, offset), other = geometry[layer_name]
        if other != (stride, offset):
            raise ValueError(f"feature tap {layer_name!r}: rows and columns differ: "
                             f"{geometry[layer_name]}")
        channels = int(tap_tensor(model, layer_name).shape[-1])
        levels.append(FeatureLevel(layer_name, layer_name, int(stride), float(offset), channels))
    return levels


def feature_levels(model, taps=None):
    """{"Pk": FeatureLevel}: per power-of-two stride, the deepest tap there. A
    :class:`BackboneModel` (built or reloaded) answers from its config."""
    if isinstance(model, BackboneModel):
        return dict(model.feature_levels)
    levels = {}
    for tap in (taps if taps is not None else tap_levels(model)):
        k = int(tap.stride).bit_length() - 1
        if tap.stride != 2 ** k or k < 1:
            continue
        levels[f"P{k}"] = dataclasses.replace(tap, name=f"P{k}")
    return dict(sorted(levels.items(), key=lambda kv: kv[1].stride))


def build_backbone(name, input_shape=(None, None, 3), weights=None, preprocessing=None,
                   **kwargs):
    """Builds the classification model ``name`` headless and returns its feature levels.

    ``weights`` (a keras.applications weights file) and ``preprocessing`` go to the builder;
    other keyword arguments too (e.g. ``alpha``, ``output_stride``).
    """
    entry = get_entry(name)
    if entry.family not in _TAP_FAMILIES:
        raise ValueError(f"{name!r} is not a backbone; backbones: {', '.join(list_backbones())}")
    if preprocessing is not None:
        kwargs["preprocessing"] = preprocessing
    if weights is not None:
        kwargs["weights"] = weights
    model = build_model(name, input_shape=input_shape, include_top=False, pooling=None, **kwargs)
    taps = tap_levels(model)
    levels = feature_levels(model, taps)
    features = {k: tap_tensor(model, level.layer) for k, level in levels.items()}
    switches = {k: switches_of(model, level.layer) for k, level in levels.items()}
    return Backbone(model.inputs[0], features, levels, name, taps, model,
                    {k: v for k, v in switches.items() if v is not None})
