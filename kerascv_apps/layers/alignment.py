"""Layers that let a fully convolutional model take any input size and keep pixel centres
aligned: pad to a multiple of the model's total stride and crop back, and a resize that knows
where each feature pixel's centre sits in the input (its stride and offset).

All three work with unknown (``None``) height/width in graph mode (``predict`` at several
sizes, SavedModel, TFLite with dynamic shapes) and lower to TFLite builtins (PAD, SLICE,
FULLY_CONNECTED / BATCH_MATMUL on rank-2 operands)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerascv_apps")
class PadToMultiple(keras.layers.Layer):
    """Zero-pads height and width at the bottom/right up to the next multiple of ``multiple``.

    Padding only at the bottom/right keeps pixel (i, j) of the input at (i, j), so cropping
    the top-left ``H x W`` of the output (:class:`CropToMatch`) undoes it without a shift.
    """

    def __init__(self, multiple, **kwargs):
        super().__init__(**kwargs)
        if int(multiple) < 1:
            raise ValueError(f"PadToMultiple: multiple must be a positive int, got {multiple!r}")
        self.multiple = int(multiple)

    def call(self, inputs):
        if self.multiple == 1:
            return inputs
        shape = ops.shape(inputs)
        m = self.multiple
        pad_h = (m - shape[1] % m) % m
        pad_w = (m - shape[2] % m) % m
        zero = pad_h * 0
        padded = ops.pad(inputs, [[zero, zero], [zero, pad_h], [zero, pad_w], [zero, zero]])
        # a pad by run-time amounts loses the static channel count, which TFLite's convolutions
        # need: restore it
        channels = inputs.shape[-1] if inputs.shape[-1] is not None else shape[3]
        return ops.reshape(padded, (-1, shape[1] + pad_h, shape[2] + pad_w, channels))

    def compute_output_shape(self, input_shape):
        m = self.multiple
        up = lambda s: None if s is None else -(-s // m) * m  # noqa: E731
        return (input_shape[0], up(input_shape[1]), up(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple}


@keras.saving.register_keras_serializable(package="kerascv_apps")
class CropToMatch(keras.layers.Layer):
    """``[x, reference] -> x[:, :H, :W]`` with ``H, W`` the reference's size times ``scale``
    (the top-left corner: the inverse of :class:`PadToMultiple`; ``scale`` > 1 for an
    upscaling model)."""

    def __init__(self, scale=1, **kwargs):
        super().__init__(**kwargs)
        self.scale = int(scale)

    def call(self, inputs):
        x, ref = inputs
        xs, rs = ops.shape(x), ops.shape(ref)
        return ops.slice(x, (0, 0, 0, 0), (xs[0], rs[1] * self.scale, rs[2] * self.scale, xs[3]))

    def compute_output_shape(self, input_shapes):
        x, ref = input_shapes
        up = lambda s: None if s is None else s * self.scale  # noqa: E731
        return (x[0], up(ref[1]), up(ref[2]), x[3])

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def interpolation_matrix(out_size, in_size, scale, shift, interpolation="bilinear",
                         dtype="float32"):
    """(out_size, in_size) matrix that samples a 1-D signal of ``in_size`` samples at the
    fractional positions ``p_i = i * scale + shift`` (clamped to the signal: edge values
    repeat). Bilinear: the hat ``max(0, 1 - |p_i - j|)``; nearest: a one-hot at ``round(p_i)``."""
    i = ops.cast(ops.arange(out_size), dtype)
    last = ops.cast(in_size, dtype) - 1.0
    p = ops.minimum(ops.maximum(i * scale + shift, 0.0), last)
    j = ops.cast(ops.arange(in_size), dtype)
    if interpolation == "nearest":
        return ops.cast(ops.equal(ops.floor(p + 0.5)[:, None], j[None, :]), dtype)
    return ops.relu(1.0 - ops.abs(p[:, None] - j[None, :]))


def _resample_leading(x, matrix, channels):
    """``matrix`` (N, n) applied along the leading axis of ``x`` (n, a, b, C) -> (N, a, b, C)
    as one rank-2 product."""
    shape = ops.shape(x)
    y = ops.matmul(matrix, ops.reshape(x, (shape[0], -1)))
    return ops.reshape(y, (-1, shape[1], shape[2], channels))


def resample(x, rows, cols):
    """``x`` (B, h, w, C) -> (B, H, W, C) with ``rows`` (H, h) and ``cols`` (W, w).

    Both products are plain rank-2 matmuls over a reshaped tensor. A batch matmul whose
    operand is broadcast over the batch dimensions (``rows[None, None] @ x``) returns wrong
    values or crashes in TensorFlow's oneDNN kernels on some CPUs (seen on AVX-512 Xeons and
    EPYCs); rank-2 products take the plain GEMM path everywhere, lower to TFLite builtins with
    dynamic shapes and need no broadcast."""
    channels = x.shape[-1] if x.shape[-1] is not None else ops.shape(x)[3]
    y = _resample_leading(ops.transpose(x, (1, 0, 2, 3)), rows, channels)   # (H, B, w, C)
    y = _resample_leading(ops.transpose(y, (2, 1, 0, 3)), cols, channels)   # (W, B, H, C)
    return ops.transpose(y, (1, 2, 0, 3))                                   # (B, H, W, C)


INTERPOLATIONS = ("bilinear", "nearest")


@keras.saving.register_keras_serializable(package="kerascv_apps")
class AlignedResize(keras.layers.Layer):
    """``[x, reference] -> x`` resampled onto the reference's pixel grid so that pixel
    centres line up in input coordinates.

    ``x`` is a feature map whose pixel ``j`` is centred at input coordinate
    ``source_offset + source_stride * j`` (a backbone level's ``FeatureLevel.offset`` and
    ``.stride``); the reference's pixel ``i`` is centred at ``target_offset +
    target_stride * i`` (the input image itself: stride 1, offset 0). Each output pixel takes
    the bilinear (or nearest) interpolation of ``x`` at its own centre, edges repeated. A
    plain half-pixel resize is right only when ``offset = (stride - 1) / 2``; ResNet's levels
    sit at ``stride * j`` and would come out shifted by ``(stride - 1) / 2`` pixels.
    """

    def __init__(self, source_stride, source_offset, target_stride=1, target_offset=0.0,
                 interpolation="bilinear", **kwargs):
        super().__init__(**kwargs)
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"AlignedResize: interpolation must be one of {INTERPOLATIONS}, "
                             f"got {interpolation!r}")
        if float(source_stride) <= 0 or float(target_stride) <= 0:
            raise ValueError("AlignedResize: strides must be positive, got "
                             f"{source_stride!r}, {target_stride!r}")
        self.source_stride = float(source_stride)
        self.source_offset = float(source_offset)
        self.target_stride = float(target_stride)
        self.target_offset = float(target_offset)
        self.interpolation = interpolation

    def call(self, inputs):
        x, ref = inputs
        xs, rs = ops.shape(x), ops.shape(ref)
        # reference pixel i sits at target_offset + target_stride * i = source_offset + source_stride * p
        scale = self.target_stride / self.source_stride
        shift = (self.target_offset - self.source_offset) / self.source_stride
        dtype = x.dtype if "float" in str(x.dtype) else "float32"
        rows = interpolation_matrix(rs[1], xs[1], scale, shift, self.interpolation, dtype)
        cols = interpolation_matrix(rs[2], xs[2], scale, shift, self.interpolation, dtype)
        return ops.cast(resample(ops.cast(x, dtype), rows, cols), x.dtype)

    def compute_output_shape(self, input_shapes):
        x, ref = input_shapes
        return (x[0], ref[1], ref[2], x[3])

    def get_config(self):
        return {**super().get_config(), "source_stride": self.source_stride,
                "source_offset": self.source_offset, "target_stride": self.target_stride,
                "target_offset": self.target_offset, "interpolation": self.interpolation}


def legal_sizes_near(size, multiple, remainder=0, minimum=1):
    """The legal sizes (``n % multiple == remainder % multiple`` and ``n >= minimum``) nearest
    to ``size``: ``(below, above)``, ``below`` None when there is none."""
    size, multiple = int(size), int(multiple)
    first = minimum + (remainder - minimum) % multiple
    if size <= first:
        return None, first
    below = size - (size - first) % multiple
    return below, below if below == size else below + multiple


@keras.saving.register_keras_serializable(package="kerascv_apps")
class SizeConstraint(keras.layers.Layer):
    """Identity that refuses an input whose height or width is not a legal size of the model
    (``n % multiple == remainder % multiple`` and ``n >= minimum``) with an error naming the
    constraint and the nearest legal sizes, instead of a shape error deep inside the network.

    The check runs wherever the size is known while tracing: at build time for a static
    ``input_shape``, on eager calls and in the first (shape-specialised) trace of
    ``predict``/export. ``keras.ops`` has no run-time assertion, so a relaxed trace with
    ``None`` sizes cannot check.
    """

    def __init__(self, multiple, remainder=0, minimum=1, model_name="model", **kwargs):
        super().__init__(**kwargs)
        self.multiple = int(multiple)
        self.remainder = int(remainder) % self.multiple
        self.minimum = int(minimum)
        self.model_name = str(model_name)

    def message(self, size, axis):
        below, above = legal_sizes_near(size, self.multiple, self.remainder, self.minimum)
        near = f"{below} or {above}" if below is not None else f"{above}"
        return (f"{self.model_name}: input {axis} {size} is not a legal size (legal: n % "
                f"{self.multiple} == {self.remainder} and n >= {self.minimum}); nearest legal "
                f"sizes: {near}")

    def check(self, shape):
        for size, axis in ((shape[1], "height"), (shape[2], "width")):
            if isinstance(size, int) and (size % self.multiple != self.remainder
                                          or size < self.minimum):
                raise ValueError(self.message(size, axis))

    def call(self, inputs):
        self.check(tuple(inputs.shape))
        return inputs

    def compute_output_shape(self, input_shape):
        self.check(tuple(input_shape))
        return input_shape

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple, "remainder": self.remainder,
                "minimum": self.minimum, "model_name": self.model_name}
