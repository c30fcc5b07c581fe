"""GoogLeNet / Inception-v1 (Szegedy et al., 2015, "Going Deeper with Convolutions")."""

import keras
from keras import layers

from kerascv_apps.layers.lrn import LocalResponseNormalization
from kerascv_apps.layers.outputs import AuxiliaryOutput
from kerascv_apps.layers.segmentation import AdaptiveAveragePooling2D
from kerascv_apps.models.common import global_pool, image_input, predictions, resize_inside, \
    create_variant
from kerascv_apps.registry import register_model

# Table 1 of the paper, one list per stage (stages are separated by 3x3/2 max pooling):
# (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj)
INCEPTION_V1_STAGES = (
    (("inception3a", (64, 96, 128, 16, 32, 32)),
     ("inception3b", (128, 128, 192, 32, 96, 64))),
    (("inception4a", (192, 96, 208, 16, 48, 64)),
     ("inception4b", (160, 112, 224, 24, 64, 64)),
     ("inception4c", (128, 128, 256, 24, 64, 64)),
     ("inception4d", (112, 144, 288, 32, 64, 64)),
     ("inception4e", (256, 160, 320, 32, 128, 128))),
    (("inception5a", (256, 160, 320, 32, 128, 128)),
     ("inception5b", (384, 192, 384, 48, 128, 128))),
)
AUX_AFTER = ("inception4a", "inception4d")
AUX_LOSS_WEIGHT = 0.3




