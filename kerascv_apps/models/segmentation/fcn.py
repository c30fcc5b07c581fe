"""FCN (Long, Shelhamer & Darrell 2015, "Fully Convolutional Networks for Semantic
Segmentation"): FCN-32s, FCN-16s and FCN-8s on any backbone of the backbone contract."""

import math

import keras
from keras import layers

from kerascv_apps.layers.segmentation import BilinearUpsamplingInitializer
from kerascv_apps.models.backbones import build_backbone
from kerascv_apps.models.segmentation._base import (apply_on, check_static_size, crop_to_input,
                                                    pad_to_stride)
from kerascv_apps.models.common import variant_arguments
from kerascv_apps.registry import register_model


def aligned_upsampling(source_stride, source_offset, target_stride, target_offset):
    """Geometry of a learned x``f`` upsampling (a ``2f x 2f`` transposed convolution with
    stride ``f``, 'valid', then a crop) from a grid whose pixel ``j`` sits at input coordinate
    ``source_offset + source_stride * j`` onto the finer grid ``target_offset + target_stride * i``.

    Source pixel ``j`` lands at target index ``f * j + d`` with ``d = (source_offset -
    target_offset) / target_stride``; the bilinear kernel peaks at tap ``c = crop + d`` and the
    first ``crop`` rows/columns of the ``(n + 1) * f`` transposed-conv output are dropped (and
    ``f - crop`` at the end), which leaves ``n * f`` pixels on the target grid. Returns
    ``(f, crop, c)``. For VGG's pools (offset ``(stride - 1) / 2``) this is the paper's
    centred kernel; ResNet's levels (offset 0) need the hat half a pixel earlier.
    """
    factor = source_stride / target_stride
    if factor != int(factor) or factor < 1:
        raise ValueError(f"aligned upsampling needs an integer factor, got strides "
                         f"{source_stride} -> {target_stride}")
    factor = int(factor)
    d = (source_offset - target_offset) / target_stride
    crop = math.ceil(factor - 1 - d - 1e-9)
    if not 0 <= crop <= factor:
        raise ValueError(f"aligned upsampling: offset {source_offset} at stride {source_stride} "
                         f"is too far from offset {target_offset} at stride {target_stride}")
    return factor, crop, crop + d


def upsample(x, num_classes, source, target, name, trainable=True):
    """Transposed-conv upsampling initialised to bilinear interpolation (the paper), placed so
    that pixel centres line up (see :func:`aligned_upsampling`); ``source`` / ``target`` are
    ``(stride, offset)``. ``trainable=False`` keeps it fixed to bilinear interpolation (the
    kernel is then a non-trainable weight: counted, saved, never updated)."""
    factor, crop, center = aligned_upsampling(*source, *target)
    x = layers.Conv2DTranspose(num_classes, 2 * factor, strides=factor, padding="valid",
                               use_bias=False,
                               kernel_initializer=BilinearUpsamplingInitializer(center),
                               trainable=trainable, name=name)(x)
    return layers.Cropping2D(((crop, factor - crop), (crop, factor - crop)),
                             name=f"{name}_crop")(x)


