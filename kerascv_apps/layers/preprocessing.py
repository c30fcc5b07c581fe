"""In-model input preprocessing: raw [0, 255] RGB pixels always go in.

Released ImageNet weights expect the preprocessing they were trained with; carrying it inside
the model keeps every caller (training, evaluation, TFLite, serving) on raw pixels.
"""

import keras
from keras import ops

# keras.applications' preprocessing modes (keras.applications.imagenet_utils.preprocess_input)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN_RGB = (0.485, 0.456, 0.406)
TORCH_STD_RGB = (0.229, 0.224, 0.225)
MODES = ("unit", "caffe", "tf", "torch")


def check_mode(preprocessing):
    """``None`` (no preprocessing) or one of ``MODES``; anything else is refused."""
    if preprocessing is not None and preprocessing not in MODES:
        raise ValueError(f"preprocessing must be one of {MODES} or None, got {preprocessing!r}")
    return preprocessing


@keras.saving.register_keras_serializable(package="kerascv_apps")
class ImagePreprocessing(keras.layers.Layer):
    """Maps raw [0, 255] RGB to what a weight set expects.

    Modes (as ``keras.applications.imagenet_utils.preprocess_input``):
    ``unit``: x / 255; ``tf``: x / 127.5 - 1; ``caffe``: RGB -> BGR minus the ImageNet BGR mean
    (no scaling); ``torch``: (x / 255 - mean) / std per RGB channel.
    """

    def __init__(self, mode="unit", **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"ImagePreprocessing: mode must be one of {MODES}, got {mode!r}")
        self.mode = mode

    def call(self, x):
        if self.mode == "unit":
            return x / 255.0
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "caffe":
            mean = ops.convert_to_tensor(CAFFE_MEAN_BGR, dtype=x.dtype)
            return ops.flip(x, axis=-1) - mean
        mean = ops.convert_to_tensor(TORCH_MEAN_RGB, dtype=x.dtype)
        std = ops.convert_to_tensor(TORCH_STD_RGB, dtype=x.dtype)
        return (x / 255.0 - mean) / std

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode)
        return config
