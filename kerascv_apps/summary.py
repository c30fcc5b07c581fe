"""Per-layer model summary: output shape, parameters (with the ``(k²·m+1)·n`` formula for
convolutions), receptive field and FLOPs.

The receptive field follows the usual recurrence over the layer graph: with ``r`` the field
and ``j`` the jump (distance in input pixels between neighbouring outputs) of a layer's input,
a layer with kernel ``k``, dilation ``d`` and stride ``s`` gives ``r + (d(k-1)+1 - 1)·j`` and
``j·s`` (two stacked 3x3 convolutions see 5x5, as in VGG's argument). Branches that merge
(add, concatenate) keep the largest field. Layers whose every output depends on the whole
input (flatten, dense on vectors, global pooling, attention) have a *global* field (``None``).

FLOPs are ``2 x`` the multiply-accumulates of convolution, dense and attention layers for one
image (bias additions, activations, normalization and pooling are not counted), the convention
of most published model tables.
"""

import dataclasses
import math
from typing import Optional

import keras

from kerascv_apps.keras_adapter import producing_node

_CONV_TYPES = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
_TRANSPOSE_TYPES = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose,
                    keras.layers.Conv3DTranspose)
_POOL_TYPES = (keras.layers.MaxPooling1D, keras.layers.MaxPooling2D, keras.layers.MaxPooling3D,
               keras.layers.AveragePooling1D, keras.layers.AveragePooling2D,
               keras.layers.AveragePooling3D)
_DEPTHWISE_TYPES = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
_SEPARABLE_TYPES = (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)
_GLOBAL_TYPES = (keras.layers.Flatten, keras.layers.GlobalAveragePooling1D,
                 keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling1D,
                 keras.layers.GlobalMaxPooling2D, keras.layers.MultiHeadAttention,
                 keras.layers.AdaptiveAveragePooling2D, keras.layers.AdaptiveMaxPooling2D)


@dataclasses.dataclass
class LayerRow:
    """One layer of a summary.

    Attributes:
        name: layer name (``outer/inner`` inside nested models).
        type: layer class name.
        output_shape: output shape without the batch dimension (a list for several outputs).
        params: number of weights of the layer (trainable and not).
        trainable_params: number of trainable weights.
        formula: how ``params`` follows from the layer's sizes, e.g. ``(3²·16+1)·32 = 4,640``.
        receptive_field: (height, width) of the input region one output sees; ``None`` when
            it is the whole input (global).
        jump: (height, width) distance in input pixels between neighbouring outputs.
        flops: 2 x multiply-accumulates for one image (``None`` with unknown sizes).
    """

    name: str
    type: str
    output_shape: object
    params: int
    trainable_params: int
    formula: str
    receptive_field: Optional[tuple]
    jump: Optional[tuple]
    flops: Optional[int]

    def as_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass
class ModelSummary:
    """Rows of a model plus its totals; iterating yields the rows."""

    model_name: str
    rows: list
    total_params: int
    trainable_params: int
    total_flops: Optional[int]
    receptive_field: Optional[tuple]

    @property
    def non_trainable_params(self):
        return self.total_params - self.trainable_params

    def __iter__(self):
        return iter(self.rows)

    def __len__(self):
        return len(self.rows)

    def row(self, name):
        """The row of layer ``name``."""
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"no layer {name!r} in the summary of {self.model_name!r}")


# --- receptive field ----------------------------------------------------------------------

_GLOBAL = "global"  # state of a tensor whose every value depends on the whole input


def _tuple(value, rank):
    return tuple(value) if isinstance(value, (list, tuple)) else (value,) * rank


def _merge(states):
    """Field of a layer's input: the largest of its inputs' fields (global wins)."""
    states = [s for s in states if s is not None]
    if not states:
        return None
    if any(s == _GLOBAL for s in states):
        return _GLOBAL
    fields = [s[0] for s in states]
    jumps = [s[1] for s in states]
    return (tuple(max(f[i] for f in fields) for i in range(len(fields[0]))),
            tuple(max(j[i] for j in jumps) for i in range(len(jumps[0]))))


