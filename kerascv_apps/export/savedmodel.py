"""SavedModel export in TF Serving layout: ``<base_dir>/<name>/<version>/``.

Two signatures, each checking its request before the model runs (a malformed request gets an
``InvalidArgumentError`` whose message says what was expected; it never reaches a kernel that
could abort the server process, and never gets a silent answer):

- ``serving_default``: ``images`` float32 ``[batch, H, W, C]`` pixel values in [0, 255]. Checked
  in this order: rank 4, batch not empty, ``C`` = the model's channels, ``H``/``W`` = the
  model's size (models with a dynamic size: both > 0). The input is declared with unknown
  rank on purpose, so that the rank check runs in the graph (a declared rank would be taken
  for granted by the graph and a rank-3 tensor would reach the convolution).
  The dtype is the signature's (float32): TF's loaders refuse other dtypes themselves.
- ``serving_bytes``: ``image_bytes`` string ``[batch]`` of encoded PNG (8- and 16-bit), JPEG,
  GIF (first frame) or BMP files. The name ends in ``_bytes`` so TF Serving's REST API accepts
  ``{"b64": "..."}`` values. Checked: rank 1, batch not empty, every element starts like one of
  those formats, and, from the headers before any pixel is decoded, no image and not the
  request in all above the pixel budget (``kerascv_apps.data.decode.pixel_budget``). Each
  image is decoded to the model's channels (1: the decoder's greyscale for PNG/JPEG,
  ``tf.image.rgb_to_grayscale`` for GIF/BMP; 3: grey expanded, alpha dropped) the way
  training reads files, 16-bit PNGs keeping the high byte (``p8 = p16 >> 8``, what
  ``tf.io.decode_image`` and ``tf.image.convert_image_dtype`` do). Fixed-size models: every image
  is resized to the model size (bilinear, antialiased: the training resize), so one request may
  mix sizes. Dynamic-size models: the images of one request must share one size (an error
  names it otherwise).

Outputs come from the task (classification: ``probabilities`` and ``class_id``, to which the
exporter adds ``class_names``, a string tensor; segmentation: the class-id ``mask``; super-
resolution: the uint8 ``image``). Class names are also written to ``assets/labels.txt`` inside
the version folder.
"""

import os

from kerascv_apps.io import atomic_dir

IMAGE_MAGIC = {"PNG": b"\x89PNG", "JPEG": b"\xff\xd8\xff", "GIF": b"GIF8", "BMP": b"BM"}
LABELS_FILE = os.path.join("assets", "labels.txt")


def next_version(model_dir):
    if not os.path.isdir(model_dir):
        return 1
    versions = [int(d) for d in os.listdir(model_dir) if d.isdigit()]
    return max(versions, default=0) + 1


def _shape_text(height, width, channels):
    return f"[batch, {height or 'height'}, {width or 'width'}, {channels}]"


def _guard(value, checks, data, fallback):
    """``value`` once every ``(ok, message)`` check holds; else an ``InvalidArgumentError`` with
    the first failing check's message followed by ``data``.

    The model only ever sees ``tf.cond(all ok, value, fallback)``: a well-formed stand-in when
    a check fails, so no kernel can be handed a malformed tensor, whatever order the runtime
    picks. Nothing here may fail while shapes are inferred (TF specialises a function to the
    request's shapes): every check is computed from a shape padded to a fixed length.
    """
    import tensorflow as tf

    ok = tf.reduce_all(tf.stack([c for c, _ in checks]))
    message = tf.constant("")
    for check, text in reversed(checks):
        message = tf.where(check, message, text)
    assertion = tf.debugging.Assert(ok, [message] + list(data), summarize=16)
    with tf.control_dependencies([assertion]):
        return tf.cond(ok, lambda: tf.identity(value), lambda: fallback)


