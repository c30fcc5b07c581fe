"""PSPNet (Zhao, Shi, Qi, Wang & Jia 2017, "Pyramid Scene Parsing Network")."""

import keras
from keras import layers

from kerascv_apps.layers.segmentation import AdaptiveAveragePooling2D, ResizeToMatch
from kerascv_apps.models.segmentation.fcn import load_backbone_weights, resnet_taps
from kerascv_apps.registry import build_model, register_model

AUX_LOSS_WEIGHT = 0.4  # the paper's weight of the auxiliary loss


def conv_bn_relu(x, filters, kernel_size, name):
    x = layers.Conv2D(filters, kernel_size, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def pyramid_pooling_module(x, bins=(1, 2, 3, 6), filters=None, name="ppm"):
    """Average-pools the map into ``b x b`` bins for each ``b``, reduces each to ``filters``
    channels (default: input channels / number of levels) with 1x1 conv-BN-ReLU, upsamples
    bilinearly back to the map's size and concatenates with the map."""
    filters = filters or max(1, x.shape[-1] // len(bins))
    branches = [x]
    for b in bins:
        y = AdaptiveAveragePooling2D(b, name=f"{name}_pool{b}")(x)
        y = conv_bn_relu(y, filters, 1, name=f"{name}_bin{b}")
        branches.append(ResizeToMatch(name=f"{name}_upsample{b}")([y, x]))
    return layers.Concatenate(name=f"{name}_concat")(branches)


def segmentation_head(x, image, num_classes, filters, dropout, classifier_activation, name):
    """3x3 conv-BN-ReLU, dropout, 1x1 class scores, bilinear upsampling to the input size."""
    x = conv_bn_relu(x, filters, 3, name=f"{name}_head")
    if dropout:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    x = layers.Conv2D(num_classes, 1, name=f"{name}_logits")(x)
    x = ResizeToMatch(name=f"{name}_upsample")([x, image])
    return x


def PSPNet(input_shape=(None, None, 3), num_classes=21, backbone="resnet50", backbone_kwargs=None,
           backbone_weights=None, bins=(1, 2, 3, 6), ppm_filters=None, head_filters=512,
           aux_filters=256, dropout=0.1, include_aux=False, classifier_activation="softmax",
           name="pspnet"):
    """PSPNet: a dilated ResNet (output stride 8), a pyramid pooling module pooling the final
    map into 1x1, 2x2, 3x3 and 6x6 bins (1x1 conv to channels/4 each, bilinear upsampling,
    concatenation with the map), a 3x3 conv and a per-pixel classifier upsampled bilinearly to
    the input; an auxiliary classifier on the conv4 stage adds a loss (weight 0.4) in training
    (Zhao et al. 2017). Pooling and resizing use the run-time size, so any input size
    divisible by 8 works, including ``(None, None, 3)``.

    Args:
        input_shape: (height, width, channels); sizes divisible by 8 or ``None``.
        num_classes: number of classes.
        backbone: registered ResNet built with ``output_stride=8`` (taps by layer name).
        backbone_kwargs: extra backbone arguments (e.g. narrower ``stackwise_num_filters``).
        backbone_weights: optional local weights file of the backbone (copied by layer name).
        bins: pyramid levels.
        ppm_filters: channels of each pyramid branch (default: input channels / len(bins)).
        head_filters / aux_filters: channels of the main and auxiliary 3x3 convs.
        dropout: dropout before each classifier (0.1 in the paper's code).
        include_aux: also output the auxiliary head (outputs ``[predictions, aux_predictions]``);
            for training only, ``SegmentationTask.inference_model`` drops it for export.
        classifier_activation: output activation (``None`` for logits).
    """
    for size in input_shape[:2]:
        if size is not None and size % 8:
            raise ValueError(f"PSPNet: input height/width must be divisible by 8, got {input_shape!r}")
    net = build_model(backbone, include_top=False, pooling=None, output_stride=8,
                      input_shape=input_shape, **(backbone_kwargs or {}))
    if backbone_weights:
        load_backbone_weights(net, backbone_weights)
    final_tap, aux_tap, _ = resnet_taps(net)
    image = net.inputs[0]
    x = pyramid_pooling_module(net.get_layer(final_tap).output, bins, ppm_filters)
    x = segmentation_head(x, image, num_classes, head_filters, dropout, classifier_activation, "psp")
    outputs = [layers.Activation(classifier_activation, dtype="float32", name="predictions")(x)]
    if include_aux:
        aux = segmentation_head(net.get_layer(aux_tap).output, image, num_classes, aux_filters,
                                dropout, classifier_activation, "aux")
        outputs.append(layers.Activation(classifier_activation, dtype="float32",
                                         name="aux_predictions")(aux))
    model = keras.Model(image, outputs if include_aux else outputs[0], name=name)
    if include_aux:
        model.aux_loss_weights = {"aux_predictions": AUX_LOSS_WEIGHT}  # read by experiment.py
    return model


@register_model("pspnet", task="segmentation", family="pspnet")
def pspnet(**kwargs):
    """PSPNet on a dilated ResNet-50 (output stride 8), bins 1, 2, 3, 6."""
    return PSPNet(**kwargs)
