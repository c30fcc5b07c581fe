"""Max pooling that remembers where each maximum was, and the matching unpooling (SegNet).

Badrinarayanan et al. 2015, "SegNet: A Deep Convolutional Encoder-Decoder Architecture for
Image Segmentation": the decoder upsamples with the encoder's max-pooling *indices*, putting
each value back at the location its maximum came from and zeros elsewhere.

``tf.nn.max_pool_with_argmax`` is neither a TFLite builtin nor supported by XLA, so the
locations are kept here as a one-hot *switch mask* at the input resolution, computed from
plain comparisons: each 2x2 window is split into its four phases with strided slices
(``x[:, a::2, b::2]``), the maximum is their element-wise maximum, and the switch of phase
(a, b) is on where that phase equals the maximum and no earlier phase did.

Tie-break: when several elements of a window share the maximum, the **first in raster order
within the window** ((0, 0), (0, 1), (1, 0), (1, 1)) takes the switch, so every window has
exactly one switch on. Everything lowers to StridedSlice / Maximum / Equal / LogicalAnd /
Pack / Reshape / Mul, which are TFLite builtins and XLA-compatible.
"""

import keras
from keras import ops

_PHASES = ((0, 0), (0, 1), (1, 0), (1, 1))


def _phases(x):
    """The four 2x2-window phases of an NHWC tensor, each (B, H/2, W/2, C), in raster order."""
    return [x[:, a::2, b::2, :] for a, b in _PHASES]


def interleave_2x2(p00, p01, p10, p11):
    """Inverse of ``_phases``: builds (B, 2h, 2w, C) with ``out[:, 2i+a, 2j+b] = p_ab[:, i, j]``."""
    shape = ops.shape(p00)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    top = ops.reshape(ops.stack([p00, p01], axis=3), (batch, height, width * 2, channels))
    bottom = ops.reshape(ops.stack([p10, p11], axis=3), (batch, height, width * 2, channels))
    return ops.reshape(ops.stack([top, bottom], axis=2), (batch, height * 2, width * 2, channels))


def _check_even(layer, shape):
    for axis, size in (("height", shape[1]), ("width", shape[2])):
        if size is not None and size % 2:
            raise ValueError(f"{type(layer).__name__}({layer.name!r}): input {axis} must be even "
                             f"(2x2 windows, stride 2), got shape {tuple(shape)}")


@keras.saving.register_keras_serializable(package="kerascv_apps")
class MaxPoolingWithSwitches(keras.layers.Layer):
    """2x2 / stride 2 max pooling that also returns the one-hot switch mask.

    Call returns ``(pooled, switches)``: ``pooled`` is (B, H/2, W/2, C) and equals
    ``MaxPooling2D(2)``; ``switches`` is (B, H, W, C) in the input dtype, 1 at the location of
    each window's maximum (first in raster order on ties) and 0 elsewhere. Height and width
    must be even.
    """

    def build(self, input_shape):
        _check_even(self, input_shape)

    def call(self, inputs):
        phases = _phases(inputs)
        pooled = ops.maximum(ops.maximum(phases[0], phases[1]), ops.maximum(phases[2], phases[3]))
        taken = None
        switches = []
        for i, phase in enumerate(phases):
            hit = ops.equal(phase, pooled)
            if taken is not None:
                hit = ops.logical_and(hit, ops.logical_not(taken))
            switches.append(ops.cast(hit, inputs.dtype))
            taken = hit if taken is None else ops.logical_or(taken, hit)
        return pooled, interleave_2x2(*switches)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return ((b, None if h is None else h // 2, None if w is None else w // 2, c),
                tuple(input_shape))


@keras.saving.register_keras_serializable(package="kerascv_apps")
class MaxUnpoolingWithSwitches(keras.layers.Layer):
    """Index unpooling: ``[values (B, h, w, C), switches (B, 2h, 2w, C)] -> (B, 2h, 2w, C)``.

    Each value goes back to the location recorded by ``MaxPoolingWithSwitches``; every other
    location is zero. Implemented as nearest upsampling times the switch mask, so gradients
    flow to ``values`` through the recorded locations only.
    """

    def call(self, inputs):
        values, switches = inputs
        up = interleave_2x2(values, values, values, values)
        return up * ops.cast(switches, up.dtype)

    def compute_output_shape(self, input_shapes):
        values, switches = input_shapes
        return tuple(switches[:3]) + (values[-1],)
