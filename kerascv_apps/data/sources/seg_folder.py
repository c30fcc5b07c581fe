"""Segmentation folder source: images with index or palette PNG masks, streamed.

Layout: ``root/images/<name>.<png|jpg|...>`` and ``root/masks/<name>.png`` (same stem), or the
same pair of folders under ``root/train``, ``root/val``, ``root/test``. A mask is either an
*index* PNG (greyscale or palette mode: the pixel value / palette index is the class id) or an
RGB *colour* PNG decoded with ``palette`` (a list of RGB triples, class id = position). 255
means "ignore".

``num_classes`` comes from the argument, ``class_names``, ``palette`` or a labels file
(``root/labels.txt``, one class name per line); otherwise the load is refused (listing the mask
values found, with pixel counts) instead of guessing from the largest value. Checked before
training, every problem naming its file: a missing mask, unreadable or oversized files (image
headers only, like the ``folder`` source), a mask whose size differs from its image, mask values
outside 0..num_classes-1 (with per-value pixel counts; 255 = ignore), outside symlinks, too few
pairs to split. Masks are small and are decoded once in that check; images are only decoded
while training (``kerascv_apps.data.decode``), resized bilinearly; masks with nearest neighbour.
"""

import os

import numpy as np

from kerascv_apps.data.decode import decode_image, resize_image
from kerascv_apps.data.sources.base import (DataError, DatasetSplits, read_class_names,
                                            register_source, split_items)
from kerascv_apps.data.sources.image_folder import EXTENSIONS
from kerascv_apps.data.streaming import Stream, cache_key, file_records, read_checked, streamed
from kerascv_apps.data.validate import (MAX_PIXELS, check_decodable, check_headers,
                                       choose_image_size, refuse_outside)

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


def scan_pairs(folder, root=None):
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
    refuse_outside([p for pair in pairs for p in pair], root or folder)
    return pairs


LABEL_FILES = ("labels.txt", "class_names.txt")


def _labels_file(root):
    for name in LABEL_FILES:
        path = os.path.join(root, name)
        if os.path.isfile(path):
            return read_class_names(path)
    return None


def _value_counts(pairs, palette):
    """{mask path: {value: pixel count}} over every mask (decoded once, one at a time)."""
    counts = {}
    for _, mask_path in pairs:
        values, n = np.unique(read_mask(mask_path, palette), return_counts=True)
        counts[mask_path] = dict(zip(values.tolist(), n.tolist()))
    return counts


def _check_values(counts, num_classes):
    bad = []
    for path, per_value in counts.items():
        out = {v: n for v, n in per_value.items()
               if v != IGNORE_INDEX and not 0 <= v < num_classes}
        if out:
            bad.append(f"{path}: values {sorted(out)[:10]} are not valid class ids (0.."
                       f"{num_classes - 1}, or {IGNORE_INDEX} = ignore); pixel counts "
                       + ", ".join(f"{v}: {n}" for v, n in sorted(out.items())[:10]))
    if bad:
        more = f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else ""
        raise DataError(f"{len(bad)} masks hold values outside the {num_classes} classes:\n  "
                        + "\n  ".join(bad[:20]) + more)


def _totals(counts):
    total = {}
    for per_value in counts.values():
        for v, n in per_value.items():
            total[v] = total.get(v, 0) + n
    return ", ".join(f"{v}: {n}" for v, n in sorted(total.items())[:20])


def segmentation_stream(pairs, nbytes, image_size, channels, palette, split, cache_dir=None):
    """A streamed split of (image, mask) pairs: image decoded + resized bilinearly, mask read
    with ``read_mask`` and resized with nearest neighbour."""
    import tensorflow as tf

    size = tuple(image_size)

    def load_mask(path):
        return read_mask(path.decode() if isinstance(path, bytes) else str(path), palette)

    def decode(image_path, mask_path, n):
        image = resize_image(decode_image(read_checked(image_path, n), channels), size)
        mask = tf.numpy_function(load_mask, [mask_path], tf.int32, stateful=False)
        mask.set_shape((None, None))
        mask = tf.image.resize(mask[..., None], size, method="nearest")[..., 0]
        mask.set_shape(size)
        return image, mask

    columns = (np.asarray([p[0] for p in pairs], str), np.asarray([p[1] for p in pairs], str),
               np.asarray(nbytes, np.int64))
    key = cache_key(split, [p for pair in pairs for p in pair],
                    ("segmentation", size, channels, palette)) if cache_dir else split
    stream = Stream(lambda seed: file_records(columns, seed), decode, len(pairs), key, cache_dir)
    stream.files = {"image": [p[0] for p in pairs], "mask": [p[1] for p in pairs]}
    stream.palette = palette
    return streamed(stream)