def _window(state, kernel, strides, dilation=None):
    field, jump = state
    dilation = dilation or (1,) * len(kernel)
    new_field = tuple(f + (d * (k - 1)) * j for f, k, d, j in zip(field, kernel, dilation, jump))
    return new_field, tuple(j * s for j, s in zip(jump, strides))


def _next_state(layer, state, input_shapes):
    """Receptive-field state after ``layer`` from the merged state of its inputs."""
    if state is None or state == _GLOBAL:
        return state
    rank = len(state[0])
    if isinstance(layer, _GLOBAL_TYPES):
        return _GLOBAL
    if isinstance(layer, keras.layers.Dense):
        return _GLOBAL if len(input_shapes[0]) <= 2 else state  # on a map: a 1x1 conv
    if isinstance(layer, _TRANSPOSE_TYPES):
        kernel = _tuple(layer.kernel_size, rank)
        strides = _tuple(layer.strides, rank)
        jump = tuple(j / s for j, s in zip(state[1], strides))
        return tuple(f + (k - 1) * j for f, k, j in zip(state[0], kernel, jump)), jump
    if isinstance(layer, _CONV_TYPES + _DEPTHWISE_TYPES + _SEPARABLE_TYPES):
        return _window(state, _tuple(layer.kernel_size, rank), _tuple(layer.strides, rank),
                       _tuple(layer.dilation_rate, rank))
    if isinstance(layer, _POOL_TYPES):
        return _window(state, _tuple(layer.pool_size, rank), _tuple(layer.strides, rank))
    if isinstance(layer, (keras.layers.UpSampling1D, keras.layers.UpSampling2D)):
        size = _tuple(layer.size, rank)
        return state[0], tuple(j / s for j, s in zip(state[1], size))
    return state  # elementwise, normalization, padding, reshape, concatenation, ...


# --- parameters and FLOPs -----------------------------------------------------------------

def _fmt_int(value):
    return f"{int(value):,}"


def _kernel_term(kernel):
    if len(set(kernel)) == 1 and len(kernel) == 2:
        return f"{kernel[0]}²"
    if len(set(kernel)) == 1 and len(kernel) == 3:
        return f"{kernel[0]}³"
    return "·".join(str(k) for k in kernel)


def _formula(layer, params):
    """``(k²·m+1)·n``-style formula for conv/dense layers, else ``''``."""
    if not layer.weights:
        return ""
    bias = getattr(layer, "use_bias", False)
    if isinstance(layer, _DEPTHWISE_TYPES):
        kh = _kernel_term(layer.kernel_size)
        m = layer.kernel.shape[-2] * layer.kernel.shape[-1]
        text = f"({kh}+1)·{m}" if bias else f"{kh}·{m}"
    elif isinstance(layer, _SEPARABLE_TYPES):
        kh = _kernel_term(layer.kernel_size)
        m, mult = layer.depthwise_kernel.shape[-2], layer.depthwise_kernel.shape[-1]
        n = layer.filters
        text = f"{kh}·{m * mult} + ({m * mult}+1)·{n}" if bias else f"{kh}·{m * mult} + {m * mult}·{n}"
    elif isinstance(layer, _TRANSPOSE_TYPES):
        kh = _kernel_term(layer.kernel_size)
        n, m = layer.kernel.shape[-2], layer.kernel.shape[-1]
        text = f"({kh}·{m}+1)·{n}" if bias else f"{kh}·{m}·{n}"
    elif isinstance(layer, _CONV_TYPES):
        kh = _kernel_term(layer.kernel_size)
        m, n = layer.kernel.shape[-2], layer.kernel.shape[-1]
        text = f"({kh}·{m}+1)·{n}" if bias else f"{kh}·{m}·{n}"
    elif isinstance(layer, keras.layers.Dense):
        m, n = layer.kernel.shape
        text = f"({m}+1)·{n}" if bias else f"{m}·{n}"
    elif isinstance(layer, keras.layers.BatchNormalization):
        channels = layer.moving_mean.shape[0]
        text = f"{params // channels}·{channels}"
    else:
        return ""
    return f"{text} = {_fmt_int(params)}"


def _known(shape):
    return shape is not None and all(d is not None for d in shape[1:])


def _prod(values):
    return int(math.prod(values))


