"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012, "ImageNet Classification with Deep
Convolutional Neural Networks")."""

import keras
from keras import layers

from kerascv_apps.layers.lrn import LocalResponseNormalization
from kerascv_apps.layers.segmentation import AdaptiveAveragePooling2D
from kerascv_apps.models.common import global_pool, image_input, predictions, resize_inside, \
    create_variant
from kerascv_apps.registry import register_model

POOLINGS = (None, "adaptive", "flatten", "avg", "max")




def _conv(x, filters, kernel_size, strides, padding, lrn, name):
    """Conv + ReLU (+ LRN), padding given in pixels as in the paper/torchvision."""
    if padding:
        x = layers.ZeroPadding2D(padding, name=f"{name}_pad")(x)
    x = layers.Conv2D(filters, kernel_size, strides=strides, activation="relu",
                      kernel_initializer="he_normal", name=name)(x)
    if lrn:
        x = LocalResponseNormalization(size=5, bias=2.0, alpha=1e-4, beta=0.75, name=f"{name}_lrn")(x)
    return x


def AlexNet(input_shape=(224, 224, 3), num_classes=1000,
            stackwise_num_filters=(64, 192, 384, 256, 256),
            stackwise_kernel_size=(11, 5, 3, 3, 3), stackwise_padding=(2, 2, 1, 1, 1),
            stem_strides=4, pool_after=(1, 2, 5), lrn=False, fc_units=(4096, 4096),
            include_top=True, pooling="adaptive", pooled_size=6, dropout=0.5,
            classifier_activation="softmax", preprocessing="unit", resize_to=None, name="alexnet"):
    """AlexNet as one tower (the paper split it over two GPUs; one tower is the usual form).

    Five convolutions (ReLU; the first with stride 4), overlapping 3x3/2 max pooling after
    conv1, conv2 and conv5, then FC-4096, FC-4096 (each preceded by dropout 0.5) and the class
    layer. Convolutions use He initialization (variance 2/fan-in, for ReLU). The default is
    torchvision's layout (conv 64-192-384-256-256, no LRN, adaptive
    average pooling to 6x6): 61,100,840 parameters at 224x224 with 1000 classes. The paper's
    layout (96-256-384-384-256 with LRN after conv1 and conv2) is ``alexnet_paper``.

    Args:
        input_shape: (height, width, channels).
        num_classes: number of classes of the class layer.
        stackwise_num_filters: filters of conv1..conv5.
        stackwise_kernel_size: kernel sizes of conv1..conv5.
        stackwise_padding: zero padding (pixels) before each convolution.
        stem_strides: stride of conv1.
        pool_after: 1-based indices of the convolutions followed by max pooling.
        lrn: local response normalization (n=5, k=2, alpha=1e-4, beta=0.75) after conv1, conv2.
        fc_units: units of the hidden fully connected layers (``fc1``, ``fc2``, ...).
        include_top: add the fully connected layers; otherwise return the pooled features
            (or the conv5 feature map with ``pooling=None``).
        pooling: ``'adaptive'`` (average to ``pooled_size`` x ``pooled_size`` then flatten, as
            torchvision; identity at 224x224, any input size works), ``'flatten'``, ``'avg'``, ``'max'`` or
            ``None`` (feature map; only without ``include_top``).
        pooled_size: output size of the adaptive pooling.
        dropout: dropout rate before each hidden FC layer (0.5 in the paper).
        classifier_activation: activation of the class layer (``None`` for logits).
        preprocessing: what raw [0, 255] RGB becomes inside the model: ``'unit'`` (x / 255),
            ``'caffe'``, ``'tf'``, ``'torch'`` (keras.applications' modes) or None.
        resize_to: optional (height, width) the input is resized to inside the model
            (bilinear), so small images (32x32 digits) can feed a net that needs more.
        name: model name.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"AlexNet: pooling must be one of {POOLINGS}, got {pooling!r}")
    if not (len(stackwise_num_filters) == len(stackwise_kernel_size) == len(stackwise_padding)):
        raise ValueError("AlexNet: stackwise_num_filters, stackwise_kernel_size and "
                         "stackwise_padding must have the same length")
    inputs, x = image_input(input_shape, preprocessing)
    x = resize_inside(x, resize_to)
    for i, (filters, kernel, pad) in enumerate(
            zip(stackwise_num_filters, stackwise_kernel_size, stackwise_padding), start=1):
        x = _conv(x, filters, kernel, stem_strides if i == 1 else 1, pad, lrn and i <= 2,
                  name=f"conv{i}")
        if i in pool_after:
            x = layers.MaxPooling2D(3, strides=2, name=f"pool{i}")(x)
    if pooling == "adaptive":
        x = AdaptiveAveragePooling2D(pooled_size, name="adaptive_pool")(x)
        x = layers.Flatten(name="flatten")(x)
    elif pooling in ("flatten", "avg", "max"):
        x = global_pool(x, pooling)
    elif include_top:
        raise ValueError("AlexNet: include_top=True needs a pooling ('adaptive', 'flatten', 'avg', 'max')")
    if not include_top:
        return keras.Model(inputs, x, name=name)
    for i, units in enumerate(fc_units, start=1):
        if dropout:
            x = layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
        x = layers.Dense(units, activation="relu", name=f"fc{i}")(x)
    x = predictions(x, num_classes, classifier_activation, model="AlexNet")
    return keras.Model(inputs, x, name=name)


def _create_alexnet(variant, arch_args, **kwargs):
    return create_variant(AlexNet, variant, arch_args, kwargs)


@register_model(task="classification", family="alexnet")
def alexnet(**kwargs):
    """AlexNet, torchvision layout (64-192-384-256-256, no LRN), 61.1M parameters."""
    return _create_alexnet(alexnet, {}, **kwargs)


@register_model(task="classification", family="alexnet")
def alexnet_paper(**kwargs):
    """AlexNet, the paper's layout (96-256-384-384-256, LRN after conv1/conv2), one tower."""
    return _create_alexnet(alexnet_paper, dict(stackwise_num_filters=(96, 256, 384, 384, 256),
                                               lrn=True), **kwargs)
