"""Convolutional denoising autoencoder with symmetric skip connections (RED-Net: Mao, Shen,
Yang 2016, "Image Restoration Using Very Deep Convolutional Encoder-Decoder Networks with
Symmetric Skip Connections")."""

import keras
from keras import layers

from kerascv_apps.models.common import image_input, variant_arguments
from kerascv_apps.registry import register_model


def DenoisingAutoencoder(input_shape=(None, None, 3), filters=64, num_layers=10, skip_every=2,
                         residual=True, name=None):
    """Convolutional denoising autoencoder with symmetric skip connections (RED-Net, Mao et
    al. 2016): ``num_layers / 2`` 3×3 conv + ReLU layers encode, as many 3×3 transposed
    conv + ReLU layers decode; every ``skip_every`` layers an encoder feature map is added to
    the mirrored decoder feature map (then ReLU), and the last layer predicts the residual
    added to the input (``residual``; the paper's skip from the input to the output). No
    pooling or striding (as in the paper's denoising setup), so any input size works and the
    output has the input's size.

    Args:
        input_shape: (height, width, channels); None sizes stay dynamic.
        filters: channels of every hidden layer (64 in the paper).
        num_layers: total conv + deconv layers, even (the paper: 20 or 30; default 10 for CPU).
        skip_every: layers between skip connections (2 in the paper).
        residual: add the input to the output (skip from input to output).
        name: model name.
    """
    num_layers, skip_every, filters = int(num_layers), int(skip_every), int(filters)
    if num_layers < 2 or num_layers % 2 or skip_every < 1 or filters < 1:
        raise ValueError(f"DenoisingAutoencoder: need an even num_layers >= 2, skip_every >= 1 "
                         f"and filters >= 1, got {num_layers}, {skip_every}, {filters}")
    half = num_layers // 2
    inputs, image = image_input(input_shape, "unit", name="degraded_image")
    x = image
    skips = {}
    for i in range(1, half + 1):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"enc{i}")(x)
        if i % skip_every == 0 and i < half:
            skips[i] = x
    for i in range(1, half + 1):
        last = i == half
        x = layers.Conv2DTranspose(input_shape[-1] if last else filters, 3, padding="same",
                                   activation=None if last else "relu",
                                   dtype="float32" if last else None, name=f"dec{i}")(x)
        mirror = half - i  # the encoder layer at the same depth
        if mirror in skips:
            x = layers.Add(name=f"skip{mirror}")([x, skips[mirror]])
            x = layers.ReLU(name=f"skip{mirror}_relu")(x)
    if residual:
        x = layers.Add(dtype="float32", name="input_skip")([x, image])
    outputs = layers.Rescaling(255.0, dtype="float32", name="restored_image")(x)
    return keras.Model(inputs, outputs, name=name or "dae")


def _create_dae(variant, arch_args, /, **kwargs):
    return DenoisingAutoencoder(**variant_arguments(variant, arch_args, kwargs))


@register_model(task="restoration", family="dae")
def dae(**kwargs):
    """Convolutional denoising autoencoder with symmetric skips (RED-Net style), any size."""
    return _create_dae(dae, dict(filters=64, num_layers=10, skip_every=2, residual=True),
                       **kwargs)
