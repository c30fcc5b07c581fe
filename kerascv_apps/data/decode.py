"""The one image decoder: training, evaluation, prediction and serving read pixels the same way.

``decode_image(data, channels)`` turns encoded bytes (PNG, JPEG, BMP, GIF: first frame) into
float32 (H, W, channels) pixel values in [0, 255] with ``tf.io.decode_image`` only, so a
SavedModel ``serving_bytes`` endpoint that calls this function sees exactly the pixels the
model was trained on.

Bit depth: 8-bit files decode to their stored values. 16-bit PNGs are scaled to 8 bits by
keeping the high byte::

    p8 = floor(p16 / 256)        (= p16 >> 8; 0 -> 0, 65535 -> 255)

which is what ``tf.io.decode_image(..., dtype=tf.uint8)`` does (libpng's strip-16) and what
``tf.image.convert_image_dtype(uint16 -> uint8)`` does; ``scale_16_to_8`` is the numpy
version of the same formula.

Channels: ``channels=3`` expands greyscale / drops alpha; ``channels=1`` uses the decoder's own
greyscale conversion for PNG and JPEG, and ``tf.image.rgb_to_grayscale`` for BMP and GIF (their
decoders cannot produce one channel).
"""

import numpy as np

IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF")


def scale_16_to_8(array):
    """uint16 pixel values -> uint8 with ``p8 = p16 >> 8`` (the formula of this module)."""
    return (np.asarray(array, np.uint16) >> 8).astype(np.uint8)


def decode_image(data, channels):
    """Encoded image bytes (a scalar string tensor) -> float32 (H, W, channels) in [0, 255]."""
    import tensorflow as tf

    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    if channels == 3:
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
    else:
        magic = tf.strings.substr(data, 0, 3)
        native_grey = tf.logical_not(tf.logical_or(tf.equal(tf.strings.substr(magic, 0, 2), "BM"),
                                                   tf.equal(magic, "GIF")))
        image = tf.cond(
            native_grey,
            lambda: tf.io.decode_image(data, channels=1, expand_animations=False),
            lambda: tf.image.rgb_to_grayscale(
                tf.io.decode_image(data, channels=3, expand_animations=False)))
    image = tf.cast(image, tf.float32)
    image.set_shape((None, None, channels))
    return image


def resize_image(image, size):
    """Bilinear, antialiased resize of a float32 image to ``size`` (h, w); unchanged when it
    already has that size. Masks never go through here (they use nearest neighbour)."""
    import tensorflow as tf

    size = tuple(int(s) for s in size)
    shape = tf.shape(image)
    same = tf.logical_and(tf.equal(shape[0], size[0]), tf.equal(shape[1], size[1]))
    out = tf.cond(same, lambda: image,
                  lambda: tf.image.resize(image, size, method="bilinear", antialias=True))
    out.set_shape(size + (image.shape[-1],))
    return out


def read_image(path, channels):
    """Reads and decodes one file eagerly -> numpy float32 (H, W, channels); errors name it."""
    import tensorflow as tf

    from kerascv_apps.data.sources.base import DataError

    try:
        with open(path, "rb") as f:
            data = f.read()
        return decode_image(tf.constant(data), channels).numpy()
    except (OSError, tf.errors.InvalidArgumentError, tf.errors.OpError) as e:
        message = getattr(e, "message", None) or str(e)
        raise DataError(f"{path}: cannot read image ({message.splitlines()[0][:200]})") from e