def check_images(images, height, width, channels):
    """``images`` after the request checks of ``serving_default`` (rank, emptiness, channels,
    size, in that order)."""
    import tensorflow as tf

    expected = _shape_text(height, width, channels)
    rank = tf.rank(images)
    shape = tf.concat([tf.shape(images), tf.zeros([4], tf.int32)], 0)[:4]
    checks = [
        (tf.equal(rank, 4), f"images must be a rank-4 float32 tensor {expected}"),
        (shape[0] > 0, f"images is an empty batch; send at least one image {expected}"),
        (tf.equal(shape[3], channels), f"images must have {channels} channel(s) {expected}"),
    ]
    if height is not None and width is not None:
        checks.append((tf.logical_and(tf.equal(shape[1], height), tf.equal(shape[2], width)),
                       f"images must be {height}x{width} (height x width) {expected}, or send "
                       f"encoded files to serving_bytes, which resizes them"))
        fallback = tf.zeros((1, height, width, channels))
    else:
        checks.append((tf.logical_and(shape[1] > 0, shape[2] > 0),
                       f"images must have a height and width > 0 {expected}"))
        fallback = tf.zeros((1, 64, 64, channels))
    guarded = _guard(images, checks, ["; got a tensor of shape", tf.shape(images)], fallback)
    return tf.ensure_shape(guarded, (None, height, width, channels))


# a 1x1 grey PNG: the stand-in a refused bytes request is replaced with (never answered)
_STAND_IN_PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08"
                 b"\x00\x00\x00\x00:~\x9bU\x00\x00\x00\nIDATx\x9cc\x00\x00\x00\x02\x00\x01"
                 b"\xe5'\xde\xfc\x00\x00\x00\x00IEND\xaeB`\x82")


def check_image_bytes(image_bytes):
    """``image_bytes`` after the request checks of ``serving_bytes`` (rank, emptiness, formats)."""
    import tensorflow as tf

    formats = ", ".join(IMAGE_MAGIC)
    flat = tf.reshape(image_bytes, [-1])
    known = tf.zeros_like(flat, dtype=tf.bool)
    for magic in IMAGE_MAGIC.values():
        known = tf.logical_or(known, tf.equal(tf.strings.substr(flat, 0, len(magic)), magic))
    checks = [
        (tf.equal(tf.rank(image_bytes), 1),
         f"image_bytes must be a rank-1 string tensor [batch] of encoded images ({formats})"),
        (tf.size(image_bytes) > 0, "image_bytes is an empty batch; send at least one image"),
        (tf.reduce_all(known), f"image_bytes: every element must be an encoded {formats} file "
                               f"(checked by its first bytes)"),
    ]
    data = ["; request shape", tf.shape(image_bytes), "; elements that are not images",
            tf.where(tf.logical_not(known))[:, 0]]
    guarded = tf.ensure_shape(_guard(image_bytes, checks, data, tf.constant([_STAND_IN_PNG])),
                              (None,))
    return check_request_pixels(guarded)


def check_request_pixels(image_bytes):
    """Refuses, from the file headers and before anything is decoded, a request with an image
    above the pixel budget or more pixels in all than it (``kerascv_apps.data.decode``: the
    budget in force at export)."""
    import tensorflow as tf

    from kerascv_apps.data.decode import encoded_size, pixel_budget

    budget = pixel_budget()
    sizes = tf.map_fn(encoded_size, image_bytes, fn_output_signature=tf.TensorSpec([2], tf.int64))
    pixels = sizes[:, 0] * sizes[:, 1]
    checks = [
        (tf.reduce_all(pixels <= budget),
         f"image_bytes: an image has more pixels than the budget of {budget:,} (set at export "
         f"with --max-pixels); not decoded"),
        (tf.reduce_sum(pixels) <= budget,
         f"image_bytes: the images of this request have more pixels in all than the budget of "
         f"{budget:,} (set at export with --max-pixels); send fewer per request"),
    ]
    data = ["; (height, width) per image", sizes]
    guarded = _guard(image_bytes, checks, data, tf.constant([_STAND_IN_PNG]))
    return tf.ensure_shape(guarded, (None,))


