"""ESPCN, the edge upscaler (Shi et al. 2016, "Real-Time Single Image and Video
Super-Resolution Using an Efficient Sub-Pixel Convolutional Neural Network", CVPR)."""

import keras
from keras import layers

from kerascv_apps.layers.pixel_shuffle import PixelShuffle
from kerascv_apps.models.common import image_input, variant_arguments
from kerascv_apps.registry import register_model


def ESPCN(input_shape=(None, None, 3), scale=2, stackwise_num_filters=(64, 32),
          stackwise_kernel_sizes=None, output_kernel_size=3, activation="tanh",
          anchor_skip=True, name=None):
    """ESPCN: a few convolutions in LR space, then one sub-pixel (depth-to-space) layer.

    The paper's network is conv5×5(64) - conv3×3(32) - conv3×3(3·r²) - periodic shuffle,
    tanh activations, all computed at LR resolution, so it is cheap enough for a phone. The
    LR input is scaled to [0, 1] inside and the output is mapped back to [0, 255] by a
    float32 ``Rescaling(255)``. Fully convolutional (any input size). With the builder's
    defaults (×2) the model has 26,796 parameters; the registered ``espcn_x2/x3/x4`` are
    wider and deeper (``EDGE_ARGS``), ``espcn_paper_x2/x3/x4`` are the paper's network.

    Args:
        input_shape: (height, width, channels) of the LR input; ``None`` sizes stay dynamic.
        scale: upscaling factor r (2, 3, 4, ...).
        stackwise_num_filters: channels of the hidden convolutions.
        stackwise_kernel_sizes: kernel size of each hidden convolution (default: 5 for the
            first, 3 for the others).
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
    if stackwise_kernel_sizes is None:
        stackwise_kernel_sizes = (5,) + (3,) * (len(stackwise_num_filters) - 1)
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


# The registered edge upscalers: one more 3x3 layer (64, 64, 32 channels), ReLU, anchor skip
# (63,724 parameters at x2). Measured on the held-out photos (mean PSNR-Y gain over bicubic of
# the same LR, made by TF bicubic with antialias / without / Pillow; CLI defaults, 1,000 steps
# of 64 crops of 24x24, L1 loss, training LR from TF bicubic with and without antialias):
# +0.62 / +0.00 / +0.62 dB, the paper-sized anchored network +0.61 / -0.11 / +0.61 dB (MSE,
# LR also from area). See recipes/super_resolution/benchmark.py.
EDGE_ARGS = dict(stackwise_num_filters=(64, 64, 32), activation="relu", anchor_skip=True)
# Shi et al. 2016: conv5x5(64) - tanh - conv3x3(32) - tanh - conv3x3(3r^2) - shuffle.
PAPER_ARGS = dict(stackwise_num_filters=(64, 32), activation="tanh", anchor_skip=False)


def _create_espcn(variant, arch_args, /, **kwargs):
    return ESPCN(**variant_arguments(variant, arch_args, kwargs))


@register_model(task="super_resolution", family="espcn")
def espcn_x2(**kwargs):
    """ESPCN ×2 edge upscaler (Shi et al. 2016; wider, anchor skip: ``EDGE_ARGS``)."""
    return _create_espcn(espcn_x2, dict(EDGE_ARGS, scale=2), **kwargs)


@register_model(task="super_resolution", family="espcn")
def espcn_x3(**kwargs):
    """ESPCN ×3 edge upscaler (``EDGE_ARGS``)."""
    return _create_espcn(espcn_x3, dict(EDGE_ARGS, scale=3), **kwargs)


@register_model(task="super_resolution", family="espcn")
def espcn_x4(**kwargs):
    """ESPCN ×4 edge upscaler (``EDGE_ARGS``)."""
    return _create_espcn(espcn_x4, dict(EDGE_ARGS, scale=4), **kwargs)


@register_model(task="super_resolution", family="espcn")
def espcn_paper_x2(**kwargs):
    """ESPCN ×2 exactly as in Shi et al. 2016 (26,796 parameters, no anchor skip)."""
    return _create_espcn(espcn_paper_x2, dict(PAPER_ARGS, scale=2), **kwargs)


@register_model(task="super_resolution", family="espcn")
def espcn_paper_x3(**kwargs):
    """ESPCN ×3 exactly as in Shi et al. 2016."""
    return _create_espcn(espcn_paper_x3, dict(PAPER_ARGS, scale=3), **kwargs)


@register_model(task="super_resolution", family="espcn")
def espcn_paper_x4(**kwargs):
    """ESPCN ×4 exactly as in Shi et al. 2016."""
    return _create_espcn(espcn_paper_x4, dict(PAPER_ARGS, scale=4), **kwargs)