def FCN(input_shape=(None, None, 3), num_classes=21, skips=2, backbone="vgg16",
        backbone_kwargs=None, backbone_weights=None, fc_filters=4096, fc_kernel_size=7,
        dropout=0.5, trainable_final_upsampling=False, classifier_activation="softmax",
        name="fcn8s"):
    """Fully convolutional network: a classification backbone whose fully connected layers
    become convolutions (VGG-16's fc6/fc7 as 7x7 and 1x1 convs with 4096 filters), a 1x1 class
    scoring layer, and transposed-conv upsampling initialised to bilinear interpolation.
    FCN-32s upsamples the stride-32 scores once (x32); FCN-16s first fuses (adds) 1x1 scores of
    ``pool4`` (x2 then x16); FCN-8s also fuses ``pool3`` (x2, x2, x8). Skip scoring layers start
    at zero, so each finer net starts from its coarser one's function (Long et al. 2015).
    As in the paper, the last upsampling (to input pixels) is fixed to bilinear interpolation
    and the intermediate x2 ones are initialised to bilinear and learned
    (``trainable_final_upsampling=True`` learns the last one too).

    Deviation from the paper, fc6 padding: the paper's nets zero-pad the input by 100 pixels
    (conv1_1 pad 100), apply fc6 as a 'valid' 7x7 conv and crop the upsampled scores back
    with fixed offsets (Caffe Crop layers). Here fc6 is a 'same' 7x7 conv on the pool5 map
    and the input is zero-padded to a multiple of the deepest stride, the output cropped
    back by the levels' declared offsets. Weights have the same shapes (a Caffe FCN-VGG16
    transfers unchanged) and scores align with the input pixels, but near the border fc6
    sees zero-padded feature maps instead of features of a zero-padded image, so border
    scores differ from the paper's; the paper's pad-and-crop is not implemented.

    The backbone's levels (``models.backbones``) give the taps: the deepest level and the two
    above it (VGG: ``block5_pool``, ``block4_pool``, ``block3_pool``). Every upsampling is
    placed by the levels' strides and offsets, so scores line up with the input pixels for
    any backbone. Any input size: the input is zero-padded inside to a multiple of the
    deepest stride and the output cropped back (output size = input size, no shift).

    Args:
        input_shape: (height, width, channels); any size, ``None`` allowed.
        num_classes: number of classes.
        skips: 0 (FCN-32s), 1 (FCN-16s) or 2 (FCN-8s).
        backbone: a name from ``models.backbones.list_backbones()`` (vgg16, resnet50,
            mobilenet_v2, ...).
        backbone_kwargs: extra arguments of the backbone builder (e.g. narrower
            ``stackwise_num_filters`` for small experiments, ``preprocessing``).
        backbone_weights: optional weights file of the backbone (e.g. keras.applications').
        fc_filters: channels of fc6/fc7 (4096 in the paper; 0 to score the backbone map
            directly, the usual choice for ResNet).
        fc_kernel_size: kernel of fc6 (7 for VGG-16's 7x7 pool5 field).
        dropout: dropout after fc6 and fc7.
        trainable_final_upsampling: learn the last upsampling instead of keeping it fixed to
            bilinear interpolation (the paper fixes it).
        classifier_activation: output activation (``None`` for logits).
    """
    if skips not in (0, 1, 2):
        raise ValueError(f"skips must be 0 (FCN-32s), 1 (FCN-16s) or 2 (FCN-8s), got {skips!r}")
    check_static_size(input_shape, "FCN")
    bb = build_backbone(backbone, input_shape=input_shape, weights=backbone_weights,
                        **(backbone_kwargs or {}))
    levels = sorted(bb.levels.values(), key=lambda level: -level.stride)[:1 + skips]
    if len(levels) < 1 + skips:
        raise ValueError(f"FCN with {skips} skips needs {1 + skips} feature levels; backbone "
                         f"{backbone!r} has {sorted(bb.levels)}")
    image = keras.Input(shape=tuple(input_shape), name="image")
    features = apply_on(bb.model(), pad_to_stride(image, levels[0].stride))
    x = features[levels[0].name]
    if fc_filters:
        x = layers.Conv2D(fc_filters, fc_kernel_size, padding="same", activation="relu",
                          name="fc6")(x)
        if dropout:
            x = layers.Dropout(dropout, name="fc6_dropout")(x)
        x = layers.Conv2D(fc_filters, 1, activation="relu", name="fc7")(x)
        if dropout:
            x = layers.Dropout(dropout, name="fc7_dropout")(x)
    x = layers.Conv2D(num_classes, 1, name="score_fr")(x)
    current = levels[0]
    for i, level in enumerate(levels[1:]):
        pool = f"pool{level.name[1:]}"
        x = upsample(x, num_classes, (current.stride, current.offset),
                     (level.stride, level.offset), name=f"upscore{i + 1}")
        score = layers.Conv2D(num_classes, 1, kernel_initializer="zeros",
                              name=f"score_{pool}")(features[level.name])
        x = layers.Add(name=f"fuse_{pool}")([x, score])
        current = level
    x = upsample(x, num_classes, (current.stride, current.offset), (1, 0.0),
                 name=f"upscore{current.stride}", trainable=bool(trainable_final_upsampling))
    x = crop_to_input(x, image)
    outputs = layers.Activation(classifier_activation, dtype="float32", name="predictions")(x)
    return keras.Model(image, outputs, name=name)


def _create_fcn(variant, arch_args, /, **kwargs):
    return FCN(**variant_arguments(variant, arch_args, kwargs))


@register_model(task="segmentation", family="fcn")
def fcn32s(**kwargs):
    """FCN-32s on VGG-16 (single x32 upsampling, fixed bilinear as in the paper).

    Deviation: fc6 is 'same'-padded instead of the paper's 100-pixel input pad and crop (see
    ``FCN``)."""
    return _create_fcn(fcn32s, dict(skips=0), **kwargs)


@register_model(task="segmentation", family="fcn")
def fcn16s(**kwargs):
    """FCN-16s on VGG-16 (pool4 skip; learned x2, fixed bilinear x16 as in the paper).

    Deviation: fc6 is 'same'-padded instead of the paper's 100-pixel input pad and crop (see
    ``FCN``)."""
    return _create_fcn(fcn16s, dict(skips=1), **kwargs)


@register_model(task="segmentation", family="fcn")
def fcn8s(**kwargs):
    """FCN-8s on VGG-16 (pool4 and pool3 skips; learned x2, x2, fixed bilinear x8 as in the
    paper).

    Deviation: fc6 is 'same'-padded instead of the paper's 100-pixel input pad and crop (see
    ``FCN``)."""
    return _create_fcn(fcn8s, dict(skips=2), **kwargs)


@register_model(task="segmentation", family="fcn")
def fcn8s_resnet50(**kwargs):
    """FCN-8s on ResNet-50 (conv4/conv3 skips, no fc6/fc7; not in the paper, which uses
    VGG-16; last upsampling fixed bilinear as there)."""
    return _create_fcn(fcn8s_resnet50, dict(skips=2, backbone="resnet50", fc_filters=0),
                       **kwargs)
