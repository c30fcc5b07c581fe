"""ResNet (He et al., 2015, "Deep Residual Learning for Image Recognition") and Wide ResNet
(Zagoruyko & Komodakis, 2016, "Wide Residual Networks"), with an optional dilated
(atrous) trunk for dense prediction (Chen et al., DeepLab, 2017; Zhao et al., PSPNet, 2017).

Layer names follow ``keras.applications`` (``conv1_conv``, ``conv2_block1_out``, ...,
``conv5_block3_out``) so segmentation heads can tap stage outputs by name.
"""

import keras
from keras import layers

from kerascv_apps.layers.shortcuts import ZeroPadShortcut
from kerascv_apps.models.backbones import declare_feature_taps, set_feature_taps
from kerascv_apps.models.common import classifier_head, image_input, layer_name, \
    create_variant
from kerascv_apps.registry import register_model

declare_feature_taps("resnet")

BLOCK_TYPES = ("basic", "bottleneck")
SHORTCUTS = ("A", "B", "C")
BN_EPSILON = 1.001e-5
BOTTLENECK_EXPANSION = 4


def _conv_bn(x, filters, kernel_size, strides, dilation, use_bias, name, relu=True):
    """Conv -> BN (-> ReLU). Stride-2 k x k convs pad k//2 on every side (the paper's
    alignment, the same pixels a strided 1x1 shortcut samples); others use 'same'."""
    if strides > 1 and kernel_size > 1:
        x = layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                      dilation_rate=dilation, use_bias=use_bias, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    if relu:
        x = layers.Activation("relu", name=f"{name}_relu")(x)
    return x


def _shortcut(x, filters, strides, shortcut, use_bias, name):
    """The block's skip path: identity, zero-padded identity (A) or 1x1 projection (B, C)."""
    changes = strides != 1 or x.shape[-1] != filters
    if shortcut == "C" or (shortcut == "B" and changes):
        return _conv_bn(x, filters, 1, strides, 1, use_bias, f"{name}_0", relu=False)
    if changes:  # option A
        return ZeroPadShortcut(filters, strides, name=f"{name}_0_pad")(x)
    return x


def _merge(shortcut, residual, name):
    x = layers.Add(name=f"{name}_add")([shortcut, residual])
    return layers.Activation("relu", name=f"{name}_out")(x)


def basic_block(x, filters, strides=1, dilation=1, shortcut="B", use_bias=False, name="block"):
    """Two 3x3 convolutions (ResNet-18/34); output has ``filters`` channels."""
    skip = _shortcut(x, filters, strides, shortcut, use_bias, name)
    y = _conv_bn(x, filters, 3, strides, dilation, use_bias, f"{name}_1")
    y = _conv_bn(y, filters, 3, 1, dilation, use_bias, f"{name}_2", relu=False)
    return _merge(skip, y, name)


def bottleneck_block(x, filters, strides=1, dilation=1, shortcut="B", use_bias=True,
                     width_multiplier=1.0, stride_on_3x3=False, name="block"):
    """1x1 reduce -> 3x3 -> 1x1 expand (ResNet-50/101/152); output has 4 * ``filters``.

    ``width_multiplier`` widens the two inner convolutions (Wide ResNet). The stride sits on
    the first 1x1 (the original paper and keras.applications) or, with ``stride_on_3x3``,
    on the 3x3 (the "v1.5" layout of torchvision).
    """
    inner = int(filters * width_multiplier)
    skip = _shortcut(x, filters * BOTTLENECK_EXPANSION, strides, shortcut, use_bias, name)
    first_stride, mid_stride = (1, strides) if stride_on_3x3 else (strides, 1)
    y = _conv_bn(x, inner, 1, first_stride, 1, use_bias, f"{name}_1")
    y = _conv_bn(y, inner, 3, mid_stride, dilation, use_bias, f"{name}_2")
    y = _conv_bn(y, filters * BOTTLENECK_EXPANSION, 1, 1, 1, use_bias, f"{name}_3", relu=False)
    return _merge(skip, y, name)


