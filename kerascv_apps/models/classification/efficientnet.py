"""EfficientNet-B0..B7 (Tan & Le, 2019, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks").

B0 is a stack of MBConv blocks (inverted residuals with squeeze-and-excitation, swish); B1..B7
scale its depth (repeats), width (channels) and input resolution together (compound scaling).
Layer names follow ``keras.applications`` (``stem_conv``, ``block1a_dwconv``, ``top_conv``).
"""

import math

import keras
from keras import layers

from kerascv_apps.models.backbones import declare_feature_taps, set_feature_taps
from kerascv_apps.models.common import classifier_head, image_input, layer_name, \
    create_variant
from kerascv_apps.registry import register_model

declare_feature_taps("efficientnet")

IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STDDEV_RGB = (0.229, 0.224, 0.225)

# Table 1 of the paper (B0): kernel, stride, expansion, in/out channels, repeats, SE ratio.
B0_KERNEL_SIZES = (3, 3, 5, 3, 5, 5, 3)
B0_STRIDES = (1, 2, 2, 2, 1, 2, 1)
B0_EXPANSION_RATIOS = (1, 6, 6, 6, 6, 6, 6)
B0_INPUT_FILTERS = (32, 16, 24, 40, 80, 112, 192)
B0_OUTPUT_FILTERS = (16, 24, 40, 80, 112, 192, 320)
B0_NUM_REPEATS = (1, 2, 2, 3, 3, 4, 1)
B0_SE_RATIOS = (0.25,) * 7

