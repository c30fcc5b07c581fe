"""MobileNet v1 (Howard et al., 2017, "MobileNets: Efficient Convolutional Neural Networks for
Mobile Vision Applications") and MobileNet v2 (Sandler et al., 2018, "MobileNetV2: Inverted
Residuals and Linear Bottlenecks").

Layer names follow ``keras.applications`` (``conv_dw_1``, ``conv_pw_1``; ``block_1_expand``,
``block_1_depthwise``, ``block_1_project``) so feature taps are shared with its documentation.
"""

import keras
from keras import layers

from kerascv_apps.models.backbones import declare_feature_taps, set_feature_taps
from kerascv_apps.models.common import classifier_head, image_input, layer_name, \
    create_variant
from kerascv_apps.registry import register_model

declare_feature_taps("mobilenet")


def make_divisible(value, divisor=8, min_value=None):
    """Rounds a channel count to a multiple of ``divisor`` without losing more than 10%."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return int(rounded)


def _check_alpha(alpha):
    if not alpha or alpha <= 0:
        raise ValueError(f"alpha (width multiplier) must be > 0, got {alpha!r}")


# --------------------------------------------------------------------------- MobileNet v1

def depthwise_separable_block(x, filters, strides=1, depth_multiplier=1, block_id=1):
    """Depthwise 3x3 -> BN -> ReLU6 -> pointwise 1x1 -> BN -> ReLU6 (MobileNet v1, fig. 3)."""
    x = layers.DepthwiseConv2D(3, strides=strides, padding="same",
                               depth_multiplier=depth_multiplier, use_bias=False,
                               name=f"conv_dw_{block_id}")(x)
    x = layers.BatchNormalization(name=f"conv_dw_{block_id}_bn")(x)
    x = layers.ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"conv_pw_{block_id}")(x)
    x = layers.BatchNormalization(name=f"conv_pw_{block_id}_bn")(x)
    return layers.ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)


MOBILENET_V1_FILTERS = (64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)
MOBILENET_V1_STRIDES = (1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1)


def MobileNetV1(input_shape=(224, 224, 3), num_classes=1000, alpha=1.0, depth_multiplier=1,
                stackwise_num_filters=MOBILENET_V1_FILTERS, stackwise_strides=MOBILENET_V1_STRIDES,
                stem_filters=32, include_top=True, pooling="avg", dropout=1e-3,
                classifier_activation="softmax", preprocessing="unit", name="mobilenet_v1"):
    """MobileNet v1 (Howard et al., 2017): a 3x3/2 conv then depthwise-separable blocks.

    Args:
        input_shape: (height, width, channels).
        num_classes: number of output classes.
        alpha: width multiplier applied to every layer's channels (the paper's alpha).
        depth_multiplier: channel multiplier of the depthwise convolutions.
        stackwise_num_filters: pointwise filters of each depthwise-separable block.
        stackwise_strides: stride of each block's depthwise conv.
        stem_filters: filters of the first full convolution (before ``alpha``).
        include_top: whether to add the pooling and class layer.
        pooling: 'avg', 'max' or None.
        dropout: dropout before the class layer.
        classifier_activation: activation of the class layer (``None`` for logits).
        preprocessing: what raw [0, 255] RGB becomes inside the model: ``'unit'`` (x / 255),
            ``'caffe'``, ``'tf'``, ``'torch'`` (keras.applications' modes) or None.
        name: model name.
    """
    _check_alpha(alpha)
    if len(stackwise_num_filters) != len(stackwise_strides):
        raise ValueError("stackwise_num_filters and stackwise_strides must have equal length")
    inputs, x = image_input(input_shape, preprocessing)
    x = layers.Conv2D(int(stem_filters * alpha), 3, strides=2, padding="same", use_bias=False,
                      name="conv1")(x)
    x = layers.BatchNormalization(name="conv1_bn")(x)
    x = layers.ReLU(6.0, name="conv1_relu")(x)
    taps = ["conv1_relu"]
    for block_id, (filters, strides) in enumerate(zip(stackwise_num_filters, stackwise_strides), 1):
        x = depthwise_separable_block(x, int(filters * alpha), strides, depth_multiplier,
                                      block_id)
        taps.append(layer_name(x))
    x = classifier_head(x, num_classes, include_top, pooling, dropout, classifier_activation)
    return set_feature_taps(keras.Model(inputs, x, name=name), taps)


# --------------------------------------------------------------------------- MobileNet v2

def inverted_residual_block(x, filters, strides=1, expansion=6, name="block"):
    """1x1 expand -> ReLU6 -> depthwise 3x3 -> ReLU6 -> linear 1x1 project (+ identity add
    when the shape is kept): MobileNet v2's inverted residual with linear bottleneck."""
    in_channels = x.shape[-1]
    y = x
    if expansion != 1:
        y = layers.Conv2D(expansion * in_channels, 1, use_bias=False, name=f"{name}_expand")(y)
        y = layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name=f"{name}_expand_BN")(y)
        y = layers.ReLU(6.0, name=f"{name}_expand_relu")(y)
    y = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False,
                               name=f"{name}_depthwise")(y)
    y = layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name=f"{name}_depthwise_BN")(y)
    y = layers.ReLU(6.0, name=f"{name}_depthwise_relu")(y)
    y = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_project")(y)
    y = layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name=f"{name}_project_BN")(y)
    if strides == 1 and in_channels == filters:
        y = layers.Add(name=f"{name}_add")([x, y])
    return y


