"""VGG (Simonyan & Zisserman, 2015, "Very Deep Convolutional Networks for Large-Scale Image
Recognition"), configurations A, A-LRN, B, C, D, E and batch-normalized variants."""

import keras
from keras import layers

from kerascv_apps.layers.lrn import LocalResponseNormalization
from kerascv_apps.layers.pooling_indices import MaxPoolingWithSwitches
from kerascv_apps.models.common import global_pool, image_input, predictions, resize_inside, \
    create_variant
from kerascv_apps.models.backbones import declare_feature_taps, set_feature_taps
from kerascv_apps.registry import register_model

declare_feature_taps("vgg")

HEAD_POOLINGS = (None, "flatten", "avg", "max")

# Table 1 of the paper: convolutions per stage (filters 64-128-256-512-512 everywhere).
CONFIGS = {
    "A": dict(stackwise_num_blocks=(1, 1, 2, 2, 2)),
    "A-LRN": dict(stackwise_num_blocks=(1, 1, 2, 2, 2), lrn=True),
    "B": dict(stackwise_num_blocks=(2, 2, 2, 2, 2)),
    "C": dict(stackwise_num_blocks=(2, 2, 3, 3, 3), stackwise_last_kernel_size=(3, 3, 1, 1, 1)),
    "D": dict(stackwise_num_blocks=(2, 2, 3, 3, 3)),
    "E": dict(stackwise_num_blocks=(2, 2, 4, 4, 4)),
    # batch-normalized variants (not in the paper)
    "A-BN": dict(stackwise_num_blocks=(1, 1, 2, 2, 2), batch_norm=True),
    "B-BN": dict(stackwise_num_blocks=(2, 2, 2, 2, 2), batch_norm=True),
    "D-BN": dict(stackwise_num_blocks=(2, 2, 3, 3, 3), batch_norm=True),
    "E-BN": dict(stackwise_num_blocks=(2, 2, 4, 4, 4), batch_norm=True),
}




