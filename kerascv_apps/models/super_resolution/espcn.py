"""ESPCN, the edge upscaler (Shi et al. 2016, "Real-Time Single Image and Video
Super-Resolution Using an Efficient Sub-Pixel Convolutional Neural Network", CVPR)."""

import keras
from keras import layers

from kerascv_apps.layers.color import BicubicUpsampling, RGBToYCbCr, YCbCrToRGB
from kerascv_apps.layers.pixel_shuffle import PixelShuffle
from kerascv_apps.models.common import image_input, variant_arguments
from kerascv_apps.registry import register_model


def ESPCN(input_shape=(None, None, 3), scale=2, stackwise_num_filters=(64, 32),
          stackwise_kernel_sizes=None, output_kernel_size=3, activation="tanh",
          anchor_skip=True, color_mode="rgb", name=None):
    """ESPCN: a few convolutions in LR space, then one sub-pixel (depth-to-space) layer.

    The paper's network is conv5×5(64) - conv3×3(32) - conv3×3(r²) - periodic shuffle,
    tanh activations, all computed at LR resolution, so it is cheap enough for a phone. The
    paper super-resolves the luminance only: its images are converted to YCbCr, the network
    sees and predicts Y, and Cb/Cr are upscaled bicubically (Shi et al. 2016, section 3.1).
    The LR input is scaled to [0, 1] inside and the output is mapped back to [0, 255] by a
    float32 ``Rescaling(255)``. Fully convolutional (any input size).

    Whatever ``color_mode``, the model takes and returns RGB [0, 255] pixels, so training,
    evaluation (PSNR-Y and RGB), prediction, int8/TFLite export and the phone apps treat
    both kinds alike. With ``color_mode="y"`` the colour handling is inside the model, in
    weight-free layers: ``RGBToYCbCr`` (full-range BT.601), the network on Y, Cb/Cr by
    ``BicubicUpsampling`` (the same numbers as ``tf.image.resize(..., "bicubic")``, i.e. the
    bicubic baseline's), ``YCbCrToRGB``; the parameter count is the network's (21,284 at ×2
    with the paper's channels). The task's pixel loss on the RGB output trains the Y network
    alone (the chroma path has no weights); the paper trained on Y with MSE.
    ``color_mode="rgb"`` runs the same network on the three RGB channels (3·r² outputs,
    26,796 parameters at ×2 with the paper's channels).

    Args:
        input_shape: (height, width, channels) of the LR input; ``None`` sizes stay dynamic.
        scale: upscaling factor r (2, 3, 4, ...).
        stackwise_num_filters: channels of the hidden convolutions.
        stackwise_kernel_sizes: kernel size of each hidden convolution (default: 5 for the
            first, 3 for the others).
        output_kernel_size: kernel of the last conv (to r² per super-resolved channel).
        activation: hidden activation ('tanh' in the paper; 'relu' also works).
        anchor_skip: add the input, repeated r² times along channels, to the last conv's
            output before the shuffle, so the network predicts a residual over nearest-
            neighbour upsampling (the "anchor" of Du et al. 2021, "Anchor-based Plain Net
            for Mobile Image Super-Resolution"); costs one concat + add, int8-friendly, and
            trains much faster. On by default: in the CLI's default budget (1,000 steps)
            the paper-sized network on RGB (``color_mode="rgb"``, ``anchor_skip=False``)
            only matched bicubic on held-out photos (+0.01 dB), the anchored one gained
            +0.92 dB (same data; see ``recipes/super_resolution/benchmark.py``; measured on
            RGB, before the paper variant moved to Y).
        color_mode: ``"y"`` (the paper: super-resolve the luminance, chroma bicubic) or
            ``"rgb"`` (all three channels through the network; the registered edge
            upscalers ``espcn_x*``).
        name: model name (default ``espcn_x{scale}``).
    """
    if stackwise_kernel_sizes is None:
        stackwise_kernel_sizes = (5,) + (3,) * (len(stackwise_num_filters) - 1)
    if len(stackwise_num_filters) != len(stackwise_kernel_sizes):
        raise ValueError("stackwise_num_filters and stackwise_kernel_sizes must have the same "
                         f"length, got {stackwise_num_filters} and {stackwise_kernel_sizes}")
    if int(scale) < 2:
        raise ValueError(f"scale must be an int >= 2, got {scale!r}")
    if color_mode not in ("y", "rgb"):
        raise ValueError(f"color_mode must be 'y' (luminance, the paper) or 'rgb', got "
                         f"{color_mode!r}")
    if color_mode == "y" and input_shape[-1] != 3:
        raise ValueError(f"color_mode='y' needs RGB input (3 channels), got input_shape "
                         f"{input_shape!r}")
    inputs, x = image_input(input_shape, "unit", name="lr_image")
    chroma = None
    if color_mode == "y":
        x, chroma = RGBToYCbCr(name="rgb_to_ycbcr")(x)
    lr = x
    for i, (filters, kernel) in enumerate(zip(stackwise_num_filters, stackwise_kernel_sizes)):
        x = layers.Conv2D(filters, kernel, padding="same", activation=activation,
                          name=f"conv{i + 1}")(x)
    channels = 1 if color_mode == "y" else input_shape[-1]
    x = layers.Conv2D(channels * scale * scale, output_kernel_size, padding="same",
                      name="subpixel_conv")(x)
    if anchor_skip:
        anchor = layers.Concatenate(axis=-1, name="anchor_repeat")([lr] * (scale * scale))
        x = layers.Add(name="anchor_add")([x, anchor])
    x = PixelShuffle(scale, name="pixel_shuffle")(x)
    if chroma is not None:
        chroma = BicubicUpsampling(scale, name="chroma_bicubic")(chroma)
        x = YCbCrToRGB(name="ycbcr_to_rgb")([x, chroma])
    outputs = layers.Rescaling(255.0, dtype="float32", name="hr_image")(x)
    return keras.Model(inputs, outputs, name=name or f"espcn_x{scale}")


