"""Colour-space and fixed-kernel resampling layers of the luminance super-resolution models
(ESPCN as in Shi et al. 2016 super-resolves the Y channel; Cb and Cr are upscaled bicubically).

No weights: the kernels are constants, so a model's parameter count is its network's. Built from
1x1 / small convolutions, slices, concatenations and depth-to-space only, so TFLite converts
them to builtin ops (float and int8) and they keep dynamic height and width.
"""

import keras
import numpy as np
from keras import ops

# Full-range ITU-R BT.601 (JPEG/JFIF) YCbCr: exactly invertible; chroma offset by 128 of 255
# (JFIF's), i.e. max_value * 128 / 255 in any range.
RGB_TO_YCBCR = np.array([[0.299, 0.587, 0.114],
                         [-0.168736, -0.331264, 0.5],
                         [0.5, -0.418688, -0.081312]], np.float64)


def chroma_offset(max_value):
    """JFIF's chroma offset (128 for [0, 255]) in a range whose top is ``max_value``."""
    return max_value * 128.0 / 255.0


def _check_range(max_value, layer):
    max_value = float(max_value)
    if not max_value > 0:
        raise ValueError(f"{layer}: max_value must be > 0 (1.0 for [0, 1] pixels, 255.0 for "
                         f"[0, 255]), got {max_value!r}")
    return max_value


@keras.saving.register_keras_serializable(package="kerascv_apps")
class RGBToYCbCr(keras.layers.Layer):
    """RGB -> ``[Y, CbCr]`` (two tensors: (N, H, W, 1) and (N, H, W, 2)), full-range BT.601
    (``RGB_TO_YCBCR``), chroma offset by ``max_value * 128 / 255`` (JFIF's 128 at 255).

    Args:
        max_value: the pixel range's top (1.0 for [0, 1], 255.0 for [0, 255]).
    """

    def __init__(self, max_value=1.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = _check_range(max_value, "RGBToYCbCr")

    def build(self, input_shape):
        if input_shape[-1] != 3:
            raise ValueError(f"RGBToYCbCr {self.name!r}: needs 3 (RGB) input channels, got "
                             f"shape {tuple(input_shape)}")

    def call(self, inputs):
        matrix = RGB_TO_YCBCR.T.astype("float32")  # (3 in, 3 out)
        y = ops.conv(inputs, ops.cast(matrix[None, None, :, :1], inputs.dtype))
        cbcr = ops.conv(inputs, ops.cast(matrix[None, None, :, 1:], inputs.dtype))
        return [y, cbcr + ops.cast(chroma_offset(self.max_value), inputs.dtype)]

    def compute_output_shape(self, input_shape):
        return [tuple(input_shape[:-1]) + (1,), tuple(input_shape[:-1]) + (2,)]

    def get_config(self):
        config = super().get_config()
        config.update({"max_value": self.max_value})
        return config


@keras.saving.register_keras_serializable(package="kerascv_apps")
class YCbCrToRGB(keras.layers.Layer):
    """``[Y, CbCr]`` -> RGB, the exact inverse of :class:`RGBToYCbCr` (not clipped).

    Args:
        max_value: the pixel range's top (1.0 for [0, 1], 255.0 for [0, 255]).
    """

    def __init__(self, max_value=1.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = _check_range(max_value, "YCbCrToRGB")

    def call(self, inputs):
        y, cbcr = inputs
        # R, G, B = Y + (chroma terms): Y's coefficient is exactly 1, so it is added, not
        # multiplied: in an int8 file a quantized 1x1 weight of ~1.0 (per-channel scale set by
        # Cr's 1.402) would scale Y by up to +-0.5 % (about 1 grey level at 255).
        inverse = np.linalg.inv(RGB_TO_YCBCR).T.astype("float32")  # (3 in: Y Cb Cr, 3 out)
        chroma = cbcr - ops.cast(chroma_offset(self.max_value), cbcr.dtype)
        colour = ops.conv(chroma, ops.cast(inverse[None, None, 1:], chroma.dtype))
        return ops.concatenate([y, y, y], axis=-1) + colour

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:-1]) + (3,)

    def get_config(self):
        config = super().get_config()
        config.update({"max_value": self.max_value})
        return config


