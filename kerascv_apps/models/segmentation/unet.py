"""U-Net (Ronneberger, Fischer & Brox 2015, "U-Net: Convolutional Networks for Biomedical Image
Segmentation"), paper-faithful (valid convolutions, crop-and-concatenate skips, mirrored input
tiles) and a same-padded variant, plus the tiling arithmetic the valid variant needs."""

import math

import keras
import numpy as np
from keras import layers

from kerascv_apps.layers.alignment import AlignedResize, SizeConstraint
from kerascv_apps.layers.segmentation import CenterCropToMatch, MirrorPadding2D
from kerascv_apps.models.common import image_input, variant_arguments
from kerascv_apps.models.segmentation._base import (apply_on, check_static_size, crop_to_input,
                                                    pad_to_stride)
from kerascv_apps.registry import register_model

VARIANTS = ("paper", "same")


# --- size arithmetic of the valid (paper) variant ------------------------------------------
def unet_margin(depth):
    """Pixels lost on each side by the valid variant: ``(input - output) / 2 = 6 * 2**depth - 4``.

    Every level loses 4 px (two valid 3x3 convs) at its own resolution on the way down and up:
    ``2 * sum_{l<depth} 4 * 2**l / 2 + 4 * 2**depth / 2 = 6 * 2**depth - 4`` (92 for depth 4).
    """
    return 6 * 2 ** int(depth) - 4


def unet_output_size(input_size, depth=4):
    """Output size of the valid variant for one spatial dimension, or ``None`` if ``input_size``
    is not valid (some map before a 2x2 pooling would be odd, or a map would vanish)."""
    size = int(input_size)
    for _ in range(depth):
        size -= 4
        if size < 2 or size % 2:
            return None
        size //= 2
    size -= 4
    if size < 1:
        return None
    for _ in range(depth):
        size = size * 2 - 4
    return size if size >= 1 else None


def unet_input_size(min_output_size, depth=4):
    """Smallest valid input size whose valid-variant output covers ``min_output_size`` pixels."""
    size = int(min_output_size) + 2 * unet_margin(depth)
    while unet_output_size(size, depth) is None:
        size += 1
    return size


def unet_tiling(image_size, depth=4, tile_output_size=None):
    """How to predict a whole image with the valid variant (the paper's overlap-tile strategy).

    Args:
        image_size: (height, width) of the image.
        depth: number of poolings of the model.
        tile_output_size: output tile size (one int, rounded up to a valid size); default: one
            tile covering the whole image. Mirror padding needs the padding on each side to be
            smaller than the image.

    Returns:
        dict with ``tile_input`` / ``tile_output`` (height, width), ``tiles`` (rows, cols),
        ``padding`` ((top, bottom), (left, right)) of mirror padding to apply to the image, and
        ``margin``. The padded image is cut into overlapping input tiles with stride
        ``tile_output``; their outputs laid side by side cover the image, extra rows/columns
        at the bottom/right are cropped.
    """
    margin = unet_margin(depth)
    tile_in, tile_out, tiles, padding = [], [], [], []
    for i, size in enumerate(image_size):
        want = size if tile_output_size is None else int(tile_output_size)
        t_in = unet_input_size(want, depth)
        t_out = unet_output_size(t_in, depth)
        count = math.ceil(size / t_out)
        covered = count * t_out
        tile_in.append(t_in)
        tile_out.append(t_out)
        tiles.append(count)
        padding.append((margin, margin + covered - size))
    return {"tile_input": tuple(tile_in), "tile_output": tuple(tile_out), "tiles": tuple(tiles),
            "padding": tuple(padding), "margin": margin}


def unet_tile_args(model, image_size, depth=4, tile_output_size=None):
    """Arguments of ``kerascv_apps.inference.tiling.predict_tiled`` that run the valid
    variant over a whole (height, width) image: mirrored border of ``unet_margin``, equal
    tiles whose outputs lie side by side (see :func:`unet_tiling`). ``model`` may have a fixed
    tile input size (it is then used) or ``None`` spatial dims."""
    fixed = tuple(model.inputs[0].shape[1:3])
    if None not in fixed:
        tile_output_size = unet_output_size(fixed[0], depth)
        if tile_output_size is None or fixed[0] != fixed[1]:
            raise ValueError(f"unet_tile_args: model input {fixed} is not a square valid size "
                             f"for depth {depth}")
    plan = unet_tiling(image_size, depth, tile_output_size)
    return {"tile": plan["tile_output"], "context": plan["margin"], "shrink": plan["margin"],
            "same_size": True}


