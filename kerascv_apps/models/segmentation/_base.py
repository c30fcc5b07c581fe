"""What every segmentation head shares: taking any input size (pad to the total stride inside
the model, crop back) and running a backbone's layers on that padded input."""

from kerascv_apps.layers.alignment import CropToMatch, PadToMultiple


def check_static_size(input_shape, model):
    """Static sizes must be positive ints (``None`` = any size, decided at run time)."""
    if input_shape is None or len(input_shape) != 3:
        raise ValueError(f"{model}: input_shape must be (height, width, channels), got "
                         f"{input_shape!r}")
    for size in input_shape[:2]:
        if size is not None and int(size) < 1:
            raise ValueError(f"{model}: input height/width must be positive or None, got "
                             f"{input_shape!r}")


def pad_to_stride(x, stride, name="pad_to_stride"):
    """Zero-pads ``x`` at the bottom/right to a multiple of ``stride`` (the model's total
    stride), so every stride-2 step sees an even map: the output then covers the padded
    image exactly and the feature offsets the backbones declare hold. A static size that is
    already a multiple needs no layer (the model stays plain Keras layers, e.g. for tfmot)."""
    height, width = x.shape[1], x.shape[2]
    if height is not None and width is not None and height % stride == 0 and width % stride == 0:
        return x
    return PadToMultiple(stride, name=name)(x)


def crop_to_input(x, image, name="crop_to_input"):
    """The top-left ``H x W`` of ``x`` for an ``H x W`` ``image`` (undoes :func:`pad_to_stride`)."""
    if None not in x.shape[1:3] and tuple(x.shape[1:3]) == tuple(image.shape[1:3]):
        return x
    return CropToMatch(name=name)([x, image])


def apply_on(model, inputs):
    """Runs a functional ``model``'s own layers on new symbolic ``inputs`` and returns its
    outputs there, so a head can put a layer (the padding) between the input and a backbone
    while the backbone's layers stay flat in the new model (same names, same weights) instead
    of nesting the backbone as one layer."""
    from kerascv_apps.keras_adapter import run_graph

    return run_graph(model, inputs)


def dilates(backbone):
    """Whether the backbone ``backbone``'s builder takes an ``output_stride`` (dilated last
    stages, like ResNet's); others keep their own stride."""
    from kerascv_apps.arguments import accepted_arguments
    from kerascv_apps.registry import get_entry

    return "output_stride" in (accepted_arguments(get_entry(backbone).builder) or ())
