"""Autoencoder for representation learning (the lecture's "alternative to PCA"): an encoder
down to a small latent code (the layer ``bottleneck``), a decoder back up, trained to
reproduce its input (Hinton & Salakhutdinov 2006, "Reducing the dimensionality of data with
neural networks")."""

import keras
from keras import layers

from kerascv_apps.models.common import create_variant, image_input
from kerascv_apps.models.generation.common import (BOTTLENECK, DECODER, ENCODER,
                                                   check_image_shape, conv_down,
                                                   conv_up_decoder)
from kerascv_apps.registry import register_model

KINDS = ("conv", "dense")


def Autoencoder(input_shape=(32, 32, 1), latent_dim=16, kind="conv", filters=(32, 64),
                hidden_units=(256, 64), name="autoencoder"):
    """Image -> ``encoder`` -> code (``bottleneck``, linear, ``latent_dim`` units) ->
    ``decoder`` -> image ([0, 255] pixels, sigmoid output times 255).

    ``encoder`` and ``decoder`` are nested models (``kerascv-apps embed`` runs the encoder;
    the decoder maps codes to images). Trained with pixel MSE on [0, 1] (the generation task).

    Args:
        input_shape: (height, width, channels) of the images; with ``kind="conv"`` height and
            width must be multiples of ``2 ** len(filters)``.
        latent_dim: size of the code.
        kind: ``"conv"`` (stride-2 3x3 convolutions ``filters``, then a dense code; decoder:
            dense, transposed convolutions) or ``"dense"`` (a fully connected encoder with
            ``hidden_units`` and its mirror, the lecture's first autoencoder).
        filters: conv encoder widths (the decoder mirrors them).
        hidden_units: dense encoder widths (the decoder mirrors them).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    steps = len(filters) if kind == "conv" else 0
    image_shape = check_image_shape(input_shape, steps, name)
    inputs, x = image_input(image_shape, "unit")
    if kind == "conv":
        x = conv_down(x, filters, "enc")
        x = layers.Flatten(name="enc_flatten")(x)
    else:
        x = layers.Flatten(name="enc_flatten")(x)
        for i, units in enumerate(hidden_units):
            x = layers.Dense(units, activation="relu", name=f"enc_dense{i + 1}")(x)
    code = layers.Dense(latent_dim, name=BOTTLENECK)(x)
    encoder = keras.Model(inputs, code, name=ENCODER)
    if kind == "conv":
        decoder = conv_up_decoder(latent_dim, image_shape, filters, DECODER)
    else:
        z = keras.Input((latent_dim,), name="latent")
        y = z
        for i, units in enumerate(reversed(hidden_units)):
            y = layers.Dense(units, activation="relu", name=f"dec_dense{i + 1}")(y)
        size = image_shape[0] * image_shape[1] * image_shape[2]
        y = layers.Dense(size, activation="sigmoid", dtype="float32", name="dec_out")(y)
        y = layers.Reshape(image_shape, name="dec_reshape")(y)
        y = layers.Rescaling(255.0, dtype="float32", name="pixels")(y)
        decoder = keras.Model(z, y, name=DECODER)
    image = keras.Input(image_shape, name="image")
    return keras.Model(image, decoder(encoder(image)), name=name)


def _create_autoencoder(variant, arch_args, /, **kwargs):
    return create_variant(Autoencoder, variant, arch_args, kwargs)


@register_model(task="generation", family="autoencoder")
def autoencoder(**kwargs):
    """Convolutional autoencoder, 16-d bottleneck (representation, anomaly scores)."""
    return _create_autoencoder(autoencoder, dict(kind="conv"), **kwargs)


@register_model(task="generation", family="autoencoder")
def autoencoder_dense(**kwargs):
    """Fully connected autoencoder (256-64-code), 16-d bottleneck."""
    return _create_autoencoder(autoencoder_dense, dict(kind="dense"), **kwargs)
