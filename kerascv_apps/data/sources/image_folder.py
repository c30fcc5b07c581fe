"""Image-folder classification source: ``root/<class>/*.png|jpg|jpeg|bmp|gif``.

If ``root`` holds ``train/`` (and optionally ``val/``, ``test/``) sub-folders, they are the
splits; otherwise images are split stratified (fixed seed). Every file is checked when the
source is loaded, so a corrupt or unreadable image fails early with its path in the message.
"""

import os

import numpy as np

from kerascv_apps.data.sources.base import DataError, DatasetSplits, register_source

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def _scan(root, class_names=None):
    if not os.path.isdir(root):
        raise DataError(f"image folder {root!r} does not exist or is not a directory")
    found = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))
                   and not d.startswith("."))
    class_names = class_names or found
    if not class_names:
        raise DataError(f"image folder {root!r} has no class sub-folders (expected root/<class>/*.png)")
    unknown = sorted(set(found) - set(class_names))
    if unknown:
        raise DataError(f"{root}: class folders {unknown} are not among the training classes {class_names}")
    paths, labels = [], []
    for label, name in enumerate(class_names):
        folder = os.path.join(root, name)
        if not os.path.isdir(folder):
            continue
        for fname in sorted(os.listdir(folder)):
            full = os.path.join(folder, fname)
            if fname.startswith(".") or os.path.isdir(full):
                continue
            if not fname.lower().endswith(EXTENSIONS):
                raise DataError(f"{full}: not an image file (expected one of {EXTENSIONS})")
            paths.append(full)
            labels.append(label)
    if not paths:
        raise DataError(f"image folder {root!r} contains no images")
    return paths, np.array(labels, np.int32), list(class_names)


def read_image(path, channels):
    """Decodes ``path`` to float32 (H, W, channels) in [0, 255]; errors name the file."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            img = img.convert({1: "L", 3: "RGB", 4: "RGBA"}[channels])
            return np.asarray(img, np.float32).reshape(img.size[1], img.size[0], channels)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path}: cannot read image ({e})") from e


def _load_images(paths, channels, image_size):
    import tensorflow as tf

    out = np.empty((len(paths), image_size[0], image_size[1], channels), np.float32)
    for i, path in enumerate(paths):
        img = read_image(path, channels)
        if img.shape[:2] != tuple(image_size):
            img = tf.image.resize(img, image_size, method="bilinear", antialias=True).numpy()
        out[i] = img
    return out


@register_source("folder", task="classification")
def load_image_folder(root, image_size=None, channels=3, val_fraction=0.15, test_fraction=0.15,
                      seed=0):
    """Classification images from ``root/<class>/`` (or ``root/{train,val,test}/<class>/``).

    Args:
        root: the folder.
        image_size: (height, width) every image is resized to; default the first image's size.
        channels: 1 (grayscale) or 3 (RGB).
        val_fraction / test_fraction: split fractions when there are no split sub-folders.
        seed: split seed.
    """
    import tensorflow as tf

    from kerascv_apps.data.sources.digits import stratified_indices

    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    has_splits = os.path.isdir(os.path.join(root, "train"))
    if has_splits:
        train_paths, train_labels, class_names = _scan(os.path.join(root, "train"))
        parts = {"train": (train_paths, train_labels)}
        for split in ("val", "test"):
            if os.path.isdir(os.path.join(root, split)):
                p, y, _ = _scan(os.path.join(root, split), class_names)
                parts[split] = (p, y)
    else:
        paths, labels, class_names = _scan(root)
        parts = {"all": (paths, labels)}
    if image_size is None:
        first = next(iter(parts.values()))[0][0]
        image_size = read_image(first, channels).shape[:2]
    image_size = tuple(int(s) for s in image_size)
    arrays = {k: (_load_images(p, channels, image_size), y) for k, (p, y) in parts.items()}
    if not has_splits:
        images, labels = arrays.pop("all")
        idx = stratified_indices(labels, val_fraction, test_fraction, seed)
        arrays = {k: (images[i], labels[i]) for k, i in zip(("train", "val", "test"), idx)}
    else:
        # missing val/test sub-folders: carve them out of train with the same fractions
        images, labels = arrays["train"]
        if "val" not in arrays or "test" not in arrays:
            want_val = val_fraction if "val" not in arrays else 0.0
            want_test = test_fraction if "test" not in arrays else 0.0
            rng = np.random.default_rng(seed)
            order = rng.permutation(len(labels))
            n_val, n_test = int(len(order) * want_val), int(len(order) * want_test)
            if "val" not in arrays:
                arrays["val"] = (images[order[:n_val]], labels[order[:n_val]])
            if "test" not in arrays:
                sl = order[n_val:n_val + n_test]
                arrays["test"] = (images[sl], labels[sl])
            rest = order[n_val + n_test:]
            arrays["train"] = (images[rest], labels[rest])
    ds = {k: tf.data.Dataset.from_tensor_slices((x, y)) for k, (x, y) in arrays.items()}
    return DatasetSplits(name=f"folder:{root}", task="classification", train=ds["train"],
                         val=ds["val"], test=ds["test"], image_shape=image_size + (channels,),
                         num_classes=len(class_names), class_names=class_names,
                         sizes={k: len(v[1]) for k, v in arrays.items()},
                         info={"source": os.path.abspath(root)})
