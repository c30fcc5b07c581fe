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

Pixel budget: every decoder (folder sources, TFRecords, ``predict``, ``serving_bytes``)
refuses an image whose header says it has more than ``pixel_budget()`` pixels before its
pixels are decoded (a 775 KB PNG can hold 16000x16000 pixels: 7.6 GB once decoded). The budget
is ``MAX_PIXELS`` (PIL's decompression-bomb threshold, about 89.5 megapixels) unless the
environment variable ``KERASCV_APPS_MAX_PIXELS`` or the command line's ``--max-pixels`` sets
another; an exported SavedModel keeps the budget it was exported with.
"""

import os

import numpy as np

IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF")
# PIL's own decompression-bomb warning threshold (about 89.5 megapixels)
MAX_PIXELS = 89_478_485
BUDGET_ENV = "KERASCV_APPS_MAX_PIXELS"


def pixel_budget():
    """The most pixels one image may have (``KERASCV_APPS_MAX_PIXELS``, else ``MAX_PIXELS``)."""
    text = os.environ.get(BUDGET_ENV)
    if not text:
        return MAX_PIXELS
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{BUDGET_ENV}={text!r}: expected a positive number of pixels")
    return value


def encoded_size(data):
    """(height, width) int64 of encoded image bytes read from the file header only (PNG IHDR,
    JPEG SOF, GIF logical screen, BMP info header; 0x0 for other bytes), without decoding."""
    import tensorflow as tf

    head = tf.strings.substr(data, 0, 32) + tf.constant(b"\0" * 32)
    raw = tf.cast(tf.io.decode_raw(tf.strings.substr(head, 0, 32), tf.uint8), tf.int64)

    def big(i, n):
        return sum(raw[i + k] * (256 ** (n - 1 - k)) for k in range(n))

    def little(i, n):
        return sum(raw[i + k] * (256 ** k) for k in range(n))

    def bmp():
        height = little(22, 4)
        height = tf.where(height >= 2 ** 31, 2 ** 32 - height, height)  # top-down: negative
        return tf.stack([height, little(18, 4)])

    def jpeg():
        return tf.cast(tf.image.extract_jpeg_shape(data)[:2], tf.int64)

    magic = tf.strings.substr(head, 0, 4)
    return tf.case([
        (tf.equal(magic, b"\x89PNG"), lambda: tf.stack([big(20, 4), big(16, 4)])),
        (tf.equal(tf.strings.substr(magic, 0, 3), b"\xff\xd8\xff"), jpeg),
        (tf.equal(tf.strings.substr(magic, 0, 3), b"GIF"),
         lambda: tf.stack([little(8, 2), little(6, 2)])),
        (tf.equal(tf.strings.substr(magic, 0, 2), b"BM"), bmp),
    ], default=lambda: tf.zeros([2], tf.int64))


def check_budget(data, what="image"):
    """An op that fails (``InvalidArgumentError``) when the header of ``data`` says it has
    more pixels than the budget; the message names ``what``, its size and the budget."""
    import tensorflow as tf

    budget = pixel_budget()
    size = encoded_size(data)
    return tf.debugging.Assert(
        size[0] * size[1] <= budget,
        [f"{what} above the pixel budget: height, width =", size[0], size[1],
         f"pixels; at most {budget:,} pixels are decoded (--max-pixels or {BUDGET_ENV})"])


def scale_16_to_8(array):
    """uint16 pixel values -> uint8 with ``p8 = p16 >> 8`` (the formula of this module)."""
    return (np.asarray(array, np.uint16) >> 8).astype(np.uint8)


def decode_image(data, channels):
    """Encoded image bytes (a scalar string tensor) -> float32 (H, W, channels) in [0, 255]."""
    import tensorflow as tf

    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    with tf.control_dependencies([check_budget(data)]):
        data = tf.identity(data)
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
        height, width = (int(v) for v in encoded_size(tf.constant(data)).numpy())
        budget = pixel_budget()
        if height * width > budget:
            raise DataError(f"{path}: {width}x{height} = {width * height:,} pixels is more than "
                            f"the pixel budget of {budget:,} (--max-pixels or {BUDGET_ENV}); "
                            f"not decoded")
        return decode_image(tf.constant(data), channels).numpy()
    except (OSError, tf.errors.InvalidArgumentError, tf.errors.OpError) as e:
        message = getattr(e, "message", None) or str(e)
        raise DataError(f"{path}: cannot read image ({message.splitlines()[0][:200]})") from e
