"""Convolutional autoencoder for restoration: a plain encoder-decoder, a ConvNet trained by
auto-association (Masci et al. 2011, "Stacked Convolutional Auto-Encoders for Hierarchical
Feature Extraction")."""

import keras
from keras import layers

from kerascv_apps.layers.alignment import CropToMatch, PadToMultiple
from kerascv_apps.models.common import image_input, variant_arguments
from kerascv_apps.registry import register_model


def ConvAutoencoder(input_shape=(None, None, 3), filters=(32, 64), bottleneck=128, name=None):
    """Encoder-decoder without skip connections: each encoder level is a 3×3 conv + ReLU and
    a stride-2 3×3 conv + ReLU (height and width halve); a 3×3 bottleneck conv with
    ``bottleneck`` channels; each decoder level a stride-2 3×3 transposed conv + ReLU and a
    3×3 conv + ReLU; a 3×3 sigmoid conv to 3 channels, scaled to [0, 255]. The image is
    zero-padded at the bottom/right to a multiple of 2^levels and cropped back, so any input
    size works.

    Args:
        input_shape: (height, width, channels); None sizes stay dynamic.
        filters: channels of each encoder level (the decoder mirrors them).
        bottleneck: channels of the bottleneck.
        name: model name.
    """
    filters = tuple(int(f) for f in filters)
    if not filters or min(filters) < 1 or int(bottleneck) < 1:
        raise ValueError(f"ConvAutoencoder: filters and bottleneck must be positive, got "
                         f"{filters}, {bottleneck}")
    inputs, x = image_input(input_shape, "unit", name="degraded_image")
    x = PadToMultiple(2 ** len(filters), name="pad")(x)
    for i, f in enumerate(filters, start=1):
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"enc{i}_conv")(x)
        x = layers.Conv2D(f, 3, strides=2, padding="same", activation="relu",
                          name=f"enc{i}_down")(x)
    x = layers.Conv2D(int(bottleneck), 3, padding="same", activation="relu",
                      name="bottleneck")(x)
    for i, f in enumerate(reversed(filters), start=1):
        x = layers.Conv2DTranspose(f, 3, strides=2, padding="same", activation="relu",
                                   name=f"dec{i}_up")(x)
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"dec{i}_conv")(x)
    x = layers.Conv2D(input_shape[-1], 3, padding="same", activation="sigmoid", dtype="float32",
                      name="output_conv")(x)
    x = CropToMatch(name="crop")([x, inputs])
    outputs = layers.Rescaling(255.0, dtype="float32", name="restored_image")(x)
    return keras.Model(inputs, outputs, name=name or "conv_autoencoder")


def _create_conv_autoencoder(variant, arch_args, /, **kwargs):
    return ConvAutoencoder(**variant_arguments(variant, arch_args, kwargs))


@register_model(task="restoration", family="conv_autoencoder")
def conv_autoencoder(**kwargs):
    """Convolutional autoencoder (two stride-2 levels, no skips), any input size."""
    return _create_conv_autoencoder(conv_autoencoder, dict(filters=(32, 64), bottleneck=128),
                                    **kwargs)
