"""Parameter-free residual shortcuts (ResNet option A, He et al. 2015, "Deep Residual Learning
for Image Recognition", section 3.3 / 4.1)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerascv_apps")
class ZeroPadShortcut(keras.layers.Layer):
    """Identity shortcut that matches a block's output shape without parameters.

    Option A of the ResNet paper: when a block halves the resolution, the shortcut takes every
    ``strides``-th pixel (what a 1x1 convolution with that stride sees), and when the block
    has more output channels, the extra channels are zeros appended after the input ones.

    Args:
        filters: number of output channels (at least the number of input channels).
        strides: spatial subsampling factor (1 or more).
    """

    def __init__(self, filters, strides=1, **kwargs):
        super().__init__(**kwargs)
        if int(filters) < 1:
            raise ValueError(f"ZeroPadShortcut: filters must be a positive int, got {filters!r}")
        if int(strides) < 1:
            raise ValueError(f"ZeroPadShortcut: strides must be a positive int, got {strides!r}")
        self.filters = int(filters)
        self.strides = int(strides)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or channels > self.filters:
            raise ValueError(f"ZeroPadShortcut({self.name!r}): input has {channels} channels, "
                             f"expected a known number <= filters={self.filters}")

    def call(self, inputs):
        x = inputs
        if self.strides > 1:
            x = x[:, ::self.strides, ::self.strides, :]
        extra = self.filters - inputs.shape[-1]
        if extra:
            x = ops.pad(x, [[0, 0], [0, 0], [0, 0], [0, extra]])
        return x

    def compute_output_shape(self, input_shape):
        def sub(dim):
            return None if dim is None else -(-dim // self.strides)
        return (input_shape[0], sub(input_shape[1]), sub(input_shape[2]), self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, strides=self.strides)
        return config