@register_source("seg_folder", task="segmentation")
def load_seg_folder(root, num_classes=None, class_names=None, palette=None, image_size=None,
                    channels=3, val_fraction=0.15, test_fraction=0.15, seed=0, cache=None,
                    max_pixels=MAX_PIXELS):
    """Images + index/palette PNG masks from ``root/images`` and ``root/masks`` (or split
    sub-folders ``root/{train,val,test}/{images,masks}``).

    Args:
        root: the folder.
        num_classes: number of classes (at least 2); default ``len(class_names)``,
            ``len(palette)`` or the line count of ``root/labels.txt``; required otherwise.
        class_names: optional names.
        palette: RGB triples for colour masks (class id = position).
        image_size: (height, width) (or one int) to resize to (masks with nearest); default the
            median height and width, each capped at 512.
        channels: 1 or 3.
        val_fraction / test_fraction: split fractions without split sub-folders.
        seed: split seed.
        cache: optional folder for a disk cache of decoded examples.
        max_pixels: larger images are refused (decompression-bomb guard).
    """
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels!r}")
    if not os.path.isdir(root):
        raise DataError(f"segmentation folder {root!r} does not exist or is not a directory")
    split_dirs = [s for s in ("train", "val", "test") if os.path.isdir(os.path.join(root, s))]
    parts = {s: scan_pairs(os.path.join(root, s), root) for s in split_dirs} if split_dirs else \
        {"all": scan_pairs(root)}
    all_pairs = [pair for pairs in parts.values() for pair in pairs]
    images = {h.path: h for h in check_headers([p[0] for p in all_pairs], max_pixels)}
    masks = {h.path: h for h in check_headers([p[1] for p in all_pairs], max_pixels, "mask")}
    check_decodable(images.values(), channels)
    for image_path, mask_path in all_pairs:
        image, mask = images[image_path], masks[mask_path]
        if (mask.width, mask.height) != (image.width, image.height):
            raise DataError(f"{mask_path}: mask size {mask.width}x{mask.height} differs from "
                            f"its image {image_path} ({image.width}x{image.height})")
        if palette is None and mask.mode not in ("P", "L", "I", "I;16"):
            raise DataError(f"{mask_path}: mask must be an index PNG (mode L or P), got mode "
                            f"{mask.mode!r}; pass palette=[...] for RGB colour masks")
    labels_file = None
    if class_names is None and palette is None and num_classes is None:
        class_names = labels_file = _labels_file(root)
    counts = _value_counts(all_pairs, palette)
    if num_classes is None:
        if class_names is not None:
            num_classes = len(class_names)
        elif palette is not None:
            num_classes = len(palette)
        else:
            raise DataError(
                f"segmentation folder {root!r}: num_classes is required (pass --dataset-arg "
                f"num_classes=N, class_names=[...], or write {os.path.join(root, LABEL_FILES[0])} "
                f"with one class name per line); the masks hold these values (pixel counts): "
                f"{_totals(counts)}")
    num_classes = int(num_classes)
    if num_classes < 2:
        raise DataError(f"segmentation folder {root!r}: num_classes={num_classes} is not "
                        "supported; a foreground/background mask needs num_classes=2 "
                        "(0 = background, 1 = foreground)")
    if class_names is not None and len(class_names) != num_classes:
        raise DataError(f"{root}: {len(class_names)} class names for num_classes={num_classes}")
    _check_values(counts, num_classes)
    folder = root if "all" in parts else os.path.join(root, "train")
    parts = split_items(parts, seed, val_fraction, test_fraction,
                        f"segmentation folder {folder!r}", noun="image/mask pairs")
    image_size, how = choose_image_size(image_size, list(images.values()))
    datasets = {k: segmentation_stream(p, [images[a].nbytes for a, _ in p], image_size, channels,
                                       palette, k, cache) for k, p in parts.items()}
    names = list(class_names) if class_names else [f"class_{i}" for i in range(num_classes)]
    return DatasetSplits(
        name=f"seg_folder:{root}", task="segmentation", train=datasets["train"],
        val=datasets["val"], test=datasets["test"], image_shape=image_size + (channels,),
        num_classes=num_classes, class_names=names, sizes={k: len(v) for k, v in parts.items()},
        info={"source": os.path.abspath(root), "ignore_index": IGNORE_INDEX, "streaming": True,
              "image_size_from": how, "labels_file": bool(labels_file)})