def keys_cubic(s, a=-0.5):
    """The cubic convolution kernel of Keys (1981) with ``a = -0.5`` (TF's and Pillow's
    bicubic)."""
    s = np.abs(np.asarray(s, np.float64))
    return np.where(s <= 1, (a + 2) * s ** 3 - (a + 3) * s ** 2 + 1,
                    np.where(s < 2, a * s ** 3 - 5 * a * s ** 2 + 8 * a * s - 4 * a, 0.0))


# TF's bicubic resize looks the kernel up in a table of 1024 steps per pixel, i.e. it rounds
# each tap's fractional position to 1/1024 (exact for x2 and x4, off by up to 0.15 grey
# levels at x3 without the same rounding).
TF_KERNEL_TABLE_SIZE = 1024


def bicubic_phase_taps(scale, table_size=TF_KERNEL_TABLE_SIZE):
    """(scale, 5) weights: output phase ``p`` of an integer ``scale`` upsampling with half-pixel
    centres sits at LR coordinate ``j + (p + 0.5) / scale - 0.5`` and takes LR pixels
    ``j - 2 .. j + 2`` with Keys weights (4 of the 5 nonzero); the fractional position is
    rounded to ``1 / table_size`` as TF does (None: exact)."""
    taps = np.zeros((scale, 5))
    for p in range(scale):
        t = (p + 0.5) / scale - 0.5
        if table_size:
            base = np.floor(t)
            t = base + np.rint((t - base) * table_size) / table_size
        taps[p] = keys_cubic(t - np.arange(-2, 3))
    return taps


@keras.saving.register_keras_serializable(package="kerascv_apps")
class BicubicUpsampling(keras.layers.Layer):
    """Bicubic upsampling by an integer ``scale``, per channel, as ``tf.image.resize(...,
    method="bicubic")`` computes it (Keys a = -0.5, half-pixel centres; near the border the
    taps that fall outside the image get weight 0 and the rest are renormalised, like TF's
    kernel).

    Computed as a polyphase filter: one 5x5 convolution with ``scale**2`` fixed output phases
    per channel, then depth-to-space; the border renormalisation divides by the same
    convolution of a ones map. No weights; TFLite builtin ops only.

    Args:
        scale: the integer upscaling factor (>= 2).
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        scale = int(scale)
        if scale < 2:
            raise ValueError(f"BicubicUpsampling: scale must be an int >= 2, got {scale!r}")
        self.scale = scale

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("BicubicUpsampling: the number of channels must be known")
        self._channels = int(channels)

    def _kernel(self, channels):
        r, taps = self.scale, bicubic_phase_taps(self.scale)
        kernel = np.zeros((5, 5, channels, r * r * channels), np.float32)
        for i in range(r):
            for j in range(r):
                phase = np.outer(taps[i], taps[j])
                for c in range(channels):  # depth_to_space: channel (r*i + j) * C + c
                    kernel[:, :, c, (r * i + j) * channels + c] = phase
        return kernel

    def call(self, inputs):
        kernel = ops.cast(self._kernel(self._channels), inputs.dtype)
        ones = ops.ones_like(inputs[..., :1])
        num = ops.conv(inputs, kernel, padding="same")
        den = ops.conv(ones, ops.cast(self._kernel(1), inputs.dtype), padding="same")
        if self._channels > 1:  # phase-major layout of num: repeat each phase's weight C times
            r2 = self.scale ** 2
            den = ops.concatenate([den[..., p:p + 1] for p in range(r2)
                                   for _ in range(self._channels)], axis=-1)
        return ops.depth_to_space(num / den, self.scale, data_format="channels_last")

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        r = self.scale
        return (n, None if h is None else h * r, None if w is None else w * r, c)

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale})
        return config
