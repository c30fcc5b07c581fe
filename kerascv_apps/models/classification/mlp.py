"""Multi-layer perceptron baseline (the lectures' first classifier)."""

import keras
from keras import layers

from kerascv_apps.models.common import create_variant, image_input, predictions
from kerascv_apps.registry import register_model


def MLP(input_shape=(28, 28, 1), num_classes=10, hidden_units=(128,), activation="relu",
        dropout=0.2, include_top=True, classifier_activation="softmax", preprocessing="unit",
        name="mlp"):
    """Fully connected classifier on flattened pixels.

    With a 28x28 input and ``hidden_units=(128,)`` the first layer holds 784 * 128 = 100,352
    weights, the figure quoted in the lectures; such a net reaches about 97% on MNIST.

    Args:
        input_shape: (height, width, channels) of the input images.
        num_classes: number of output classes.
        hidden_units: width of each hidden layer.
        activation: hidden activation.
        dropout: dropout rate after each hidden layer (0 disables).
        include_top: whether to add the class layer.
        classifier_activation: activation of the class layer (``None`` for logits).
        preprocessing: what raw [0, 255] RGB becomes inside the model: ``'unit'`` (x / 255),
            ``'caffe'``, ``'tf'``, ``'torch'`` (keras.applications' modes) or None.
    """
    inputs, x = image_input(input_shape, preprocessing)
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(hidden_units, start=1):
        x = layers.Dense(units, activation=activation, name=f"fc{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    if include_top:
        x = predictions(x, num_classes, classifier_activation, model="MLP")
    return keras.Model(inputs, x, name=name)


def _create_mlp(variant, arch_args, **kwargs):
    return create_variant(MLP, variant, arch_args, kwargs)


@register_model(task="classification", family="mlp")
def mlp(**kwargs):
    """MLP baseline: flatten, hidden dense layers, softmax."""
    return _create_mlp(mlp, {}, **kwargs)