def _conv(x, filters, kernel_size, batch_norm, name, initializer="he_normal"):
    """3x3 (or 1x1) conv, stride 1, same padding, ReLU; with BN: conv - BN - ReLU."""
    if not batch_norm:
        # ReLU inside the conv layer so `blockN_convM` outputs match keras.applications
        return layers.Conv2D(filters, kernel_size, padding="same", activation="relu",
                             kernel_initializer=initializer, name=name)(x)
    x = layers.Conv2D(filters, kernel_size, padding="same", use_bias=False,
                      kernel_initializer=initializer, name=name)(x)
    x = layers.BatchNormalization(epsilon=1e-5, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _stage(x, index, filters, num_blocks, last_kernel_size, batch_norm, lrn,
           initializer="he_normal", switch_pooling=False):
    """Stage ``index``: ``num_blocks`` convolutions then 2x2/2 max pooling (``block{i}_pool``;
    with ``switch_pooling`` a ``MaxPoolingWithSwitches`` whose second output records where
    each maximum was)."""
    for j in range(1, num_blocks + 1):
        kernel = last_kernel_size if (j == num_blocks and j > 1) else 3
        x = _conv(x, filters, kernel, batch_norm, name=f"block{index}_conv{j}",
                  initializer=initializer)
        if lrn and index == 1 and j == 1:
            x = LocalResponseNormalization(size=5, bias=2.0, alpha=1e-4, beta=0.75,
                                           name="block1_lrn")(x)
    if switch_pooling:
        return MaxPoolingWithSwitches(name=f"block{index}_pool")(x)[0]
    return layers.MaxPooling2D(2, strides=2, name=f"block{index}_pool")(x)


def VGG(input_shape=(224, 224, 3), num_classes=1000,
        stackwise_num_filters=(64, 128, 256, 512, 512), stackwise_num_blocks=(2, 2, 3, 3, 3),
        stackwise_last_kernel_size=None, lrn=False, batch_norm=False, fc_units=(4096, 4096),
        include_top=True, pooling=None, dropout=0.5, classifier_activation="softmax",
        preprocessing="unit", resize_to=None, kernel_initializer="he_normal",
        switch_pooling=False, name="vgg16"):
    """VGG: stages of 3x3 convolutions (stride 1, same padding, ReLU) each closed by 2x2/2 max
    pooling, then FC-4096, FC-4096 (dropout 0.5 after each) and the class layer.

    Convolutions use He initialization (variance 2/fan-in, for ReLU; with Glorot the deep
    plain variants barely start training from scratch). Layers are named like ``keras.applications`` (``block1_conv1`` ... ``block5_pool``,
    ``fc1``, ``fc2``), so segmentation models tap ``block3_pool``/``block4_pool``/
    ``block5_pool`` by name. With 224x224 inputs and 1000 classes VGG-16 (D) has 138,357,544
    and VGG-19 (E) 143,667,240 parameters. Built with ``include_top=False`` and
    ``input_shape=(None, None, 3)`` it is fully convolutional.

    Args:
        input_shape: (height, width, channels); ``None`` spatial dims only without the top.
        num_classes: number of classes of the class layer.
        stackwise_num_filters: filters of each stage.
        stackwise_num_blocks: convolutions of each stage (Table 1 of the paper; ``CONFIGS``).
        stackwise_last_kernel_size: kernel size of the last convolution of each stage
            (configuration C uses 1x1 in stages 3-5); default all 3.
        lrn: local response normalization after the first convolution (configuration A-LRN).
        batch_norm: conv - BN - ReLU (the ``_bn`` variants; not in the paper).
        fc_units: units of the hidden fully connected layers.
        include_top: add the fully connected layers.
        pooling: how the last feature map becomes a vector: ``'flatten'`` (the paper), ``'avg'``,
            ``'max'``; ``None`` means flatten with ``include_top`` and the feature map without.
        dropout: dropout rate after each hidden FC layer.
        classifier_activation: activation of the class layer (``None`` for logits).
        preprocessing: what raw [0, 255] RGB becomes inside the model: ``'unit'`` (x / 255),
            ``'caffe'``, ``'tf'``, ``'torch'`` (keras.applications' modes) or None.
        resize_to: optional (height, width) the input is resized to inside the model
            (bilinear), so small images (32x32 digits) can feed a net that needs more.
        kernel_initializer: of every convolution (He, see above).
        switch_pooling: each stage's pooling is a ``MaxPoolingWithSwitches`` (same values
            as ``MaxPooling2D(2)``; needs even sizes) that also records where each maximum
            was: SegNet's encoder. The switches are the second output of the
            ``block{i}_pool`` layers; ``build_backbone`` returns them beside the levels.
        name: model name.
    """
    if pooling not in HEAD_POOLINGS:
        raise ValueError(f"VGG: pooling must be one of {HEAD_POOLINGS}, got {pooling!r}")
    stages = len(stackwise_num_filters)
    if len(stackwise_num_blocks) != stages:
        raise ValueError("VGG: stackwise_num_filters and stackwise_num_blocks must have the same "
                         f"length, got {stackwise_num_filters} and {stackwise_num_blocks}")
    last_kernels = stackwise_last_kernel_size or (3,) * stages
    if len(last_kernels) != stages:
        raise ValueError(f"VGG: stackwise_last_kernel_size needs {stages} entries, got {last_kernels}")
    inputs, x = image_input(input_shape, preprocessing)
    x = resize_inside(x, resize_to)
    for i in range(stages):
        x = _stage(x, i + 1, stackwise_num_filters[i], stackwise_num_blocks[i], last_kernels[i],
                   batch_norm, lrn, kernel_initializer, switch_pooling)
    if include_top and pooling is None:
        pooling = "flatten"
    taps = [f"block{i + 1}_pool" for i in range(stages)]
    x = global_pool(x, pooling)
    if not include_top:
        return set_feature_taps(keras.Model(inputs, x, name=name), taps)
    for i, units in enumerate(fc_units, start=1):
        x = layers.Dense(units, activation="relu", name=f"fc{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    x = predictions(x, num_classes, classifier_activation, model="VGG")
    return set_feature_taps(keras.Model(inputs, x, name=name), taps)


def _create_vgg(variant, arch_args, /, **kwargs):
    return create_variant(VGG, variant, arch_args, kwargs, weights_preprocessing="caffe")


@register_model(task="classification", family="vgg")
def vgg11(**kwargs):
    """VGG-11, configuration A (8 conv + 3 FC), ~133M parameters."""
    return _create_vgg(vgg11, CONFIGS["A"], **kwargs)


@register_model(task="classification", family="vgg")
def vgg11_lrn(**kwargs):
    """VGG-11 with LRN after the first convolution, configuration A-LRN."""
    return _create_vgg(vgg11_lrn, CONFIGS["A-LRN"], **kwargs)


@register_model(task="classification", family="vgg")
def vgg13(**kwargs):
    """VGG-13, configuration B (10 conv + 3 FC)."""
    return _create_vgg(vgg13, CONFIGS["B"], **kwargs)


@register_model(task="classification", family="vgg")
def vgg16_c(**kwargs):
    """VGG-16, configuration C (last conv of stages 3-5 is 1x1)."""
    return _create_vgg(vgg16_c, CONFIGS["C"], **kwargs)


@register_model(task="classification", family="vgg")
def vgg16(**kwargs):
    """VGG-16, configuration D (13 conv + 3 FC), 138,357,544 parameters."""
    return _create_vgg(vgg16, CONFIGS["D"], **kwargs)


@register_model(task="classification", family="vgg")
def vgg19(**kwargs):
    """VGG-19, configuration E (16 conv + 3 FC), 143,667,240 parameters."""
    return _create_vgg(vgg19, CONFIGS["E"], **kwargs)


@register_model(task="classification", family="vgg")
def vgg11_bn(**kwargs):
    """VGG-11 (A) with batch normalization after every convolution."""
    return _create_vgg(vgg11_bn, CONFIGS["A-BN"], **kwargs)


@register_model(task="classification", family="vgg")
def vgg13_bn(**kwargs):
    """VGG-13 (B) with batch normalization after every convolution."""
    return _create_vgg(vgg13_bn, CONFIGS["B-BN"], **kwargs)


@register_model(task="classification", family="vgg")
def vgg16_bn(**kwargs):
    """VGG-16 (D) with batch normalization after every convolution."""
    return _create_vgg(vgg16_bn, CONFIGS["D-BN"], **kwargs)


@register_model(task="classification", family="vgg")
def vgg19_bn(**kwargs):
    """VGG-19 (E) with batch normalization after every convolution."""
    return _create_vgg(vgg19_bn, CONFIGS["E-BN"], **kwargs)