def _flops(layer, input_shapes, output_shapes):
    """2 x multiply-accumulates for one example, ``None`` when a size is unknown."""
    weighted = (_CONV_TYPES + _TRANSPOSE_TYPES + _DEPTHWISE_TYPES + _SEPARABLE_TYPES
                + (keras.layers.Dense, keras.layers.MultiHeadAttention))
    if not isinstance(layer, weighted):
        return 0
    if not all(_known(s) for s in input_shapes + output_shapes):
        return None
    out = output_shapes[0]
    if isinstance(layer, _DEPTHWISE_TYPES):
        macs = _prod(out[1:]) * _prod(layer.kernel_size)
    elif isinstance(layer, _SEPARABLE_TYPES):
        m_mult = layer.depthwise_kernel.shape[-2] * layer.depthwise_kernel.shape[-1]
        positions = _prod(out[1:-1])
        macs = positions * m_mult * _prod(layer.kernel_size) + positions * m_mult * layer.filters
    elif isinstance(layer, _TRANSPOSE_TYPES):
        macs = _prod(input_shapes[0][1:]) * _prod(layer.kernel_size) * layer.filters
    elif isinstance(layer, _CONV_TYPES):
        groups = getattr(layer, "groups", 1) or 1
        m = input_shapes[0][-1] // groups
        macs = _prod(out[1:]) * _prod(layer.kernel_size) * m
    elif isinstance(layer, keras.layers.Dense):
        macs = _prod(input_shapes[0][1:]) * out[-1]
    else:  # MultiHeadAttention(query, value[, key])
        query, value = input_shapes[0], input_shapes[1]
        key = input_shapes[2] if len(input_shapes) > 2 else value
        tq, tk = _prod(query[1:-1]), _prod(key[1:-1])
        heads, dk = layer.num_heads, layer.key_dim
        dv = layer.value_dim or dk
        macs = (tq * query[-1] * heads * dk + tk * key[-1] * heads * dk
                + _prod(value[1:-1]) * value[-1] * heads * dv
                + tq * tk * heads * dk + tq * tk * heads * dv
                + tq * heads * dv * out[-1])
    return 2 * int(macs)


# --- graph walk ---------------------------------------------------------------------------

def _shape(tensor):
    return tuple(tensor.shape)


def _walk(model, input_states, prefix, rows):
    """Appends rows for ``model``'s layers; returns the states of its outputs."""
    # nodes reachable from the outputs, visited in topological (post-)order
    order, seen = [], set()
    stack = [(t, False) for t in model.outputs]
    while stack:
        tensor, done = stack.pop()
        op, node_index, node = producing_node(tensor)
        key = (id(op), node_index)
        if done:
            if key not in seen:
                seen.add(key)
                order.append((op, node))
            continue
        if key in seen:
            continue
        stack.append((tensor, True))
        for parent in node.input_tensors:
            stack.append((parent, False))

    states = {}
    for t, state in zip(model.inputs, input_states):
        if state is not None:  # a nested model's inputs continue the outer field
            states[id(t)] = state
    for op, node in order:
        outputs = node.output_tensors
        if node.is_input:
            for t in outputs:
                states.setdefault(id(t), ((1, 1), (1, 1)) if len(t.shape) == 4 else
                                  (tuple([1] * max(1, len(t.shape) - 2)),) * 2)
            rows.append(LayerRow(prefix + op.name, "InputLayer", _shape(outputs[0])[1:], 0, 0, "",
                                 _field(states[id(outputs[0])]), _jump(states[id(outputs[0])]), 0))
            continue
        in_states = [states.get(id(t)) for t in node.input_tensors]
        input_shapes = [_shape(t) for t in node.input_tensors]
        output_shapes = [_shape(t) for t in outputs]
        if isinstance(op, keras.Model):
            sub_rows = []
            out_states = _walk(op, in_states, f"{prefix}{op.name}/", sub_rows)
            rows.extend(r for r in sub_rows if r.type != "InputLayer")
            for t, s in zip(outputs, out_states):
                states[id(t)] = s
            continue
        state = _next_state(op, _merge(in_states), input_shapes)
        for t in outputs:
            states[id(t)] = state
        params = op.count_params() if op.built else 0
        trainable = sum(_prod(w.shape) for w in op.trainable_weights)
        shape = output_shapes[0][1:] if len(outputs) == 1 else [s[1:] for s in output_shapes]
        rows.append(LayerRow(prefix + op.name, type(op).__name__, shape, params, trainable,
                             _formula(op, params), _field(state), _jump(state),
                             _flops(op, input_shapes, output_shapes)))
    return [states.get(id(t)) for t in model.outputs]


