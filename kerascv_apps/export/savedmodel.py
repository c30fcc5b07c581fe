"""SavedModel export in TF Serving layout: ``<base_dir>/<name>/<version>/``.

Two signatures:
- ``serving_default``: ``images`` float32 [batch, H, W, C] pixel values in [0, 255];
- ``serving_bytes``: ``image_bytes`` string [batch] of encoded JPEG/PNG/BMP/GIF files. The name
  ends in ``_bytes`` so TF Serving's REST API accepts ``{"b64": "..."}`` values for it. Images
  are decoded to the model's channels and resized (bilinear) to its input size; models with a
  dynamic input size take the images at their own size (one size per request).
Outputs come from the task (classification: ``probabilities`` and ``class_id``).
"""

import os

from kerascv_apps.io import atomic_dir


def next_version(model_dir):
    if not os.path.isdir(model_dir):
        return 1
    versions = [int(d) for d in os.listdir(model_dir) if d.isdigit()]
    return max(versions, default=0) + 1


def build_export_archive(model, task):
    import keras
    import tensorflow as tf

    shape = tuple(model.inputs[0].shape)
    height, width, channels = shape[1], shape[2], shape[3]

    def serve(images):
        return task.serving_outputs(model(images, training=False))

    def decode(data):
        image = tf.io.decode_image(data, channels=channels, expand_animations=False)
        image = tf.cast(image, tf.float32)
        if height is not None and width is not None:
            image = tf.image.resize(image, (height, width), method="bilinear")
        return image

    def serve_bytes(image_bytes):
        images = tf.map_fn(decode, image_bytes, fn_output_signature=tf.TensorSpec(
            (height, width, channels), tf.float32))
        return serve(images)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serve, input_signature=[
        tf.TensorSpec((None, height, width, channels), tf.float32, name="images")])
    archive.add_endpoint("serving_bytes", serve_bytes, input_signature=[
        tf.TensorSpec((None,), tf.string, name="image_bytes")])
    return archive


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
    archive = build_export_archive(model, task)
    with atomic_dir(dest, create=False) as stage, contextlib.redirect_stdout(io.StringIO()):
        archive.write_out(stage)
    return dest