def ResNet(stackwise_num_blocks=(3, 4, 6, 3), stackwise_num_filters=(64, 128, 256, 512),
           block_type="bottleneck", shortcut="B", input_shape=(224, 224, 3), num_classes=1000,
           include_top=True, pooling="avg", dropout=0.0, classifier_activation="softmax",
           stem_filters=64, use_bias=True, width_multiplier=1.0, stride_on_3x3=False,
           output_stride=32, preprocessing="unit", name="resnet"):
    """Residual network (He et al., 2015): y = F(x) + x, BN after each conv, ReLU after the add.

    Stem: 7x7/2 conv (64) + 3x3/2 max pool, then one stage per entry of the stackwise lists,
    each stage halving the resolution except the first. Stage ``i`` is named ``conv{i+2}``
    and block ``j`` of it ``conv{i+2}_block{j}`` (keras.applications' names).

    Args:
        stackwise_num_blocks: number of blocks per stage.
        stackwise_num_filters: filters per stage (a bottleneck stage outputs 4x as many).
        block_type: 'basic' (two 3x3, ResNet-18/34) or 'bottleneck' (1x1-3x3-1x1, 50+).
        shortcut: the paper's options for blocks whose shape changes: 'A' zero-padded
            identity (no parameters), 'B' 1x1 projection only where the shape changes,
            'C' projection on every block.
        input_shape: (height, width, channels); ``(None, None, 3)`` for any size.
        num_classes: number of output classes.
        include_top: whether to add the pooling and class layer.
        pooling: 'avg', 'max' or None (None with ``include_top=False`` returns the map).
        dropout: dropout before the class layer.
        classifier_activation: activation of the class layer (``None`` for logits).
        stem_filters: filters of the 7x7 stem convolution.
        use_bias: conv biases; keras.applications' ResNet-50/101/152 have them, the paper's
            (and torchvision's) ResNets do not.
        width_multiplier: widens the bottleneck's inner convs (Wide ResNet, e.g. 2).
        stride_on_3x3: put a bottleneck's stride on its 3x3 instead of its first 1x1.
        output_stride: 32 (classification), 16 or 8: the last stages keep their resolution
            and dilate their 3x3 convolutions by 2 (then 4) instead (DeepLab/PSPNet).
        preprocessing: what raw [0, 255] RGB becomes inside the model: ``'unit'`` (x / 255),
            ``'caffe'``, ``'tf'``, ``'torch'`` (keras.applications' modes) or None.
        name: model name.

    Returns:
        A ``keras.Model``.
    """
    if block_type not in BLOCK_TYPES:
        raise ValueError(f"block_type must be one of {BLOCK_TYPES}, got {block_type!r}")
    if shortcut not in SHORTCUTS:
        raise ValueError(f"shortcut must be one of {SHORTCUTS}, got {shortcut!r}")
    if len(stackwise_num_blocks) != len(stackwise_num_filters) or not stackwise_num_blocks:
        raise ValueError("stackwise_num_blocks and stackwise_num_filters must be non-empty and "
                         f"of equal length, got {stackwise_num_blocks!r} and "
                         f"{stackwise_num_filters!r}")
    if any(int(n) < 1 for n in stackwise_num_blocks):
        raise ValueError(f"stackwise_num_blocks must be positive, got {stackwise_num_blocks!r}")
    if output_stride not in (4, 8, 16, 32):
        raise ValueError(f"output_stride must be one of 4, 8, 16, 32, got {output_stride!r}")
    if block_type == "basic" and width_multiplier != 1.0:
        raise ValueError("width_multiplier applies to bottleneck blocks only")

    inputs, x = image_input(input_shape, preprocessing)
    x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
    x = layers.Conv2D(stem_filters, 7, strides=2, use_bias=use_bias, name="conv1_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)

    taps = ["conv1_relu"]
    current_stride, dilation = 4, 1
    for stage, (blocks, filters) in enumerate(zip(stackwise_num_blocks, stackwise_num_filters)):
        strides = 1 if stage == 0 else 2
        if strides == 2 and current_stride >= output_stride:
            strides, dilation = 1, dilation * 2
        current_stride *= strides
        for block in range(int(blocks)):
            block_name = f"conv{stage + 2}_block{block + 1}"
            block_strides = strides if block == 0 else 1
            if block_type == "basic":
                x = basic_block(x, filters, block_strides, dilation, shortcut, use_bias,
                                name=block_name)
            else:
                x = bottleneck_block(x, filters, block_strides, dilation, shortcut, use_bias,
                                     width_multiplier, stride_on_3x3, name=block_name)
        taps.append(layer_name(x))

    x = classifier_head(x, num_classes, include_top, pooling, dropout, classifier_activation)
    return set_feature_taps(keras.Model(inputs, x, name=name), taps)


def _create_resnet(variant, arch_args, **kwargs):
    return create_variant(ResNet, variant, arch_args, kwargs, weights_preprocessing="caffe")


@register_model(task="classification", family="resnet")
def resnet18(**kwargs):
    """ResNet-18 (basic blocks 2-2-2-2, no conv biases as in the paper); 11,689,512 trainable."""
    return _create_resnet(resnet18, dict(stackwise_num_blocks=(2, 2, 2, 2), block_type="basic",
                                         use_bias=False), **kwargs)


@register_model(task="classification", family="resnet")
def resnet34(**kwargs):
    """ResNet-34 (basic blocks 3-4-6-3, no conv biases); 21,797,672 trainable with option B."""
    return _create_resnet(resnet34, dict(stackwise_num_blocks=(3, 4, 6, 3), block_type="basic",
                                         use_bias=False), **kwargs)


@register_model(task="classification", family="resnet")
def resnet50(**kwargs):
    """ResNet-50 (bottlenecks 3-4-6-3, keras.applications layout); 25,636,712 parameters."""
    return _create_resnet(resnet50, dict(stackwise_num_blocks=(3, 4, 6, 3)), **kwargs)


@register_model(task="classification", family="resnet")
def resnet101(**kwargs):
    """ResNet-101 (bottlenecks 3-4-23-3, keras.applications layout); 44,707,176 parameters."""
    return _create_resnet(resnet101, dict(stackwise_num_blocks=(3, 4, 23, 3)), **kwargs)


@register_model(task="classification", family="resnet")
def resnet152(**kwargs):
    """ResNet-152 (bottlenecks 3-8-36-3, keras.applications layout); 60,419,944 parameters."""
    return _create_resnet(resnet152, dict(stackwise_num_blocks=(3, 8, 36, 3)), **kwargs)


@register_model(task="classification", family="resnet")
def wide_resnet50_2(**kwargs):
    """Wide ResNet-50-2 (Zagoruyko & Komodakis 2016): bottleneck inner convs twice as wide."""
    return _create_resnet(wide_resnet50_2, dict(stackwise_num_blocks=(3, 4, 6, 3), use_bias=False,
                                                width_multiplier=2.0, stride_on_3x3=True),
                          **kwargs)


@register_model(task="classification", family="resnet")
def wide_resnet101_2(**kwargs):
    """Wide ResNet-101-2: ResNet-101 with bottleneck inner convs twice as wide."""
    return _create_resnet(wide_resnet101_2, dict(stackwise_num_blocks=(3, 4, 23, 3),
                                                 use_bias=False, width_multiplier=2.0,
                                                 stride_on_3x3=True), **kwargs)
