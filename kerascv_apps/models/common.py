"""Pieces every model builder shares: the input stem and the classification head."""

import os

import keras
from keras import layers

from kerascv_apps.layers.preprocessing import ImagePreprocessing, check_mode
from kerascv_apps.models.weights import load_weights_file, read_weights

POOLINGS = (None, "avg", "max", "flatten")


def image_input(input_shape, preprocessing="unit", name="image", rescale=None):
    """Returns ``(inputs, x)``: the Input (raw [0, 255] pixels) and the preprocessed pixels.

    ``preprocessing``: ``"unit"`` (x / 255, a ``rescale`` layer), ``"caffe"``, ``"tf"``,
    ``"torch"`` (see :class:`ImagePreprocessing`) or ``None`` (pixels as they come).
    ``rescale`` (True / False) is the older spelling of ``"unit"`` / ``None``.
    """
    if rescale is not None:
        preprocessing = "unit" if rescale else None
    if input_shape is None or len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}")
    if preprocessing is True or preprocessing is False:  # the former ``rescale`` flag
        preprocessing = "unit" if preprocessing else None
    check_mode(preprocessing)
    inputs = keras.Input(shape=tuple(input_shape), name=name)
    if preprocessing is None:
        return inputs, inputs
    if preprocessing == "unit":
        return inputs, layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    return inputs, ImagePreprocessing(preprocessing, name="preprocessing")(inputs)


def layer_name(x):
    """Name of the layer that produced the tensor ``x`` (builders record their taps)."""
    from kerascv_apps.keras_adapter import producing_layer

    return producing_layer(x).name


def variant_arguments(variant, arch_args, kwargs):
    """Builder arguments of a registered variant (one small function per variant, whose name
    is the model name): its architecture arguments, ``name`` = the variant function's name,
    then the caller's keyword arguments, which override both."""
    arguments = dict(arch_args)
    arguments["name"] = variant.__name__
    arguments.update(kwargs)
    return arguments


# the keywords of the dict it returns are the caller's (``arguments.accepted_arguments``)
variant_arguments.merges_keywords = True


def create_variant(builder, variant, arch_args, kwargs, weights_preprocessing="unit"):
    """Builds a registered variant; ``weights=PATH`` (in ``kwargs``) loads a weights file by
    layer name (e.g. keras.applications' ImageNet ``.h5``) and, unless ``preprocessing`` is
    given, switches the in-model preprocessing to the one those weights were trained with.
    With ``new_head=True`` the class layer is not loaded (transfer learning to new classes)."""
    weights = kwargs.pop("weights", None)
    new_head = bool(kwargs.pop("new_head", False))
    arguments = variant_arguments(variant, arch_args, kwargs)
    if weights is None:
        return builder(**arguments)
    source = read_weights(weights, variant.__name__)  # a bad file fails before the build
    if "preprocessing" not in kwargs:
        arguments["preprocessing"] = weights_preprocessing
    model = builder(**arguments)
    load_weights_file(model, source, origin=os.fspath(weights), new_head=new_head)
    return model


# read by kerascv_apps.arguments: the caller's keywords go to ``builder`` (the first argument)
create_variant.forwards_keywords_to_first_argument = True
create_variant.extra_keywords = ("weights", "new_head")


def resize_inside(x, resize_to):
    """Optional bilinear resize inside the model (e.g. 32x32 digits -> 64x64 for a net whose
    stem would otherwise shrink them to nothing)."""
    if resize_to is None:
        return x
    if len(tuple(resize_to)) != 2 or min(resize_to) < 1:
        raise ValueError(f"resize_to must be (height, width), got {resize_to!r}")
    return layers.Resizing(int(resize_to[0]), int(resize_to[1]), interpolation="bilinear",
                           name="resize")(x)


def predictions(x, num_classes, classifier_activation="softmax", dropout=0.0, model="model"):
    """The class layer every classifier ends with: [dropout] -> Dense -> float32 activation."""
    if num_classes is None or num_classes < 1:
        raise ValueError(f"{model}: num_classes must be a positive int, got {num_classes!r}")
    if dropout:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    x = layers.Dense(num_classes, name="predictions_dense")(x)
    return layers.Activation(classifier_activation, dtype="float32", name="predictions")(x)


def global_pool(x, pooling):
    """``avg`` / ``max`` global pooling or ``flatten`` (fixed layer names); None keeps the map."""
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool")(x)
    if pooling == "flatten":
        return layers.Flatten(name="flatten")(x)
    return x


def classifier_head(x, num_classes, include_top=True, pooling="avg", dropout=0.0,
                    classifier_activation="softmax"):
    """Global pooling (or flatten), optional dropout, and the class layer.

    Without ``include_top`` the pooled features (or, with ``pooling=None``, the feature map)
    are returned. The activation runs in float32 so mixed precision keeps stable outputs.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    x = global_pool(x, pooling)
    if not include_top:
        return x
    if pooling is None:
        raise ValueError("include_top=True needs a pooling ('avg', 'max' or 'flatten')")
    return predictions(x, num_classes, classifier_activation, dropout)
