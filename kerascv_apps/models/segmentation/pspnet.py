"""PSPNet (Zhao, Shi, Qi, Wang & Jia 2017, "Pyramid Scene Parsing Network") on any backbone of
the backbone contract."""

import keras
from keras import layers

from kerascv_apps.layers.alignment import AlignedResize
from kerascv_apps.layers.outputs import AuxiliaryOutput
from kerascv_apps.layers.segmentation import AdaptiveAveragePooling2D, ResizeToMatch
from kerascv_apps.models.backbones import build_backbone
from kerascv_apps.models.segmentation._base import (apply_on, check_static_size, crop_to_input,
                                                    dilates, pad_to_stride)
from kerascv_apps.models.common import variant_arguments
from kerascv_apps.registry import register_model

AUX_LOSS_WEIGHT = 0.4  # the paper's weight of the auxiliary loss


def conv_bn_relu(x, filters, kernel_size, name):
    x = layers.Conv2D(filters, kernel_size, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def pyramid_pooling_module(x, bins=(1, 2, 3, 6), filters=None, name="ppm"):
    """Average-pools the map into ``b x b`` bins for each ``b``, reduces each to ``filters``
    channels (default: input channels / number of levels) with 1x1 conv-BN-ReLU, upsamples
    bilinearly back to the map's size and concatenates with the map. Each bin covers the same
    extent of the map, so the half-pixel resize of :class:`ResizeToMatch` lines them up."""
    filters = filters or max(1, x.shape[-1] // len(bins))
    branches = [x]
    for b in bins:
        y = AdaptiveAveragePooling2D(b, name=f"{name}_pool{b}")(x)
        y = conv_bn_relu(y, filters, 1, name=f"{name}_bin{b}")
        branches.append(ResizeToMatch(name=f"{name}_upsample{b}")([y, x]))
    return layers.Concatenate(name=f"{name}_concat")(branches)


def segmentation_head(x, level, padded, num_classes, filters, dropout, name):
    """3x3 conv-BN-ReLU, dropout, 1x1 class scores, and an aligned bilinear resize from the
    feature ``level``'s grid (its stride and offset) onto the padded input's pixels."""
    x = conv_bn_relu(x, filters, 3, name=f"{name}_head")
    if dropout:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    x = layers.Conv2D(num_classes, 1, name=f"{name}_logits")(x)
    return AlignedResize(level.stride, level.offset, name=f"{name}_upsample")([x, padded])


def PSPNet(input_shape=(None, None, 3), num_classes=21, backbone="resnet50", output_stride=8,
           backbone_kwargs=None, backbone_weights=None, bins=(1, 2, 3, 6), ppm_filters=None,
           head_filters=512, aux_filters=256, dropout=0.1, include_aux=False,
           classifier_activation="softmax", name="pspnet"):
    """PSPNet: a dilated ResNet (output stride 8), a pyramid pooling module pooling the final
    map into 1x1, 2x2, 3x3 and 6x6 bins (1x1 conv to channels/4 each, bilinear upsampling,
    concatenation with the map), a 3x3 conv and a per-pixel classifier upsampled bilinearly to
    the input; an auxiliary classifier on the stage before the last adds a loss (weight 0.4)
    in training (Zhao et al. 2017).

    The main head sits on the backbone's deepest feature tap, the auxiliary one on the tap
    before it (dilated ResNet: conv5 and conv4; VGG: pool5 and pool4); each head's bilinear
    upsampling to the input is placed by its tap's stride and offset, so scores line up with
    the input pixels. Any input size: the input is zero-padded inside to a multiple of the
    deepest stride and the output cropped back (output size = input size, no shift).

    Args:
        input_shape: (height, width, channels); any size, ``None`` allowed.
        num_classes: number of classes.
        backbone: a name from ``models.backbones.list_backbones()``.
        output_stride: passed to a backbone that dilates (ResNet: 8 dilates conv4 and conv5,
            the paper). A backbone without dilation (VGG, MobileNet, EfficientNet) keeps its
            own stride (32; ``output_stride`` is not used): the pyramid then pools its 1/32
            map and the heads upsample from that stride.
        backbone_kwargs: extra backbone arguments (e.g. narrower ``stackwise_num_filters``).
        backbone_weights: optional weights file of the backbone (e.g. keras.applications').
        bins: pyramid levels.
        ppm_filters: channels of each pyramid branch (default: input channels / len(bins)).
        head_filters / aux_filters: channels of the main and auxiliary 3x3 convs.
        dropout: dropout before each classifier (0.1 in the paper's code).
        include_aux: also output the auxiliary head, an :class:`AuxiliaryOutput` named
            ``aux_predictions`` (weight 0.4); ``models.outputs.inference_model`` drops it.
        classifier_activation: output activation (``None`` for logits).
    """
    check_static_size(input_shape, "PSPNet")
    kwargs = dict(backbone_kwargs or {})
    if output_stride is not None and dilates(backbone):
        kwargs["output_stride"] = output_stride
    bb = build_backbone(backbone, input_shape=input_shape, weights=backbone_weights, **kwargs)
    main, aux_level = bb.taps[-1], bb.taps[-2]
    image = keras.Input(shape=tuple(input_shape), name="image")
    padded = pad_to_stride(image, max(level.stride for level in bb.taps))
    main_x, aux_x = apply_on(keras.Model(bb.inputs, [bb.tap_output(main), bb.tap_output(aux_level)]),
                             padded)
    x = pyramid_pooling_module(main_x, bins, ppm_filters)
    x = segmentation_head(x, main, padded, num_classes, head_filters, dropout, "psp")
    x = crop_to_input(x, image)
    outputs = layers.Activation(classifier_activation, dtype="float32", name="predictions")(x)
    if not include_aux:
        return keras.Model(image, outputs, name=name)
    aux = segmentation_head(aux_x, aux_level, padded, num_classes,
                            aux_filters, dropout, "aux")
    aux = crop_to_input(aux, image, name="aux_crop_to_input")
    aux = layers.Activation(classifier_activation, dtype="float32", name="aux_activation")(aux)
    aux = AuxiliaryOutput(AUX_LOSS_WEIGHT, name="aux_predictions")(aux)
    return keras.Model(image, [outputs, aux], name=name)


def _create_pspnet(variant, arch_args, /, **kwargs):
    return PSPNet(**variant_arguments(variant, arch_args, kwargs))


@register_model(task="segmentation", family="pspnet")
def pspnet(**kwargs):
    """PSPNet on a dilated ResNet-50 (output stride 8), bins 1, 2, 3, 6."""
    return _create_pspnet(pspnet, dict(backbone="resnet50", output_stride=8), **kwargs)
