"""Sub-pixel convolution upsampling (Shi et al. 2016, "Real-Time Single Image and Video
Super-Resolution Using an Efficient Sub-Pixel Convolutional Neural Network")."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerascv_apps")
class PixelShuffle(keras.layers.Layer):
    """Depth-to-space: (N, H, W, C*r*r) -> (N, H*r, W*r, C), channels last.

    Built on ``keras.ops.depth_to_space``, which the TFLite converter maps to the builtin
    ``DEPTH_TO_SPACE`` op (float and int8), with dynamic height and width.

    Args:
        scale: the block size ``r`` (an int >= 2).
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        scale = int(scale)
        if scale < 2:
            raise ValueError(f"PixelShuffle: scale must be an int >= 2, got {scale!r}")
        self.scale = scale

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is not None and channels % (self.scale ** 2):
            raise ValueError(f"PixelShuffle({self.scale}): input channels ({channels}) must be "
                             f"divisible by scale**2 = {self.scale ** 2}")

    def call(self, inputs):
        return ops.depth_to_space(inputs, self.scale, data_format="channels_last")

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        r = self.scale
        return (n, None if h is None else h * r, None if w is None else w * r,
                None if c is None else c // (r * r))

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale})
        return config
