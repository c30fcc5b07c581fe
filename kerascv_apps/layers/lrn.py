"""Local response normalization across channels (Krizhevsky et al., 2012, section 3.3)."""

import keras
import numpy as np
from keras import layers, ops


@keras.saving.register_keras_serializable(package="kerascv_apps")
class LocalResponseNormalization(layers.Layer):
    """AlexNet's LRN: ``b_c = a_c / (k + alpha/n * sum_{|j-c|<=r} a_j^2) ** beta``.

    ``n = 2r + 1`` channels take part in each sum (AlexNet: n = 5, k = 2, alpha = 1e-4,
    beta = 0.75; ``alpha`` is divided by ``n`` as in Caffe/PyTorch). The windowed sum is a
    matrix product with a constant banded matrix and the power is ``exp(-beta * log(.))``, so
    the layer converts to TFLite builtin ops that all have int8 kernels (MUL, FULLY_CONNECTED,
    LOG, EXP); the normalizer is computed in float32 under mixed
    precision (squares overflow float16). ``tf.nn.local_response_normalization`` would be float-only.

    Args:
        size: channels in each window (odd), ``n`` above.
        bias: ``k`` (must be positive).
        alpha: scale of the sum of squares.
        beta: exponent.
    """

    def __init__(self, size=5, bias=2.0, alpha=1e-4, beta=0.75, **kwargs):
        super().__init__(**kwargs)
        if int(size) < 1 or int(size) % 2 == 0:
            raise ValueError(f"LocalResponseNormalization: size must be a positive odd int, got {size!r}")
        if float(bias) <= 0:
            raise ValueError(f"LocalResponseNormalization: bias must be > 0, got {bias!r}")
        self.size = int(size)
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("LocalResponseNormalization needs a known channel dimension")
        idx = np.arange(channels)
        radius = self.size // 2
        self._band = (np.abs(idx[:, None] - idx[None, :]) <= radius).astype("float32")
        self._band *= self.alpha / self.size

    def call(self, x):
        # squares overflow float16 quickly: the normalizer is computed in float32
        x32 = ops.cast(x, "float32")
        denom = self.bias + ops.matmul(x32 * x32, ops.convert_to_tensor(self._band))
        return ops.cast(x32 * ops.exp(-self.beta * ops.log(denom)), x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(size=self.size, bias=self.bias, alpha=self.alpha, beta=self.beta)
        return config