def decode_image(data, channels):
    """Encoded bytes (scalar string) -> float32 (H, W, channels) in [0, 255], exactly as
    training reads files (``kerascv_apps.data.decode``: 16-bit PNGs keep the high byte)."""
    from kerascv_apps.data.decode import decode_image as decode

    if channels not in (1, 3):
        raise ValueError(f"serving_bytes decodes images for 1- or 3-channel models, "
                         f"this model has {channels} channels")
    return decode(data, channels)


def decode_batch(image_bytes, height, width, channels):
    """Decodes a checked ``image_bytes`` batch to float32 ``[batch, H, W, C]``."""
    import tensorflow as tf

    from kerascv_apps.data.decode import resize_image

    if height is not None and width is not None:
        def decode(data):
            return resize_image(decode_image(data, channels), (height, width))
    else:
        first = tf.shape(decode_image(image_bytes[0], channels))[:2]

        def decode(data):
            image = decode_image(data, channels)
            same = tf.debugging.assert_equal(
                tf.shape(image)[:2], first,
                message="image_bytes: this model takes any image size, but the images of one "
                        "request must share one size (send one request per size); sizes "
                        "differ (height, width)")
            with tf.control_dependencies([same]):
                return tf.identity(image)

    return tf.map_fn(decode, image_bytes,
                     fn_output_signature=tf.TensorSpec((height, width, channels), tf.float32))


def add_class_names(outputs, class_names):
    """Adds ``class_names`` (the name of each ``class_id``) to classification outputs."""
    import tensorflow as tf

    if class_names and isinstance(outputs, dict) and "class_id" in outputs:
        outputs = dict(outputs)
        outputs["class_names"] = tf.gather(tf.constant(list(class_names)), outputs["class_id"])
    return outputs


def build_export_archive(model, task):
    import keras
    import tensorflow as tf

    class_names = task.serving_class_names(model)
    if not task.image_input:  # a generator: float32 latent vectors in, images out
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(
            "serving_default",
            lambda latent: add_class_names(task.serving_outputs(model(latent, training=False)),
                                           class_names),
            input_signature=[tf.TensorSpec(tuple(model.inputs[0].shape), tf.float32,
                                           name="latent")])
        return archive, class_names
    shape = tuple(model.inputs[0].shape)
    height, width, channels = shape[1], shape[2], shape[3]
    predictor = task.prediction_model(model)  # e.g. detection: raw outputs decoded

    def outputs_for(images):
        return add_class_names(task.serving_outputs(predictor(images, training=False)),
                               class_names)

    def serve(images):
        return outputs_for(check_images(images, height, width, channels))

    def serve_bytes(image_bytes):
        return outputs_for(decode_batch(check_image_bytes(image_bytes), height, width, channels))

    archive = keras.export.ExportArchive()
    archive.track(model)
    # unknown rank on purpose: the rank check must run in the graph (see the module docstring)
    archive.add_endpoint("serving_default", serve, input_signature=[
        tf.TensorSpec(None, tf.float32, name="images")])
    archive.add_endpoint("serving_bytes", serve_bytes, input_signature=[
        tf.TensorSpec(None, tf.string, name="image_bytes")])
    return archive, class_names


def export_savedmodel(model, base_dir, name, task, version=None):
    """Writes the SavedModel atomically and returns its version directory.

    ``version`` defaults to one more than the highest existing version; an existing version
    is never overwritten.
    """
    import contextlib
    import io

    if not name or os.sep in name:
        raise ValueError(f"name must be a plain folder name, got {name!r}")
    model_dir = os.path.join(base_dir, name)
    version = next_version(model_dir) if version is None else int(version)
    dest = os.path.join(model_dir, str(version))
    if os.path.exists(dest):
        raise FileExistsError(f"SavedModel version {dest} already exists; TF Serving versions are "
                              f"immutable, choose another version")
    archive, class_names = build_export_archive(model, task)
    with atomic_dir(dest, create=False) as stage:
        with contextlib.redirect_stdout(io.StringIO()):
            archive.write_out(stage)
        if class_names:
            os.makedirs(os.path.join(stage, "assets"), exist_ok=True)
            with open(os.path.join(stage, LABELS_FILE), "w", encoding="utf-8") as f:
                f.write("\n".join(class_names) + "\n")
    return dest
