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
