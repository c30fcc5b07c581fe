"""Token layers of the Vision Transformer (Dosovitskiy et al., 2021, "An Image is Worth 16x16
Words: Transformers for Image Recognition at Scale", eq. 1)."""

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="kerascv_apps")
class ClassToken(layers.Layer):
    """Prepends a learned class token ``x_class`` to a ``(batch, tokens, dim)`` sequence.

    Args:
        initializer: initializer of the ``(1, 1, dim)`` token (zeros as in the paper's code).
    """

    def __init__(self, initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(f"ClassToken expects (batch, tokens, dim) with a known dim, got {input_shape}")
        self.token = self.add_weight(shape=(1, 1, input_shape[-1]), initializer=self.initializer,
                                     name="token")

    def call(self, x):
        token = ops.broadcast_to(ops.cast(self.token, x.dtype), (ops.shape(x)[0], 1, ops.shape(x)[-1]))
        return ops.concatenate([token, x], axis=1)

    def compute_output_shape(self, input_shape):
        tokens = None if input_shape[1] is None else input_shape[1] + 1
        return (input_shape[0], tokens, input_shape[2])

    def get_config(self):
        config = super().get_config()
        config["initializer"] = keras.initializers.serialize(self.initializer)
        return config


@keras.saving.register_keras_serializable(package="kerascv_apps")
class PositionEmbedding(layers.Layer):
    """Adds a learned position embedding ``E_pos`` of shape ``(1, tokens, dim)``.

    The number of tokens is fixed when the layer is built, so a ViT is built for one input
    size (as in the paper; fine-tuning at another size interpolates ``E_pos``).

    Args:
        initializer: initializer of the embedding (truncated normal, stddev 0.02, by default).
    """

    def __init__(self, initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.initializer = keras.initializers.get(
            initializer or keras.initializers.TruncatedNormal(stddev=0.02))

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError("PositionEmbedding expects (batch, tokens, dim) with known tokens and "
                             f"dim (build the ViT with a fixed input_shape), got {input_shape}")
        self.embedding = self.add_weight(shape=(1, input_shape[1], input_shape[2]),
                                         initializer=self.initializer, name="embedding")

    def call(self, x):
        return x + ops.cast(self.embedding, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config["initializer"] = keras.initializers.serialize(self.initializer)
        return config


def _tokenwise(x, kernel, bias):
    """``x`` (batch, tokens, d_in) @ ``kernel`` (d_in, d_out) + ``bias`` as one rank-2 product
    over all tokens: a rank-3 by rank-2 matmul is a batch matmul broadcast over the batch, which
    TensorFlow's oneDNN kernels get wrong on some CPUs; rank-2 products also lower to TFLite's
    FULLY_CONNECTED."""
    shape = ops.shape(x)
    y = ops.matmul(ops.reshape(x, (-1, kernel.shape[0])), ops.cast(kernel, x.dtype))
    y = y + ops.cast(bias, x.dtype)
    return ops.reshape(y, (shape[0], shape[1], kernel.shape[1]))


@keras.saving.register_keras_serializable(package="kerascv_apps")
class TokenDense(layers.Layer):
    """``Dense`` applied to every token of a ``(batch, tokens, dim)`` sequence (same weights,
    same result) computed as one rank-2 product; see :func:`_tokenwise`."""

    def __init__(self, units, activation=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(f"TokenDense expects (batch, tokens, dim) with a known dim, got {input_shape}")
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units),
                                      initializer=self.kernel_initializer, name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer=self.bias_initializer,
                                    name="bias")

    def call(self, x):
        return self.activation(_tokenwise(x, self.kernel, self.bias))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer)}


@keras.saving.register_keras_serializable(package="kerascv_apps")
class MultiHeadSelfAttention(layers.Layer):
    """Multi-head scaled dot-product self-attention (Vaswani et al. 2017, as used by ViT eq. 5-8):
    ``softmax(q k^T / sqrt(d)) v`` per head, heads concatenated and projected.

    The same function and parameter count (4 (D^2 + D)) as Keras' ``MultiHeadAttention(num_heads,
    D // num_heads)`` on ``(x, x)``, written so that every product is either rank-2 (the four
    projections) or a batch matmul whose operands have equal batch dimensions (batch, heads):
    no product is broadcast over the batch, which some CPUs' oneDNN kernels compute wrongly.

    Args:
        num_heads: attention heads; the token width must be divisible by it.
        dropout: dropout on the attention weights.
    """

    def __init__(self, num_heads, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.dropout = float(dropout)
        self._dropout_layer = layers.Dropout(self.dropout) if self.dropout else None

    def build(self, input_shape):
        dim = input_shape[-1]
        if len(input_shape) != 3 or dim is None or dim % self.num_heads:
            raise ValueError(f"MultiHeadSelfAttention expects (batch, tokens, dim) with dim "
                             f"divisible by num_heads={self.num_heads}, got {input_shape}")
        self.dim = dim
        for part in ("query", "key", "value", "output"):
            setattr(self, f"{part}_kernel", self.add_weight(
                shape=(dim, dim), initializer="glorot_uniform", name=f"{part}_kernel"))
            setattr(self, f"{part}_bias", self.add_weight(
                shape=(dim,), initializer="zeros", name=f"{part}_bias"))

    def _heads(self, x):  # (B, N, D) -> (B, heads, N, D / heads)
        shape = ops.shape(x)
        x = ops.reshape(x, (shape[0], shape[1], self.num_heads, self.dim // self.num_heads))
        return ops.transpose(x, (0, 2, 1, 3))

    def call(self, x, training=None):
        q = self._heads(_tokenwise(x, self.query_kernel, self.query_bias))
        k = self._heads(_tokenwise(x, self.key_kernel, self.key_bias))
        v = self._heads(_tokenwise(x, self.value_kernel, self.value_bias))
        scale = ops.cast(1.0 / (self.dim // self.num_heads) ** 0.5, q.dtype)
        weights = ops.softmax(ops.matmul(q * scale, ops.transpose(k, (0, 1, 3, 2))), axis=-1)
        if self._dropout_layer is not None:
            weights = self._dropout_layer(weights, training=training)
        y = ops.transpose(ops.matmul(weights, v), (0, 2, 1, 3))          # (B, N, heads, d)
        shape = ops.shape(y)
        y = ops.reshape(y, (shape[0], shape[1], self.dim))
        return _tokenwise(y, self.output_kernel, self.output_bias)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "dropout": self.dropout}
