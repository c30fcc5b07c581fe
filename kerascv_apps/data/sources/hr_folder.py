"""Super-resolution from a folder of HR images (png/jpg/bmp/webp), LR made by bicubic downscaling."""

import os

import tensorflow as tf

from kerascv_apps.data.sources.sr_common import check_scale, to_pair
from kerascv_apps.data.sources.base import DataError, DatasetSplits, register_source

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def _decode(path):
    from kerascv_apps.data.decode import check_budget

    data = tf.io.read_file(path)
    with tf.control_dependencies([check_budget(data, "HR image")]):
        return tf.io.decode_image(data, channels=3, expand_animations=False)


@register_source("sr-folder", task="super_resolution")
def hr_folder(root, scale=4, val_fraction=0.1, test_fraction=0.1, min_size=None):
    """HR images under ``root`` (recursively), split by sorted file name.

    The last ``test_fraction`` of the sorted files is the test split, the ``val_fraction``
    before it is validation (at least one file each when there are 3 or more files).

    Args:
        root: folder of HR images.
        scale: downscaling factor of the LR images.
        val_fraction, test_fraction: fractions of files held out.
        min_size: if given, files whose HR height or width is below it raise ``DataError``
            (training crops need images of at least ``patch_size * scale``).
    """
    scale = check_scale(scale)
    if not root or not os.path.isdir(root):
        raise DataError(f"sr-folder: root {root!r} is not a directory")
    files = sorted(os.path.join(d, f) for d, _, names in os.walk(root) for f in names
                   if f.lower().endswith(EXTENSIONS))
    if len(files) < 3:
        raise DataError(f"sr-folder: {root!r} holds {len(files)} images ({'/'.join(EXTENSIONS)}); "
                        "need at least 3 (train, val, test)")
    n = len(files)
    n_test = max(1, int(round(n * test_fraction)))
    n_val = max(1, int(round(n * val_fraction)))
    parts = {"train": files[:n - n_test - n_val], "val": files[n - n_test - n_val:n - n_test],
             "test": files[n - n_test:]}
    if min_size:
        for f in files:
            shape = tf.image.extract_jpeg_shape(tf.io.read_file(f)) if f.lower().endswith(
                (".jpg", ".jpeg")) else tf.shape(_decode(f))
            if int(shape[0]) < min_size or int(shape[1]) < min_size:
                raise DataError(f"sr-folder: {f} is {int(shape[0])}x{int(shape[1])}, smaller "
                                f"than min_size={min_size}")

    def make(paths):
        ds = tf.data.Dataset.from_tensor_slices(paths)
        return ds.map(lambda p: to_pair(_decode(p), scale), num_parallel_calls=tf.data.AUTOTUNE)

    return DatasetSplits(name=f"sr-folder:{root}", task="super_resolution",
                         image_shape=(None, None, 3),
                         sizes={k: len(v) for k, v in parts.items()},
                         info={"scale": scale, "root": root},
                         **{k: make(v) for k, v in parts.items()})
