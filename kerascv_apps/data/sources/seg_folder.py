"""Segmentation folder source: images with index or palette PNG masks.

Layout: ``root/images/<name>.<png|jpg|...>`` and ``root/masks/<name>.png`` (same stem), or the
same pair of folders under ``root/train``, ``root/val``, ``root/test``. A mask is either an
*index* PNG (greyscale or palette mode: the pixel value / palette index is the class id) or an
RGB *colour* PNG decoded with ``palette`` (a list of RGB triples, class id = position). 255
means "ignore". Every pair is checked when the source is loaded: a missing mask, a mask whose
size differs from its image, or a value that is not a valid class id raises ``DataError``
naming the file.
"""

import os

import numpy as np

from kerascv_apps.data.sources.base import DataError, DatasetSplits, register_source
from kerascv_apps.data.sources.image_folder import EXTENSIONS, read_image

IGNORE_INDEX = 255


def read_mask(path, palette=None):
    """Decodes a mask PNG to int32 (H, W) class ids; errors name the file."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            if palette is not None and img.mode not in ("P", "L", "I", "I;16"):
                rgb = np.asarray(img.convert("RGB"), np.int64)
                codes = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
                mask = np.full(codes.shape, -1, np.int32)
                for cls, color in enumerate(palette):
                    r, g, b = (int(c) for c in color)
                    mask[codes == ((r << 16) | (g << 8) | b)] = cls
                if (mask < 0).any():
                    bad = rgb[mask < 0][0]
                    raise DataError(f"{path}: colour {tuple(int(c) for c in bad)} is not in the "
                                    f"palette ({len(palette)} colours)")
                return mask
            if img.mode not in ("P", "L", "I", "I;16"):
                raise DataError(f"{path}: mask must be an index PNG (mode L or P), got mode "
                                f"{img.mode!r}; pass palette=[...] for RGB colour masks")
            return np.asarray(img, np.int32)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise DataError(f"{path}: cannot read mask ({e})") from e


def scan_pairs(folder):
    """(image path, mask path) pairs of ``folder/images`` and ``folder/masks`` by file stem."""
    images_dir, masks_dir = os.path.join(folder, "images"), os.path.join(folder, "masks")
    for d in (images_dir, masks_dir):
        if not os.path.isdir(d):
            raise DataError(f"segmentation folder {folder!r}: missing sub-folder {d!r} "
                            "(expected images/ and masks/)")
    masks = {os.path.splitext(f)[0]: os.path.join(masks_dir, f) for f in os.listdir(masks_dir)
             if not f.startswith(".")}
    pairs = []
    for fname in sorted(os.listdir(images_dir)):
        if fname.startswith("."):
            continue
        path = os.path.join(images_dir, fname)
        if not fname.lower().endswith(EXTENSIONS):
            raise DataError(f"{path}: not an image file (expected one of {EXTENSIONS})")
        stem = os.path.splitext(fname)[0]
        if stem not in masks:
            raise DataError(f"{path}: no mask {stem}.png in {masks_dir}")
        pairs.append((path, masks[stem]))
    if not pairs:
        raise DataError(f"segmentation folder {images_dir!r} contains no images")
    return pairs


def load_pairs(pairs, num_classes, channels=3, image_size=None, palette=None):
    """Reads and validates every pair; returns (images float32, masks int32)."""
    import tensorflow as tf

    images, masks = [], []
    for image_path, mask_path in pairs:
        image = read_image(image_path, channels)
        mask = read_mask(mask_path, palette)
        if mask.shape != image.shape[:2]:
            raise DataError(f"{mask_path}: mask size {mask.shape[1]}x{mask.shape[0]} differs from "
                            f"its image {image_path} ({image.shape[1]}x{image.shape[0]})")
        bad = np.unique(mask[(mask != IGNORE_INDEX) & ((mask < 0) | (mask >= num_classes))])
        if bad.size:
            raise DataError(f"{mask_path}: values {bad.tolist()[:10]} are not valid class ids "
                            f"(0..{num_classes - 1}, or {IGNORE_INDEX} = ignore)")
        if image_size is not None and image.shape[:2] != tuple(image_size):
            image = tf.image.resize(image, image_size, antialias=True).numpy()
            mask = tf.image.resize(mask[..., None], image_size, method="nearest").numpy()[..., 0]
        images.append(image)
        masks.append(mask.astype(np.int32))
    shapes = {m.shape for m in masks}
    if len(shapes) > 1:
        raise DataError(f"images have different sizes {sorted(shapes)[:4]}; pass image_size=(h, w)")
    return np.stack(images).astype(np.float32), np.stack(masks)


@register_source("seg_folder", task="segmentation")
def load_seg_folder(root, num_classes=None, class_names=None, palette=None, image_size=None,
                    channels=3, val_fraction=0.15, test_fraction=0.15, seed=0):
    """Images + index/palette PNG masks from ``root/images`` and ``root/masks`` (or split
    sub-folders ``root/{train,val,test}/{images,masks}``).

    Args:
        root: the folder.
        num_classes: number of classes; default ``len(class_names)``, ``len(palette)`` or the
            largest mask value + 1.
        class_names: optional names.
        palette: RGB triples for colour masks (class id = position).
        image_size: (height, width) to resize to (masks with nearest); default keep sizes.
        channels: 1 or 3.
        val_fraction / test_fraction: split fractions without split sub-folders.
        seed: split seed.
    """
    import tensorflow as tf

    if not os.path.isdir(root):
        raise DataError(f"segmentation folder {root!r} does not exist or is not a directory")
    image_size = None if image_size is None else tuple(int(s) for s in (
        (image_size, image_size) if isinstance(image_size, int) else image_size))
    split_dirs = [s for s in ("train", "val", "test") if os.path.isdir(os.path.join(root, s))]
    parts = {s: scan_pairs(os.path.join(root, s)) for s in split_dirs} if split_dirs else \
        {"all": scan_pairs(root)}
    if num_classes is None:
        if class_names is not None:
            num_classes = len(class_names)
        elif palette is not None:
            num_classes = len(palette)
        else:
            top = 0
            for pairs in parts.values():
                for _, mask_path in pairs:
                    m = read_mask(mask_path)
                    valid = m[m != IGNORE_INDEX]
                    top = max(top, int(valid.max()) if valid.size else 0)
            num_classes = top + 1
    num_classes = max(int(num_classes), 2)
    arrays = {k: load_pairs(p, num_classes, channels, image_size, palette) for k, p in parts.items()}
    if "all" in arrays or "val" not in arrays or "test" not in arrays:
        base = "all" if "all" in arrays else "train"
        images, masks = arrays.pop(base)
        order = np.random.default_rng(seed).permutation(len(images))
        n_val = 0 if "val" in arrays else max(1, int(round(len(order) * val_fraction)))
        n_test = 0 if "test" in arrays else max(1, int(round(len(order) * test_fraction)))
        if len(order) - n_val - n_test < 1:
            raise DataError(f"segmentation folder {root!r}: {len(order)} images are too few to "
                            "split into train/val/test")
        if n_val:
            arrays["val"] = (images[order[:n_val]], masks[order[:n_val]])
        if n_test:
            arrays["test"] = (images[order[n_val:n_val + n_test]], masks[order[n_val:n_val + n_test]])
        rest = order[n_val + n_test:]
        arrays["train"] = (images[rest], masks[rest])
    ds = {k: tf.data.Dataset.from_tensor_slices(v) for k, v in arrays.items()}
    names = list(class_names) if class_names else [f"class_{i}" for i in range(num_classes)]
    return DatasetSplits(
        name=f"seg_folder:{root}", task="segmentation", train=ds["train"], val=ds["val"],
        test=ds["test"], image_shape=tuple(arrays["train"][0].shape[1:]), num_classes=num_classes,
        class_names=names, sizes={k: len(v[0]) for k, v in arrays.items()},
        info={"source": os.path.abspath(root), "ignore_index": IGNORE_INDEX})