def _conv(x, filters, kernel_size, name, strides=1, batch_norm=False):
    """Conv (same padding) + ReLU, or conv - BN - ReLU with ``batch_norm``."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same",
                      use_bias=not batch_norm, activation=None if batch_norm else "relu",
                      kernel_initializer="he_normal", name=name)(x)
    if batch_norm:
        x = layers.BatchNormalization(epsilon=1e-3, name=f"{name}_bn")(x)
        x = layers.ReLU(name=f"{name}_relu")(x)
    return x


def inception_block(x, filters, name, batch_norm=False):
    """The inception module: 1x1 | 1x1->3x3 | 1x1->5x5 | 3x3 max pool->1x1, concatenated.

    Args:
        filters: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj) as in Table 1.
    """
    c1, c3r, c3, c5r, c5, pp = filters
    b1 = _conv(x, c1, 1, f"{name}_1x1", batch_norm=batch_norm)
    b2 = _conv(x, c3r, 1, f"{name}_3x3_reduce", batch_norm=batch_norm)
    b2 = _conv(b2, c3, 3, f"{name}_3x3", batch_norm=batch_norm)
    b3 = _conv(x, c5r, 1, f"{name}_5x5_reduce", batch_norm=batch_norm)
    b3 = _conv(b3, c5, 5, f"{name}_5x5", batch_norm=batch_norm)
    b4 = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    b4 = _conv(b4, pp, 1, f"{name}_pool_proj", batch_norm=batch_norm)
    return layers.Concatenate(name=f"{name}_concat")([b1, b2, b3, b4])


def auxiliary_classifier(x, num_classes, name, conv_filters=128, fc_units=1024, dropout=0.7,
                         classifier_activation="softmax", batch_norm=False):
    """Auxiliary classifier: 5x5/3 average pooling, 1x1 conv (128), FC-1024, dropout 0.7, FC.

    On the paper's 14x14 maps the pooling gives 4x4; on smaller maps (small inputs or
    dynamic sizes) adaptive average pooling to 4x4 keeps the FC input size (as torchvision).
    """
    height, width = x.shape[1], x.shape[2]
    if height is not None and width is not None and height >= 5 and width >= 5:
        x = layers.AveragePooling2D(5, strides=3, name=f"{name}_pool")(x)
    else:
        x = AdaptiveAveragePooling2D(4, name=f"{name}_pool")(x)
    x = _conv(x, conv_filters, 1, f"{name}_conv", batch_norm=batch_norm)
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dense(fc_units, activation="relu", name=f"{name}_fc")(x)
    if dropout:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    x = layers.Dense(num_classes, name=f"{name}_dense")(x)
    x = layers.Activation(classifier_activation, dtype="float32", name=f"{name}_activation")(x)
    return AuxiliaryOutput(AUX_LOSS_WEIGHT, name=name)(x)


def GoogLeNet(input_shape=(224, 224, 3), num_classes=1000, stem_filters=(64, 64, 192),
              stackwise_inception_filters=INCEPTION_V1_STAGES, aux_logits=False,
              aux_after=AUX_AFTER, aux_conv_filters=128, aux_fc_units=1024, lrn=True,
              batch_norm=False, include_top=True, pooling="avg", dropout=0.4,
              classifier_activation="softmax", preprocessing="unit", resize_to=None, name="googlenet"):
    """GoogLeNet (Inception-v1): stem, nine inception modules in three stages, global average
    pooling, dropout 0.4 and the class layer; optionally the two auxiliary classifiers.

    Stem: 7x7/2 conv (64), 3x3/2 max pool, LRN, 1x1 conv (64), 3x3 conv (192), LRN,
    3x3/2 max pool. Stages 3 (3a, 3b), 4 (4a-4e) and 5 (5a, 5b) are separated by 3x3/2 max
    pooling; every convolution has ReLU and He initialization (measured on digits, 64x64, Adam
    1e-3, 3 epochs: validation accuracy 0.40 with He, 0.10 (no progress) with Glorot). With ``aux_logits=True`` the model is the *training*
    model with three outputs ``[predictions, aux1, aux2]`` (auxiliary classifiers after
    ``inception4a`` and ``inception4d``, :class:`AuxiliaryOutput` layers whose losses the paper
    weights by 0.3: ``kerascv_apps.models.outputs.output_loss_weights``);
    ``kerascv_apps.models.outputs.inference_model(model)`` drops them and shares the weights.

    Args:
        input_shape: (height, width, channels).
        num_classes: number of classes.
        stem_filters: filters of the 7x7 conv, the 1x1 reduce and the 3x3 conv of the stem.
        stackwise_inception_filters: per stage, a sequence of ``(block_name, filters)`` with
            the six filter counts of Table 1.
        aux_logits: add the auxiliary classifiers (training model with three outputs).
        aux_after: names of the blocks the auxiliary classifiers attach to.
        aux_conv_filters: filters of the auxiliary 1x1 conv.
        aux_fc_units: units of the auxiliary hidden FC layer.
        lrn: local response normalization in the stem (the paper; off with ``batch_norm``).
        batch_norm: conv - BN - ReLU everywhere (as torchvision; not in the paper).
        include_top: add the class layer.
        pooling: ``'avg'`` (the paper), ``'max'`` or ``None`` (feature map, no top).
        dropout: dropout rate before the class layer (0.4 in the paper).
        classifier_activation: activation of the class layers (``None`` for logits).
        preprocessing: what raw [0, 255] RGB becomes inside the model (``'unit'``: x / 255).
        resize_to: optional (height, width) the input is resized to inside the model
            (bilinear), so small images (32x32 digits) can feed a net that needs more.
        name: model name.
    """
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"GoogLeNet: pooling must be None, 'avg' or 'max', got {pooling!r}")
    if aux_logits and not include_top:
        raise ValueError("GoogLeNet: aux_logits=True needs include_top=True")
    names = [block for stage in stackwise_inception_filters for block, _ in stage]
    if aux_logits and any(a not in names for a in aux_after):
        raise ValueError(f"GoogLeNet: aux_after {aux_after} must name inception blocks {names}")
    use_lrn = lrn and not batch_norm
    inputs, x = image_input(input_shape, preprocessing)
    x = resize_inside(x, resize_to)
    x = _conv(x, stem_filters[0], 7, "conv1", strides=2, batch_norm=batch_norm)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    if use_lrn:
        x = LocalResponseNormalization(name="pool1_lrn")(x)
    x = _conv(x, stem_filters[1], 1, "conv2_reduce", batch_norm=batch_norm)
    x = _conv(x, stem_filters[2], 3, "conv2", batch_norm=batch_norm)
    if use_lrn:
        x = LocalResponseNormalization(name="conv2_lrn")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)
    aux_outputs = []
    for s, stage in enumerate(stackwise_inception_filters):
        if s > 0:
            x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{s + 2}")(x)
        for block_name, filters in stage:
            x = inception_block(x, filters, block_name, batch_norm=batch_norm)
            if aux_logits and block_name in aux_after:
                aux_outputs.append(auxiliary_classifier(
                    x, num_classes, f"aux{len(aux_outputs) + 1}", aux_conv_filters, aux_fc_units,
                    classifier_activation=classifier_activation, batch_norm=batch_norm))
    if pooling in ("avg", "max"):
        x = global_pool(x, pooling)
    if not include_top:
        return keras.Model(inputs, x, name=name)
    if pooling is None:
        raise ValueError("GoogLeNet: include_top=True needs pooling 'avg' or 'max'")
    x = predictions(x, num_classes, classifier_activation, dropout, model="GoogLeNet")
    outputs = [x] + aux_outputs if aux_logits else x
    return keras.Model(inputs, outputs, name=name)


def _create_googlenet(variant, arch_args, **kwargs):
    return create_variant(GoogLeNet, variant, arch_args, kwargs)


@register_model(task="classification", family="googlenet")
def googlenet(**kwargs):
    """GoogLeNet / Inception-v1 (LRN stem; ``aux_logits=True`` adds the auxiliary classifiers)."""
    return _create_googlenet(googlenet, {}, **kwargs)


@register_model(task="classification", family="googlenet")
def googlenet_bn(**kwargs):
    """GoogLeNet with batch normalization after every convolution (torchvision-style)."""
    return _create_googlenet(googlenet_bn, dict(batch_norm=True), **kwargs)