# The paper's table 2: expansion t, output channels c, repeats n, first stride s.
MOBILENET_V2_EXPANSIONS = (1, 6, 6, 6, 6, 6, 6)
MOBILENET_V2_FILTERS = (16, 24, 32, 64, 96, 160, 320)
MOBILENET_V2_BLOCKS = (1, 2, 3, 4, 3, 3, 1)
MOBILENET_V2_STRIDES = (1, 2, 2, 2, 1, 2, 1)


def MobileNetV2(input_shape=(224, 224, 3), num_classes=1000, alpha=1.0,
                stackwise_expansion_ratios=MOBILENET_V2_EXPANSIONS,
                stackwise_num_filters=MOBILENET_V2_FILTERS,
                stackwise_num_blocks=MOBILENET_V2_BLOCKS,
                stackwise_strides=MOBILENET_V2_STRIDES, stem_filters=32, last_filters=1280,
                include_top=True, pooling="avg", dropout=0.0, classifier_activation="softmax",
                preprocessing="unit", name="mobilenet_v2"):
    """MobileNet v2 (Sandler et al., 2018): inverted residual blocks with linear bottlenecks.

    Args:
        input_shape: (height, width, channels).
        num_classes: number of output classes.
        alpha: width multiplier (channels rounded to multiples of 8; the last 1x1 conv keeps
            1280 channels for ``alpha <= 1`` as in the paper).
        stackwise_expansion_ratios: expansion factor t of each stage.
        stackwise_num_filters: output channels c of each stage.
        stackwise_num_blocks: repeats n of each stage.
        stackwise_strides: stride s of each stage's first block.
        stem_filters: filters of the first 3x3/2 conv (before ``alpha``).
        last_filters: filters of the final 1x1 conv.
        include_top: whether to add the pooling and class layer.
        pooling: 'avg', 'max' or None.
        dropout: dropout before the class layer.
        classifier_activation: activation of the class layer (``None`` for logits).
        preprocessing: what raw [0, 255] RGB becomes inside the model: ``'unit'`` (x / 255),
            ``'caffe'``, ``'tf'``, ``'torch'`` (keras.applications' modes) or None.
        name: model name.
    """
    _check_alpha(alpha)
    stages = (stackwise_expansion_ratios, stackwise_num_filters, stackwise_num_blocks,
              stackwise_strides)
    if len({len(s) for s in stages}) != 1:
        raise ValueError("the stackwise_* lists of MobileNetV2 must have equal lengths")
    inputs, x = image_input(input_shape, preprocessing)
    x = layers.Conv2D(make_divisible(stem_filters * alpha), 3, strides=2, padding="same",
                      use_bias=False, name="Conv1")(x)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name="bn_Conv1")(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)
    taps = ["Conv1_relu"]
    block_id = 0
    for expansion, filters, blocks, strides in zip(*stages):
        for i in range(blocks):
            name_ = "expanded_conv" if block_id == 0 else f"block_{block_id}"
            x = inverted_residual_block(x, make_divisible(int(filters * alpha)),
                                        strides if i == 0 else 1, expansion, name_)
            taps.append(layer_name(x))
            block_id += 1
    last = make_divisible(last_filters * alpha) if alpha > 1.0 else last_filters
    x = layers.Conv2D(last, 1, use_bias=False, name="Conv_1")(x)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name="Conv_1_bn")(x)
    x = layers.ReLU(6.0, name="out_relu")(x)
    x = classifier_head(x, num_classes, include_top, pooling, dropout, classifier_activation)
    return set_feature_taps(keras.Model(inputs, x, name=name), taps + ["out_relu"])


def _create_mobilenet_v1(variant, arch_args, **kwargs):
    return create_variant(MobileNetV1, variant, arch_args, kwargs, weights_preprocessing="tf")


def _create_mobilenet_v2(variant, arch_args, **kwargs):
    return create_variant(MobileNetV2, variant, arch_args, kwargs, weights_preprocessing="tf")


@register_model(task="classification", family="mobilenet")
def mobilenet_v1(**kwargs):
    """MobileNet v1 (Howard 2017), alpha 1.0: 4,253,864 parameters at 1000 classes."""
    return _create_mobilenet_v1(mobilenet_v1, dict(alpha=1.0), **kwargs)


@register_model(task="classification", family="mobilenet")
def mobilenet_v1_050(**kwargs):
    """MobileNet v1 with width multiplier 0.5."""
    return _create_mobilenet_v1(mobilenet_v1_050, dict(alpha=0.5), **kwargs)


@register_model(task="classification", family="mobilenet")
def mobilenet_v2(**kwargs):
    """MobileNet v2 (Sandler 2018), alpha 1.0: 3,538,984 parameters at 1000 classes."""
    return _create_mobilenet_v2(mobilenet_v2, dict(alpha=1.0), **kwargs)


@register_model(task="classification", family="mobilenet")
def mobilenet_v2_050(**kwargs):
    """MobileNet v2 with width multiplier 0.5."""
    return _create_mobilenet_v2(mobilenet_v2_050, dict(alpha=0.5), **kwargs)