def _field(state):
    if state is None or state == _GLOBAL:
        return None
    return tuple(_clean(v) for v in state[0])


def _jump(state):
    if state is None or state == _GLOBAL:
        return None
    return tuple(_clean(v) for v in state[1])


def _clean(value):
    return int(value) if float(value).is_integer() else float(value)


def model_summary(model):
    """Per-layer rows (name, type, output shape, params with formula, receptive field, FLOPs)
    and totals of a functional (or nested functional) Keras model.

    Args:
        model: a built functional ``keras.Model``. FLOPs need static sizes: build the model
            with a fixed ``input_shape`` to get them (``None`` otherwise).

    Returns:
        A :class:`ModelSummary`; ``format_summary`` prints it as a table.
    """
    if not isinstance(model, keras.Model) or not hasattr(model, "_nodes"):
        raise ValueError(f"model_summary: model must be a functional keras.Model, got {type(model).__name__}")
    rows = []
    _walk(model, [None] * len(model.inputs), "", rows)
    flops = [r.flops for r in rows]
    fields = [r.receptive_field for r in rows if r.receptive_field is not None]
    largest = max(fields, key=lambda f: math.prod(f)) if fields else None
    trainable = sum(_prod(w.shape) for w in model.trainable_weights)
    return ModelSummary(model.name, rows, model.count_params(), trainable,
                        None if any(f is None for f in flops) else int(sum(flops)), largest)


def _fmt_shape(shape):
    if isinstance(shape, list):
        return ", ".join(_fmt_shape(s) for s in shape)
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def _fmt_field(field):
    if field is None:
        return "global"
    return str(field[0]) if len(set(field)) == 1 else "x".join(str(f) for f in field)


def _fmt_flops(value):
    if value is None:
        return "?"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= scale:
            return f"{value / scale:.2f}{unit}"
    return str(value)


def format_summary(summary, max_rows=None):
    """A text table of a :class:`ModelSummary` (or a list of :class:`LayerRow`).

    Args:
        summary: what ``model_summary`` returned, or its rows.
        max_rows: print at most this many rows (the totals always).
    """
    rows = list(summary.rows if isinstance(summary, ModelSummary) else summary)
    header = ("Layer (type)", "Output shape", "Params", "Formula", "RF", "FLOPs")
    table = [(f"{r.name} ({r.type})", _fmt_shape(r.output_shape), _fmt_int(r.params), r.formula,
              _fmt_field(r.receptive_field), _fmt_flops(r.flops)) for r in rows]
    if max_rows is not None and len(table) > max_rows:
        table = table[:max_rows] + [("...", "", "", "", "", "")]
    widths = [max(len(h), *(len(row[i]) for row in table)) if table else len(h)
              for i, h in enumerate(header)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table]
    out.append(line)
    if isinstance(summary, ModelSummary):
        total, trainable = summary.total_params, summary.trainable_params
        flops, field = summary.total_flops, summary.receptive_field
    else:
        total = sum(r.params for r in rows)
        trainable = sum(r.trainable_params for r in rows)
        flops = None if any(r.flops is None for r in rows) else sum(r.flops for r in rows)
        fields = [r.receptive_field for r in rows if r.receptive_field is not None]
        field = max(fields, key=math.prod) if fields else None
    out.append(f"Total params: {total:,} (trainable {trainable:,}, non-trainable {total - trainable:,})")
    out.append(f"FLOPs per image (2 x MACs of conv/dense/attention): "
               f"{'?' if flops is None else f'{flops:,}'} ({_fmt_flops(flops)})")
    out.append(f"Largest receptive field: {_fmt_field(field) if field else 'n/a'} pixels")
    return "\n".join(out)