# The registered edge upscalers: one more 3x3 layer (64, 64, 32 channels), ReLU, anchor skip
# (63,724 parameters at x2). Measured on the held-out photos (mean PSNR-Y gain over bicubic of
# the same LR, made by TF bicubic with antialias / without / Pillow; CLI defaults, 1,000 steps
# of 64 crops of 24x24, L1 loss, training LR from TF bicubic with and without antialias):
# +0.62 / +0.00 / +0.62 dB, the paper-sized anchored network +0.61 / -0.11 / +0.61 dB (MSE,
# LR also from area). See recipes/super_resolution/benchmark.py.
EDGE_ARGS = dict(stackwise_num_filters=(64, 64, 32), activation="relu", anchor_skip=True,
                 color_mode="rgb")
# Shi et al. 2016: Y channel, conv5x5(64) - tanh - conv3x3(32) - tanh - conv3x3(r^2) - shuffle;
# Cb/Cr bicubic. color_mode="rgb" is the same network on RGB (3r^2 outputs). Measured, one seed,
# 300 steps (kerascv-apps train --model espcn_paper_x2 --dataset photos --epochs 3
# --steps-per-epoch 100 [--model-arg color_mode=rgb]), 3 held-out photos, gain over bicubic:
# Y -0.69 dB PSNR-Y / -0.67 dB PSNR-RGB, RGB -1.04 / -1.62 dB: neither beats bicubic at this
# budget (the anchor skip of the edge upscalers is what does).
PAPER_ARGS = dict(stackwise_num_filters=(64, 32), activation="tanh", anchor_skip=False,
                  color_mode="y")


def _create_espcn(variant, arch_args, /, **kwargs):
    return ESPCN(**variant_arguments(variant, arch_args, kwargs))


@register_model(task="super_resolution", family="espcn", info={"scale": 2})
def espcn_x2(**kwargs):
    """ESPCN ×2 edge upscaler (Shi et al. 2016; wider, anchor skip: ``EDGE_ARGS``)."""
    return _create_espcn(espcn_x2, dict(EDGE_ARGS, scale=2), **kwargs)


@register_model(task="super_resolution", family="espcn", info={"scale": 3})
def espcn_x3(**kwargs):
    """ESPCN ×3 edge upscaler (``EDGE_ARGS``)."""
    return _create_espcn(espcn_x3, dict(EDGE_ARGS, scale=3), **kwargs)


@register_model(task="super_resolution", family="espcn", info={"scale": 4})
def espcn_x4(**kwargs):
    """ESPCN ×4 edge upscaler (``EDGE_ARGS``)."""
    return _create_espcn(espcn_x4, dict(EDGE_ARGS, scale=4), **kwargs)


@register_model(task="super_resolution", family="espcn", info={"scale": 2})
def espcn_paper_x2(**kwargs):
    """ESPCN ×2 as in Shi et al. 2016: the luminance (Y) super-resolved, Cb/Cr bicubic, RGB
    in and out (21,284 parameters, no anchor skip). ``color_mode="rgb"``: the same network
    on RGB (26,796 parameters)."""
    return _create_espcn(espcn_paper_x2, dict(PAPER_ARGS, scale=2), **kwargs)


@register_model(task="super_resolution", family="espcn", info={"scale": 3})
def espcn_paper_x3(**kwargs):
    """ESPCN ×3 as in Shi et al. 2016 (Y channel; ``color_mode="rgb"`` for RGB)."""
    return _create_espcn(espcn_paper_x3, dict(PAPER_ARGS, scale=3), **kwargs)


@register_model(task="super_resolution", family="espcn", info={"scale": 4})
def espcn_paper_x4(**kwargs):
    """ESPCN ×4 as in Shi et al. 2016 (Y channel; ``color_mode="rgb"`` for RGB)."""
    return _create_espcn(espcn_paper_x4, dict(PAPER_ARGS, scale=4), **kwargs)
