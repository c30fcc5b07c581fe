"""ESPCN, the edge upscaler (Shi et al. 2016, "Real-Time Single Image and Video
Super-Resolution Using an Efficient Sub-Pixel Convolutional Neural Network", CVPR)."""

import keras
from keras import layers

from kerascv_apps.layers.pixel_shuffle import PixelShuffle
from kerascv_apps.models.common import image_input, variant_arguments
from kerascv_apps.registry import register_model


def ESPCN(input_shape=(None, None, 3), scale=2, stackwise_num_filters=(64, 32),
          stackwise_kernel_sizes=(5, 3), output_kernel_size=3, activation="tanh",
          anchor_skip=True, name=None):
    """ESPCN: a few convolutions in LR space, then one sub-pixel (depth-to-space) layer.

    The paper's network is conv5×5(64) - conv3×3(32) - conv3×3(3·r²) - periodic shuffle,
    tanh activations, all computed at LR resolution, so it is cheap enough for a phone. The
    LR input is scaled to [0, 1] inside and the output is mapped back to [0, 255] by a
    float32 ``Rescaling(255)``. Fully convolutional (any input size). With the defaults
    (×2) the model has 26,796 parameters.

    Args:
        input_shape: (height, width, channels) of the LR input; ``None`` sizes stay dynamic.
        scale: upscaling factor r (2, 3, 4, ...).
        stackwise_num_filters: channels of the hidden convolutions.
        stackwise_kernel_sizes: kernel size of each hidden convolution.
        output_kernel_size: kernel of the last conv (to channels·r²).
        activation: hidden activation ('tanh' in the paper; 'relu' also works).
        anchor_skip: add the input, repeated r² times along channels, to the last conv's
            output before the shuffle, so the network predicts a residual over nearest-
            neighbour upsampling (the "anchor" of Du et al. 2021, "Anchor-based Plain Net
            for Mobile Image Super-Resolution"); costs one concat + add, int8-friendly, and
            trains much faster. On by default: in the CLI's default budget (1,000 steps)
            the paper's ESPCN (``anchor_skip=False``) only matched bicubic on held-out
            photos (+0.01 dB), the anchored one gained +0.92 dB (same data; see
            ``recipes/super_resolution/benchmark.py``).
        name: model name (default ``espcn_x{scale}``).
    """
    if len(stackwise_num_filters) != len(stackwise_kernel_sizes):
        raise ValueError("stackwise_num_filters and stackwise_kernel_sizes must have the same "
                         f"length, got {stackwise_num_filters} and {stackwise_kernel_sizes}")
    if int(scale) < 2:
        raise ValueError(f"scale must be an int >= 2, got {scale!r}")
    inputs, x = image_input(input_shape, "unit", name="lr_image")
    lr = x
    for i, (filters, kernel) in enumerate(zip(stackwise_num_filters, stackwise_kernel_sizes)):
        x = layers.Conv2D(filters, kernel, padding="same", activation=activation,
                          name=f"conv{i + 1}")(x)
    channels = input_shape[-1]
    x = layers.Conv2D(channels * scale * scale, output_kernel_size, padding="same",
                      name="subpixel_conv")(x)
    if anchor_skip:
        anchor = layers.Concatenate(axis=-1, name="anchor_repeat")([lr] * (scale * scale))
        x = layers.Add(name="anchor_add")([x, anchor])
    x = PixelShuffle(scale, name="pixel_shuffle")(x)
    outputs = layers.Rescaling(255.0, dtype="float32", name="hr_image")(x)
    return keras.Model(inputs, outputs, name=name or f"espcn_x{scale}")


def _create_espcn(variant, arch_args, **kwargs):
    return ESPCN(**variant_arguments(variant, arch_args, kwargs))


@register_model(task="super_resolution", family="espcn")
def espcn_x2(**kwargs):
    """ESPCN ×2 (Shi et al. 2016), the phone upscaler."""
    return _create_espcn(espcn_x2, dict(scale=2), **kwargs)


@register_model(task="super_resolution", family="espcn")
def espcn_x3(**kwargs):
    """ESPCN ×3 (Shi et al. 2016)."""
    return _create_espcn(espcn_x3, dict(scale=3), **kwargs)


@register_model(task="super_resolution", family="espcn")
def espcn_x4(**kwargs):
    """ESPCN ×4 (Shi et al. 2016)."""
    return _create_espcn(espcn_x4, dict(scale=4), **kwargs)