# The published per-variant width coefficient, depth coefficient, input resolution and dropout
# of B0..B7: the table of the authors' release (tensorflow/tpu, models/official/efficientnet,
# efficientnet_builder.efficientnet_params), which keras.applications copies; the paper's
# Table 2 gives the resulting parameter counts (5.3M .. 66M). This table is NOT
# compound_scaling(phi) rounded: the released values depart from it. E.g. B7's depth 3.1 = 1.2**6.2
# would mean width 1.1**6.2 = 1.81 (not 2.0) and resolution 224 * 1.15**6.2 = 533 (not 600).
# Only the B0 stage table and eq. 3's
# alpha/beta/gamma come from the paper's search (tests/models/classification/
# test_efficientnet.py checks this table against the published one).
VARIANTS = {
    "b0": dict(width_coefficient=1.0, depth_coefficient=1.0, input_shape=(224, 224, 3),
               dropout=0.2),
    "b1": dict(width_coefficient=1.0, depth_coefficient=1.1, input_shape=(240, 240, 3),
               dropout=0.2),
    "b2": dict(width_coefficient=1.1, depth_coefficient=1.2, input_shape=(260, 260, 3),
               dropout=0.3),
    "b3": dict(width_coefficient=1.2, depth_coefficient=1.4, input_shape=(300, 300, 3),
               dropout=0.3),
    "b4": dict(width_coefficient=1.4, depth_coefficient=1.8, input_shape=(380, 380, 3),
               dropout=0.4),
    "b5": dict(width_coefficient=1.6, depth_coefficient=2.2, input_shape=(456, 456, 3),
               dropout=0.4),
    "b6": dict(width_coefficient=1.8, depth_coefficient=2.6, input_shape=(528, 528, 3),
               dropout=0.5),
    "b7": dict(width_coefficient=2.0, depth_coefficient=3.1, input_shape=(600, 600, 3),
               dropout=0.5),
}
# A config, not an instance: each layer builds its own initializer. One shared instance carries
# one seed, so every conv kernel of the same shape started out identical.
CONV_INITIALIZER = {"class_name": "VarianceScaling",
                    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"}}


def compound_scaling(phi, alpha=1.2, beta=1.1, gamma=1.15):
    """The paper's compound scaling (eq. 3): depth, width and resolution multipliers for
    coefficient ``phi`` with alpha * beta**2 * gamma**2 ~= 2 (FLOPs double per step).

    The rule, not the released B1..B7: those use the published ``VARIANTS`` table, which does
    not equal these multipliers for any phi (see the comment above ``VARIANTS``)."""
    return alpha ** phi, beta ** phi, gamma ** phi


def round_filters(filters, width_coefficient, divisor=8):
    """Scales a channel count by the width coefficient, rounded to a multiple of ``divisor``."""
    filters *= width_coefficient
    rounded = max(divisor, int(filters + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * filters:
        rounded += divisor
    return int(rounded)


def round_repeats(repeats, depth_coefficient):
    """Scales a stage's number of blocks by the depth coefficient (rounded up)."""
    return int(math.ceil(depth_coefficient * repeats))


def mbconv_block(x, filters_out, kernel_size=3, strides=1, expansion=6, se_ratio=0.25,
                 drop_rate=0.0, activation="swish", name="block"):
    """MBConv: 1x1 expand -> depthwise k x k -> squeeze-and-excite -> linear 1x1 project, plus
    an identity shortcut with stochastic depth (whole-sample dropout) when the shape is kept.
    ``name`` is a prefix such as ``block2a_``."""
    filters_in = x.shape[-1]
    filters = filters_in * expansion
    y = x
    if expansion != 1:
        y = layers.Conv2D(filters, 1, use_bias=False, kernel_initializer=CONV_INITIALIZER,
                          name=f"{name}expand_conv")(y)
        y = layers.BatchNormalization(name=f"{name}expand_bn")(y)
        y = layers.Activation(activation, name=f"{name}expand_activation")(y)
    y = layers.DepthwiseConv2D(kernel_size, strides=strides, padding="same", use_bias=False,
                               depthwise_initializer=CONV_INITIALIZER, name=f"{name}dwconv")(y)
    y = layers.BatchNormalization(name=f"{name}bn")(y)
    y = layers.Activation(activation, name=f"{name}activation")(y)
    if 0 < se_ratio <= 1:
        squeezed = max(1, int(filters_in * se_ratio))
        se = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}se_squeeze")(y)
        se = layers.Conv2D(squeezed, 1, activation=activation, kernel_initializer=CONV_INITIALIZER,
                           name=f"{name}se_reduce")(se)
        se = layers.Conv2D(filters, 1, activation="sigmoid", kernel_initializer=CONV_INITIALIZER,
                           name=f"{name}se_expand")(se)
        y = layers.Multiply(name=f"{name}se_excite")([y, se])
    y = layers.Conv2D(filters_out, 1, use_bias=False, kernel_initializer=CONV_INITIALIZER,
                      name=f"{name}project_conv")(y)
    y = layers.BatchNormalization(name=f"{name}project_bn")(y)
    if strides == 1 and filters_in == filters_out:
        if drop_rate > 0:
            y = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(y)
        y = layers.Add(name=f"{name}add")([y, x])
    return y


def EfficientNet(width_coefficient=1.0, depth_coefficient=1.0, input_shape=(224, 224, 3),
                 num_classes=1000, include_top=True, pooling="avg", dropout=0.2,
                 drop_connect_rate=0.2, classifier_activation="softmax",
                 stackwise_kernel_sizes=B0_KERNEL_SIZES, stackwise_num_repeats=B0_NUM_REPEATS,
                 stackwise_input_filters=B0_INPUT_FILTERS,
                 stackwise_output_filters=B0_OUTPUT_FILTERS,
                 stackwise_expansion_ratios=B0_EXPANSION_RATIOS, stackwise_strides=B0_STRIDES,
                 stackwise_squeeze_and_excite_ratios=B0_SE_RATIOS, stem_filters=32,
                 top_filters=1280, activation="swish", normalize=True, preprocessing="unit",
                 name="efficientnet"):
    """EfficientNet (Tan & Le, 2019) built from the B0 stage table and two coefficients.

    The input is rescaled to [0, 1] and then normalized per channel with the ImageNet mean and
    standard deviation held in a ``Normalization`` layer's (non-trainable) state, as in
    keras.applications; that state is part of the parameter count (3 + 3 + 1 for B0's
    5,330,571).

    Args:
        width_coefficient: channel multiplier (rounded to multiples of 8).
        depth_coefficient: multiplier of each stage's repeats (rounded up).
        input_shape: (height, width, channels); the paper's resolution is in ``VARIANTS``.
        num_classes: number of output classes.
        include_top: whether to add the pooling and class layer.
        pooling: 'avg', 'max' or None.
        dropout: dropout before the class layer.
        drop_connect_rate: stochastic-depth rate of the last block; block ``i`` of ``n`` drops
            its residual branch with rate ``drop_connect_rate * i / n``.
        classifier_activation: activation of the class layer (``None`` for logits).
        stackwise_*: the B0 stage table (kernel, repeats, channels, expansion, stride, SE).
        stem_filters: filters of the 3x3/2 stem conv (before width scaling).
        top_filters: filters of the final 1x1 conv (before width scaling).
        activation: activation of every block (swish as in the paper).
        normalize: normalize with the ImageNet statistics after rescaling.
        preprocessing: what raw [0, 255] RGB becomes before ``normalize``: ``'unit'`` (x / 255,
            keras.applications' layout), another keras.applications mode or None.
        name: model name.
    """
    stages = (stackwise_kernel_sizes, stackwise_num_repeats, stackwise_input_filters,
              stackwise_output_filters, stackwise_expansion_ratios, stackwise_strides,
              stackwise_squeeze_and_excite_ratios)
    if len({len(s) for s in stages}) != 1:
        raise ValueError("the stackwise_* lists of EfficientNet must have equal lengths")
    if width_coefficient <= 0 or depth_coefficient <= 0:
        raise ValueError("width_coefficient and depth_coefficient must be > 0, got "
                         f"{width_coefficient!r} and {depth_coefficient!r}")
    if not 0 <= drop_connect_rate < 1:
        raise ValueError(f"drop_connect_rate must be in [0, 1), got {drop_connect_rate!r}")

    inputs, x = image_input(input_shape, preprocessing)
    normalization = None
    if normalize:
        normalization = layers.Normalization(axis=-1, name="normalization")
        x = normalization(x)
    x = layers.Conv2D(round_filters(stem_filters, width_coefficient), 3, strides=2,
                      padding="same", use_bias=False, kernel_initializer=CONV_INITIALIZER,
                      name="stem_conv")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.Activation(activation, name="stem_activation")(x)
    taps = ["stem_activation"]

    total = sum(round_repeats(n, depth_coefficient) for n in stackwise_num_repeats)
    index = 0
    for stage, (kernel, repeats, _, filters_out, expansion, strides, se_ratio) in enumerate(
            zip(*stages)):
        filters_out = round_filters(filters_out, width_coefficient)
        for j in range(round_repeats(repeats, depth_coefficient)):
            x = mbconv_block(x, filters_out, kernel, strides if j == 0 else 1, expansion,
                             se_ratio, drop_connect_rate * index / total, activation,
                             name=f"block{stage + 1}{chr(ord('a') + j)}_")
            taps.append(layer_name(x))
            index += 1

    x = layers.Conv2D(round_filters(top_filters, width_coefficient), 1, use_bias=False,
                      kernel_initializer=CONV_INITIALIZER, name="top_conv")(x)
    x = layers.BatchNormalization(name="top_bn")(x)
    x = layers.Activation(activation, name="top_activation")(x)
    x = classifier_head(x, num_classes, include_top, pooling, dropout, classifier_activation)
    model = set_feature_taps(keras.Model(inputs, x, name=name), taps + ["top_activation"])
    if normalization is not None:
        # The Normalization layer's state holds the ImageNet statistics (variance = std**2).
        normalization.adapt_mean.assign(IMAGENET_MEAN_RGB)
        normalization.adapt_variance.assign([s ** 2 for s in IMAGENET_STDDEV_RGB])
        normalization.finalize_state()  # refresh the constants its call() uses
    return model


def _create_efficientnet(variant, arch_args, /, **kwargs):
    return create_variant(EfficientNet, variant, arch_args, kwargs)


@register_model(task="classification", family="efficientnet")
def efficientnet_b0(**kwargs):
    """EfficientNet-B0 (Tan & Le 2019): width 1.0, depth 1.0, 224x224 input.

    5,330,571 parameters at 1000 classes (including the 7 of the Normalization state).
    """
    return _create_efficientnet(efficientnet_b0, VARIANTS["b0"], **kwargs)


@register_model(task="classification", family="efficientnet")
def efficientnet_b1(**kwargs):
    """EfficientNet-B1 (Tan & Le 2019): width 1.0, depth 1.1, 240x240 input."""
    return _create_efficientnet(efficientnet_b1, VARIANTS["b1"], **kwargs)


@register_model(task="classification", family="efficientnet")
def efficientnet_b2(**kwargs):
    """EfficientNet-B2 (Tan & Le 2019): width 1.1, depth 1.2, 260x260 input."""
    return _create_efficientnet(efficientnet_b2, VARIANTS["b2"], **kwargs)


@register_model(task="classification", family="efficientnet")
def efficientnet_b3(**kwargs):
    """EfficientNet-B3 (Tan & Le 2019): width 1.2, depth 1.4, 300x300 input."""
    return _create_efficientnet(efficientnet_b3, VARIANTS["b3"], **kwargs)


@register_model(task="classification", family="efficientnet")
def efficientnet_b4(**kwargs):
    """EfficientNet-B4 (Tan & Le 2019): width 1.4, depth 1.8, 380x380 input."""
    return _create_efficientnet(efficientnet_b4, VARIANTS["b4"], **kwargs)


@register_model(task="classification", family="efficientnet")
def efficientnet_b5(**kwargs):
    """EfficientNet-B5 (Tan & Le 2019): width 1.6, depth 2.2, 456x456 input."""
    return _create_efficientnet(efficientnet_b5, VARIANTS["b5"], **kwargs)


@register_model(task="classification", family="efficientnet")
def efficientnet_b6(**kwargs):
    """EfficientNet-B6 (Tan & Le 2019): width 1.8, depth 2.6, 528x528 input."""
    return _create_efficientnet(efficientnet_b6, VARIANTS["b6"], **kwargs)


@register_model(task="classification", family="efficientnet")
def efficientnet_b7(**kwargs):
    """EfficientNet-B7 (Tan & Le 2019): width 2.0, depth 3.1, 600x600 input."""
    return _create_efficientnet(efficientnet_b7, VARIANTS["b7"], **kwargs)
