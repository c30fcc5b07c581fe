"""Pieces every model builder shares: the input stem and the classification head."""

import keras
from keras import layers

POOLINGS = (None, "avg", "max", "flatten")


def image_input(input_shape, rescale=True, name="image"):
    """Returns ``(inputs, x)``: the Input and, with ``rescale``, pixels mapped to [0, 1]."""
    if input_shape is None or len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}")
    inputs = keras.Input(shape=tuple(input_shape), name=name)
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs) if rescale else inputs
    return inputs, x


def classifier_head(x, num_classes, include_top=True, pooling="avg", dropout=0.0,
                    classifier_activation="softmax", name="predictions"):
    """Global pooling (or flatten), optional dropout, and the class layer.

    Without ``include_top`` the pooled features (or, with ``pooling=None``, the feature map)
    are returned. The activation runs in float32 so mixed precision keeps stable outputs.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    if pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    elif pooling == "flatten":
        x = layers.Flatten(name="flatten")(x)
    if not include_top:
        return x
    if pooling is None:
        raise ValueError("include_top=True needs a pooling ('avg', 'max' or 'flatten')")
    if num_classes is None or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if dropout:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    x = layers.Dense(num_classes, name=f"{name}_dense")(x)
    return layers.Activation(classifier_activation, dtype="float32", name=name)(x)
