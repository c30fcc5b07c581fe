"""LeNet-5 (LeCun et al., 1998, "Gradient-based learning applied to document recognition")."""

import keras
from keras import layers

from kerascv_apps.layers.connection_table import LENET5_C3_TABLE, ConnectionTableConv2D
from kerascv_apps.models.common import classifier_head, create_variant, image_input, predictions
from kerascv_apps.registry import register_model


def LeNet5(input_shape=(32, 32, 1), num_classes=10, activation="tanh", subsampling="avg",
           include_top=True, pooling="flatten", dropout=0.0, classifier_activation="softmax",
           preprocessing="unit", c3_table=False, name="lenet5"):
    """LeNet-5: C1 conv5x5(6) - S2 pool - C3 conv5x5(16) - S4 pool - C5(120) - F6(84) - output.

    The paper's 32x32 field is kept: smaller inputs (MNIST's 28x28) are zero-padded to 32x32
    as LeCun did. C5 is a 5x5 convolution over S4's 5x5 maps, i.e. a fully connected layer,
    so it is built as flatten + dense (identical weights, any input size). With 10 classes
    the model has 61,706 parameters; with ``c3_table=True`` 60,806.

    Against the paper (LeCun et al. 1998, section II-B), whose trainable parameters sum to
    60,000 = C1 156 + S2 12 + C3 1,516 + S4 32 + C5 48,120 + F6 10,164:
      - C3: fully connected to S2 by default (2,416 parameters); ``c3_table=True`` uses the
        paper's connection table (Table I, ``ConnectionTableConv2D``: 1,516).
      - S2/S4: plain average (or max) pooling; the paper's subsampling multiplies the sum of
        each 2x2 window by a trainable coefficient, adds a trainable bias and applies the
        sigmoid (2 parameters per map, 12 + 32).
      - Output: a dense layer with softmax (84 * 10 + 10 = 850 parameters) trained with cross-
        entropy, not the paper's 10 Euclidean RBF units with fixed +-1 prototypes (7x12
        stylized bitmaps) and its MAP-style loss.
      - Activation: plain tanh, not the paper's scaled ``1.7159 * tanh(2a/3)``.
    Hence 60,000 - 12 - 32 - 1,516 + 2,416 + 850 = 61,706 (or 60,806 with the table).

    Args:
        input_shape: (height, width, channels); height and width of at most 32 are padded.
        num_classes: number of output classes.
        activation: 'tanh' as in the paper, or e.g. 'relu'.
        subsampling: 'avg' (the paper's subsampling) or 'max'.
        include_top: whether to add F6 and the class layer.
        pooling: how S4's maps become C5's input ('flatten' as in the paper, or 'avg'/'max').
        dropout: dropout before the class layer.
        classifier_activation: activation of the class layer (``None`` for logits).
        preprocessing: what raw [0, 255] RGB becomes inside the model: ``'unit'`` (x / 255),
            ``'caffe'``, ``'tf'``, ``'torch'`` (keras.applications' modes) or None.
        c3_table: C3 with the paper's partial connection table (Table I) instead of fully
            connected to S2's six maps.
    """
    if subsampling not in ("avg", "max"):
        raise ValueError(f"subsampling must be 'avg' or 'max', got {subsampling!r}")
    pool = layers.AveragePooling2D if subsampling == "avg" else layers.MaxPooling2D
    inputs, x = image_input(input_shape, preprocessing)
    height, width = input_shape[0], input_shape[1]
    if height is not None and width is not None and (height < 32 or width < 32):
        pad_h, pad_w = max(0, 32 - height), max(0, 32 - width)
        x = layers.ZeroPadding2D(((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2)),
                                 name="pad_to_32")(x)
    x = layers.Conv2D(6, 5, activation=activation, name="c1")(x)
    x = pool(2, name="s2")(x)
    if c3_table:
        x = ConnectionTableConv2D(LENET5_C3_TABLE, 5, activation=activation, name="c3")(x)
    else:
        x = layers.Conv2D(16, 5, activation=activation, name="c3")(x)
    x = pool(2, name="s4")(x)
    x = classifier_head(x, None, include_top=False, pooling=pooling)
    if not include_top:
        return keras.Model(inputs, x, name=name)
    x = layers.Dense(120, activation=activation, name="c5")(x)
    x = layers.Dense(84, activation=activation, name="f6")(x)
    x = predictions(x, num_classes, classifier_activation, dropout, model="LeNet-5")
    return keras.Model(inputs, x, name=name)


def _create_lenet(variant, arch_args, /, **kwargs):
    return create_variant(LeNet5, variant, arch_args, kwargs)


@register_model(task="classification", family="lenet")
def lenet5(**kwargs):
    """LeNet-5 (LeCun 1998), 32x32 grayscale input by default.

    ``c3_table=True``: C3 with the paper's connection table (1,516 weights, 60,806 in all).
    Deviations from the paper (see ``LeNet5``): softmax output instead of RBF units, plain
    pooling instead of trainable subsampling, plain tanh."""
    return _create_lenet(lenet5, {}, **kwargs)
