"""Layers of patch-based restorers (LLNet, Lore et al. 2017): colour channels as separate
gray images, and overlapping patches folded back into an image with averaging (reflected
padding is ``layers.segmentation.MirrorPadding2D``). ``keras.ops`` only; TFLite builtins
(TRANSPOSE, RESHAPE, TRANSPOSE_CONV, DIV, SLICE); dynamic height and width."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerascv_apps")
class ChannelsToBatch(keras.layers.Layer):
    """(N, H, W, C) -> (N·C, H, W, 1): each colour channel becomes a gray image, so a
    gray-image network (LLNet's patches are gray) runs on each channel with shared weights."""

    def call(self, inputs):
        shape = ops.shape(inputs)
        x = ops.transpose(inputs, (0, 3, 1, 2))
        return ops.reshape(x, (-1, shape[1], shape[2], 1))

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (None if n is None or c is None else n * c, h, w, 1)


@keras.saving.register_keras_serializable(package="kerascv_apps")
class BatchToChannels(keras.layers.Layer):
    """(N·C, H, W, 1) -> (N, H, W, C): undoes :class:`ChannelsToBatch` for ``channels``."""

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)

    def call(self, inputs):
        shape = ops.shape(inputs)
        x = ops.reshape(inputs, (-1, self.channels, shape[1], shape[2]))
        return ops.transpose(x, (0, 2, 3, 1))

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        return (None if n is None else n // self.channels, h, w, self.channels)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


@keras.saving.register_keras_serializable(package="kerascv_apps")
class PatchFold(keras.layers.Layer):
    """Overlapping patches back into an image, each pixel the mean of the patches over it.

    Inputs ``[patches, reference]``: ``patches`` (N, h, w, patch²), the flattened
    ``patch``×``patch`` patch (row-major) whose top-left corner is at (stride·i, stride·j) of
    an image padded by ``crop`` pixels on each side; ``reference`` (N, H, W, ·) gives the
    unpadded size. Every pixel of the unpadded image is covered when ``stride <= patch``. The
    fold is a transposed convolution with a fixed one-hot kernel (no weights).
    """

    def __init__(self, patch, stride, crop, **kwargs):
        super().__init__(**kwargs)
        self.patch, self.stride, self.crop = int(patch), int(stride), int(crop)
        if not 1 <= self.stride <= self.patch:
            raise ValueError(f"PatchFold: need 1 <= stride <= patch, got stride={stride}, "
                             f"patch={patch}")

    def call(self, inputs):
        patches, reference = inputs
        p, s, c = self.patch, self.stride, self.crop
        kernel = ops.reshape(ops.eye(p * p, dtype=patches.dtype), (p, p, 1, p * p))
        summed = ops.conv_transpose(patches, kernel, strides=s, padding="valid")
        ones = ops.ones_like(patches[..., :1])
        count = ops.conv_transpose(ones, ops.ones((p, p, 1, 1), dtype=patches.dtype),
                                   strides=s, padding="valid")
        mean = summed / ops.maximum(count, 1.0)
        shape = ops.shape(reference)
        return ops.slice(mean, [0, c, c, 0], [shape[0], shape[1], shape[2], 1])

    def compute_output_shape(self, input_shapes):
        n, h, w, _ = input_shapes[1]
        return (n, h, w, 1)

    def get_config(self):
        return {**super().get_config(), "patch": self.patch, "stride": self.stride,
                "crop": self.crop}