# --- blocks -------------------------------------------------------------------------------
def conv_pair(x, filters, padding, batch_norm, dropout=0.0, name="block"):
    """Two 3x3 convolutions (+ BN) + ReLU, the unit of both paths."""
    for i in (1, 2):
        x = layers.Conv2D(filters, 3, padding=padding, use_bias=not batch_norm,
                          kernel_initializer="he_normal", name=f"{name}_conv{i}")(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
    if dropout:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


def context_module(x, filters, dilations, batch_norm, name="context"):
    """Dilated 3x3 convolutions with growing rates (Yu & Koltun 2016) at the bottleneck,
    added residually; same padding so the U-Net size arithmetic is unchanged."""
    y = x
    for rate in dilations:
        y = layers.Conv2D(filters, 3, padding="same", dilation_rate=rate, use_bias=not batch_norm,
                          kernel_initializer="he_normal", name=f"{name}_d{rate}_conv")(y)
        if batch_norm:
            y = layers.BatchNormalization(name=f"{name}_d{rate}_bn")(y)
        y = layers.Activation("relu", name=f"{name}_d{rate}_relu")(y)
    return layers.Add(name=f"{name}_add")([x, y])


def up_block(x, skip, filters, padding, batch_norm, name):
    """2x2 up-convolution halving the channels, crop the encoder map, concatenate, two convs."""
    x = layers.Conv2DTranspose(filters, 2, strides=2, kernel_initializer="he_normal",
                               name=f"{name}_upconv")(x)
    if padding == "valid":
        skip = CenterCropToMatch(name=f"{name}_crop")([skip, x])
    x = layers.Concatenate(name=f"{name}_concat")([skip, x])
    return conv_pair(x, filters, padding, batch_norm, name=name)


def UNet(input_shape=(None, None, 3), num_classes=2, variant="paper", base_filters=64, depth=4,
         batch_norm=False, dropout=0.5, context_dilations=None, pad_input=False,
         classifier_activation="softmax", rescale=True, name="unet"):
    """U-Net: a contracting path of two 3x3 convs + 2x2 max pooling per level with channels
    doubling from ``base_filters``, a symmetric expanding path of 2x2 up-convolutions halving
    the channels, concatenation with the (cropped) encoder map and two 3x3 convs, and a 1x1
    convolution to the classes (Ronneberger et al. 2015).

    ``variant='paper'`` uses valid convolutions: the output is smaller than the input
    (572x572 -> 388x388 for depth 4), see :func:`unet_output_size` / :func:`unet_tiling` /
    :func:`unet_tile_args` for the arithmetic and the overlap-tile prediction with mirrored
    borders. With ``pad_input=True`` (static input size) the model mirror-pads its input itself
    and crops the result, so its output is the size of its input. ``variant='same'`` pads every
    convolution and takes any input size (padded inside to a multiple of ``2**depth``,
    output cropped back: output = input size).

    Args:
        input_shape: (height, width, channels); ``None`` sizes allowed except with ``pad_input``.
        num_classes: number of classes of the 1x1 output convolution.
        variant: ``'paper'`` (valid convs) or ``'same'``.
        base_filters: channels of the first level (64 in the paper).
        depth: number of poolings (4 in the paper).
        batch_norm: batch normalization after every conv (not in the paper).
        dropout: rate of the dropout at the end of the contracting path, after the two
            convolutions of the deepest level (before the first up-convolution). The paper
            puts "drop-out layers at the end of the contracting path" (section 3.1) without
            naming a rate; 0.5, the usual rate for it, is ours. 0 removes the layer.
        context_dilations: optional dilation rates (e.g. ``(1, 2, 4, 8)``) of a dilated context
            module at the bottleneck.
        pad_input: paper variant only: mirror-pad inside the model so the output = input size.
        classifier_activation: activation of the output (``None`` for logits).
        rescale: map [0, 255] pixels to [0, 1] inside the model.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if int(depth) < 1 or int(base_filters) < 1:
        raise ValueError(f"depth and base_filters must be positive, got {depth!r}, {base_filters!r}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    padding = "valid" if variant == "paper" else "same"
    inputs, x = image_input(input_shape, rescale)
    height, width = input_shape[0], input_shape[1]
    crop = None
    if pad_input:
        if variant != "paper":
            raise ValueError("pad_input applies to variant='paper' only")
        if height is None or width is None:
            raise ValueError(f"pad_input=True needs a static input_shape, got {input_shape!r}; use "
                             "unet_tile_args + inference.tiling.predict_tiled for images of any size")
        pads, crop = [], []
        margin = unet_margin(depth)
        for size in (height, width):
            total = unet_input_size(size, depth) - size
            top = total // 2
            pads.append((top, total - top))
            out = size + total - 2 * margin
            crop.append((top - margin, out - size - (top - margin)))
        x = MirrorPadding2D(tuple(pads), name="mirror_pad")(x)
    elif variant == "paper":
        # legal sizes: every map before a pooling even (n = -4 mod 2**depth), none vanishing
        x = SizeConstraint(2 ** depth, -4, unet_input_size(1, depth),
                           model_name=f"paper U-Net (depth {depth}, valid convs; pad_input=True "
                                      "or inference.tiling.predict_tiled for other sizes)",
                           name="legal_size")(x)
    else:
        x = pad_to_stride(x, 2 ** depth)

    skips = []
    for level in range(depth):
        x = conv_pair(x, base_filters * 2 ** level, padding, batch_norm, name=f"enc{level + 1}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{level + 1}_pool")(x)
    x = conv_pair(x, base_filters * 2 ** depth, padding, batch_norm, dropout, name="bottleneck")
    if context_dilations:
        x = context_module(x, base_filters * 2 ** depth, tuple(context_dilations), batch_norm)
    for level in reversed(range(depth)):
        x = up_block(x, skips[level], base_filters * 2 ** level, padding, batch_norm,
                     name=f"dec{level + 1}")
    if crop is not None:
        x = layers.Cropping2D(tuple(crop), name="crop_to_input")(x)
    elif variant == "same":
        x = crop_to_input(x, inputs)
    x = layers.Conv2D(num_classes, 1, name="logits")(x)
    outputs = layers.Activation(classifier_activation, dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def BackboneUNet(input_shape=(None, None, 3), num_classes=2, backbone="resnet50",
                 backbone_kwargs=None, backbone_weights=None, decoder_filters=16,
                 batch_norm=True, classifier_activation="softmax", name="unet_backbone"):
    """U-Net whose contracting path is a classification backbone (the encoder-backbone U-Net
    of later work, e.g. TernausNet, Iglovikov & Shvets 2018): from the deepest feature level,
    each decoder step resamples the map onto the next shallower level's pixel grid (aligned
    bilinear: the levels' strides and offsets put pixel centres on each other), concatenates
    that level's features and applies two 3x3 conv(-BN)-ReLU; a last step brings the map to
    the input's pixels, two more convs and the 1x1 class layer. Decoder channels at level
    ``Pk``: ``decoder_filters * 2**(k - 1)``; ``decoder_filters`` at full resolution.

    Any input size: padded inside to a multiple of the deepest stride, cropped back.

    Args:
        input_shape: (height, width, channels); any size, ``None`` allowed.
        num_classes: number of classes.
        backbone: a name from ``models.backbones.list_backbones()``.
        backbone_kwargs / backbone_weights: extra backbone arguments / weights file.
        decoder_filters: channels of the full-resolution decoder step (doubling per level).
        batch_norm: batch normalization in the decoder.
        classifier_activation: output activation (``None`` for logits).
    """
    from kerascv_apps.models.backbones import build_backbone

    check_static_size(input_shape, "BackboneUNet")
    bb = build_backbone(backbone, input_shape=input_shape, weights=backbone_weights,
                        **(backbone_kwargs or {}))
    levels = sorted(bb.levels.values(), key=lambda level: -level.stride)
    image = keras.Input(shape=tuple(input_shape), name="image")
    padded = pad_to_stride(image, levels[0].stride)
    features = apply_on(bb.model(), padded)
    x, current = features[levels[0].name], levels[0]
    for level in levels[1:]:
        x = AlignedResize(current.stride, current.offset, level.stride, level.offset,
                          name=f"dec_{level.name}_upsample")([x, features[level.name]])
        x = layers.Concatenate(name=f"dec_{level.name}_concat")([features[level.name], x])
        filters = decoder_filters * 2 ** (int(level.name[1:]) - 1)
        x = conv_pair(x, filters, "same", batch_norm, name=f"dec_{level.name}")
        current = level
    x = AlignedResize(current.stride, current.offset, name="dec_full_upsample")([x, padded])
    x = conv_pair(x, decoder_filters, "same", batch_norm, name="dec_full")
    x = crop_to_input(x, image)
    x = layers.Conv2D(num_classes, 1, name="logits")(x)
    outputs = layers.Activation(classifier_activation, dtype="float32", name="predictions")(x)
    return keras.Model(image, outputs, name=name)


def _create_unet(variant, arch_args, /, **kwargs):
    if "backbone" in kwargs or arch_args.get("backbone"):
        if arch_args.get("variant", "same") != "same":
            raise ValueError(f"{variant.__name__}: a backbone encoder needs same padding; use "
                             "'unet_backbone' (or 'unet_same') with backbone=")
        args = {k: v for k, v in arch_args.items() if k not in ("variant", "dropout")}
        return BackboneUNet(**variant_arguments(variant, args, kwargs))
    return UNet(**variant_arguments(variant, arch_args, kwargs))


@register_model(task="segmentation", family="unet")
def unet(**kwargs):
    """U-Net as in the paper (valid convs, 64 filters, depth 4, dropout 0.5 at the end of the
    contracting path; the paper names no rate); output smaller than input."""
    return _create_unet(unet, dict(variant="paper"), **kwargs)


@register_model(task="segmentation", family="unet")
def unet_same(**kwargs):
    """U-Net with same-padded convs and batch norm, no dropout (output = input size); with
    ``backbone=`` its contracting path is that classification backbone (see ``BackboneUNet``)."""
    return _create_unet(unet_same, dict(variant="same", batch_norm=True, dropout=0.0), **kwargs)


@register_model(task="segmentation", family="unet")
def unet_backbone(**kwargs):
    """U-Net decoder on a classification backbone's feature levels (ResNet-50 by default;
    ``backbone=`` any of ``list_backbones()``)."""
    return _create_unet(unet_backbone, dict(backbone="resnet50"), **kwargs)
