"""FCN (Long, Shelhamer & Darrell 2015, "Fully Convolutional Networks for Semantic
Segmentation"): FCN-32s, FCN-16s and FCN-8s on a VGG-16 or ResNet backbone."""

import re

import keras
from keras import layers

from kerascv_apps.layers.segmentation import BilinearUpsamplingInitializer
from kerascv_apps.registry import build_model, register_model

# Feature taps by layer name: stride 32 (final), 16 and 8.
VGG_TAPS = ("block5_pool", "block4_pool", "block3_pool")


def resnet_taps(backbone):
    """The last block outputs of stages conv5, conv4, conv3 (``conv{s}_block{n}_out``) by name."""
    taps = []
    for stage in (5, 4, 3):
        names = [l.name for l in backbone.layers if re.fullmatch(rf"conv{stage}_block\d+_out", l.name)]
        if not names:
            raise ValueError(f"backbone {backbone.name!r} has no conv{stage}_block*_out layer")
        taps.append(max(names, key=lambda n: int(re.search(r"block(\d+)_out", n).group(1))))
    return tuple(taps)


def load_backbone_weights(model, path):
    """Copies weights from a saved backbone (``.keras`` or ``.weights.h5`` of the same backbone
    architecture, local file) into ``model``'s layers of the same name; returns the names."""
    from kerascv_apps.io import load_model

    source = load_model(path, compile=False)
    copied = []
    for layer in source.layers:
        try:
            target = model.get_layer(layer.name)
        except ValueError:
            continue
        if layer.weights and [w.shape for w in layer.weights] == [w.shape for w in target.weights]:
            target.set_weights(layer.get_weights())
            copied.append(layer.name)
    if not copied:
        raise ValueError(f"no layer of {path} matches a layer of {model.name!r} by name and shape")
    return copied


def upsample(x, num_classes, factor, name):
    """Transposed convolution upsampling by ``factor`` (kernel 2 * factor), initialised to
    bilinear interpolation and trainable, as in the paper."""
    return layers.Conv2DTranspose(num_classes, 2 * factor, strides=factor, padding="same",
                                  use_bias=False, kernel_initializer=BilinearUpsamplingInitializer(),
                                  name=name)(x)


def FCN(input_shape=(None, None, 3), num_classes=21, skips=2, backbone="vgg16",
        backbone_kwargs=None, backbone_weights=None, fc_filters=4096, fc_kernel_size=7,
        dropout=0.5, classifier_activation="softmax", name="fcn8s"):
    """Fully convolutional network: a classification backbone whose fully connected layers
    become convolutions (VGG-16's fc6/fc7 as 7x7 and 1x1 convs with 4096 filters), a 1x1 class
    scoring layer, and transposed-conv upsampling initialised to bilinear interpolation.
    FCN-32s upsamples the stride-32 scores once (x32); FCN-16s first fuses (adds) 1x1 scores of
    ``pool4`` (x2 then x16); FCN-8s also fuses ``pool3`` (x2, x2, x8). Skip scoring layers start
    at zero, so each finer net starts from its coarser one's function (Long et al. 2015).

    Args:
        input_shape: (height, width, channels); sizes divisible by 32 (``None`` allowed).
        num_classes: number of classes.
        skips: 0 (FCN-32s), 1 (FCN-16s) or 2 (FCN-8s).
        backbone: a registered classification model built with ``include_top=False`` whose
            layers are tapped by name: VGG (``block5_pool``/``block4_pool``/``block3_pool``) or
            ResNet (last ``conv{5,4,3}_block*_out``).
        backbone_kwargs: extra arguments of the backbone builder (e.g. narrower
            ``stackwise_num_filters`` for small experiments).
        backbone_weights: optional local file of the backbone's weights (copied by layer name).
        fc_filters: channels of fc6/fc7 (4096 in the paper; 0 to score the backbone map
            directly, the usual choice for ResNet).
        fc_kernel_size: kernel of fc6 (7 for VGG-16's 7x7 pool5 field).
        dropout: dropout after fc6 and fc7.
        classifier_activation: output activation (``None`` for logits).
    """
    if skips not in (0, 1, 2):
        raise ValueError(f"skips must be 0 (FCN-32s), 1 (FCN-16s) or 2 (FCN-8s), got {skips!r}")
    for size in input_shape[:2]:
        if size is not None and size % 32:
            raise ValueError(f"FCN: input height/width must be divisible by 32, got {input_shape!r}")
    net = build_model(backbone, include_top=False, pooling=None, input_shape=input_shape,
                      **(backbone_kwargs or {}))
    if backbone_weights:
        load_backbone_weights(net, backbone_weights)
    taps = VGG_TAPS if any(l.name == "block5_pool" for l in net.layers) else resnet_taps(net)
    x = net.get_layer(taps[0]).output
    if fc_filters:
        x = layers.Conv2D(fc_filters, fc_kernel_size, padding="same", activation="relu",
                          name="fc6")(x)
        if dropout:
            x = layers.Dropout(dropout, name="fc6_dropout")(x)
        x = layers.Conv2D(fc_filters, 1, activation="relu", name="fc7")(x)
        if dropout:
            x = layers.Dropout(dropout, name="fc7_dropout")(x)
    x = layers.Conv2D(num_classes, 1, name="score_fr")(x)
    factor = 32
    for i, tap in enumerate(taps[1:1 + skips]):
        pool = tap.split("_")[0] if tap.startswith("block") else tap
        x = upsample(x, num_classes, 2, name=f"upscore{i + 1}")
        score = layers.Conv2D(num_classes, 1, kernel_initializer="zeros",
                              name=f"score_{pool}")(net.get_layer(tap).output)
        x = layers.Add(name=f"fuse_{pool}")([x, score])
        factor //= 2
    x = upsample(x, num_classes, factor, name=f"upscore{factor}")
    outputs = layers.Activation(classifier_activation, dtype="float32", name="predictions")(x)
    return keras.Model(net.inputs[0], outputs, name=name)


@register_model("fcn32s", task="segmentation", family="fcn")
def fcn32s(**kwargs):
    """FCN-32s on VGG-16 (single x32 upsampling)."""
    return FCN(**{"skips": 0, "name": "fcn32s", **kwargs})


@register_model("fcn16s", task="segmentation", family="fcn")
def fcn16s(**kwargs):
    """FCN-16s on VGG-16 (pool4 skip)."""
    return FCN(**{"skips": 1, "name": "fcn16s", **kwargs})


@register_model("fcn8s", task="segmentation", family="fcn")
def fcn8s(**kwargs):
    """FCN-8s on VGG-16 (pool4 and pool3 skips)."""
    return FCN(**{"skips": 2, "name": "fcn8s", **kwargs})


@register_model("fcn8s_resnet50", task="segmentation", family="fcn")
def fcn8s_resnet50(**kwargs):
    """FCN-8s on ResNet-50 (conv4/conv3 skips, no fc6/fc7)."""
    return FCN(**{"skips": 2, "backbone": "resnet50", "fc_filters": 0, "name": "fcn8s_resnet50",
                  **kwargs})
