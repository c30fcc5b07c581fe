"""Image-folder classification source: ``root/<class>/*.png|jpg|jpeg|bmp|gif``, streamed.

If ``root`` holds ``train/`` (and optionally ``val/``, ``test/``) sub-folders, they are the
splits; otherwise every class is split on its own (fixed seed), so each split holds every class.

Nothing is decoded when the source is loaded; instead every file's header is read (format,
size, mode, bit depth) and the load is refused, naming the folder or files, for: an empty
class folder, a class with too few images to split, an empty split, an unreadable or
unsupported file, an image above ``max_pixels`` (decompression bombs), or a symlink that leads
outside ``root``. Images are decoded by ``kerascv_apps.data.decode`` (16-bit PNGs scaled to
8 bits as documented there) while training, in parallel, and resized to ``image_size``.
"""

import os

import numpy as np

from kerascv_apps.data.decode import decode_image, read_image, resize_image  # noqa: F401
from kerascv_apps.data.sources.base import DataError, DatasetSplits, register_source
from kerascv_apps.data.streaming import Stream, cache_key, file_records, read_checked, streamed
from kerascv_apps.data.validate import (MAX_PIXELS, check_decodable, check_headers,
                                       choose_image_size, refuse_outside)

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def _scan(root, class_names=None, outer=None):
    """(paths, labels, class names, images per class folder) of ``root/<class>/``; symlinks
    must stay inside ``outer`` (default ``root``)."""
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
    refuse_outside([os.path.join(root, d) for d in found], outer or root)
    paths, labels, counts = [], [], {}
    for label, name in enumerate(class_names):
        folder = os.path.join(root, name)
        if not os.path.isdir(folder):
            continue
        files = []
        for fname in sorted(os.listdir(folder)):
            full = os.path.join(folder, fname)
            if fname.startswith(".") or os.path.isdir(full):
                continue
            if not fname.lower().endswith(EXTENSIONS):
                raise DataError(f"{full}: not an image file (expected one of {EXTENSIONS})")
            files.append(full)
        refuse_outside(files, outer or root)
        counts[folder] = len(files)
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise DataError(f"image folder {root!r} contains no images")
    return paths, np.array(labels, np.int32), list(class_names), counts


def _refuse_empty_classes(counts):
    empty = [folder for folder, n in counts.items() if n == 0]
    if empty:
        raise DataError(f"{len(empty)} class folders have no images (0 images each): "
                        f"{', '.join(empty)}; remove them or add images "
                        f"(images per class: {_counts_text(counts)})")


def _counts_text(counts):
    return ", ".join(f"{os.path.basename(k)}={v}" for k, v in counts.items())


def split_by_class(labels, fractions, seed, folders):
    """Index arrays, one per fraction, then the rest: each class split on its own.

    Every split gets at least one image of every class, so a class needs
    ``len(fractions) + 1`` images; fewer is refused naming the class folder.
    """
    rng = np.random.default_rng(seed)
    need = len(fractions) + 1
    small = [(folders[c], int((labels == c).sum())) for c in np.unique(labels)
             if (labels == c).sum() < need]
    if small:
        listed = ", ".join(f"{folder} has {n} image{'s' * (n != 1)}" for folder, n in small)
        raise DataError(f"too few images to split every class into train/val/test: {listed}; "
                        f"each class needs at least {need} (or provide val/ and test/ folders)")
    parts = [[] for _ in range(len(fractions) + 1)]
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        start = 0
        for i, fraction in enumerate(fractions):
            n = max(1, int(round(len(idx) * fraction)))
            n = min(n, len(idx) - start - (len(fractions) - i))
            parts[i].append(idx[start:start + n])
            start += n
        parts[-1].append(idx[start:])
    return [np.sort(np.concatenate(p)) for p in parts]


def classification_stream(paths, labels, nbytes, image_size, channels, split, cache_dir=None):
    """A streamed split: read (size-checked) -> decode -> resize, labels int32."""
    import tensorflow as tf

    size = tuple(image_size)

    def decode(path, label, n):
        image = resize_image(decode_image(read_checked(path, n), channels), size)
        return image, tf.cast(label, tf.int32)

    columns = (np.asarray(paths, str), np.asarray(labels, np.int32), np.asarray(nbytes, np.int64))
    key = cache_key(split, paths, ("classification", size, channels)) if cache_dir else split
    stream = Stream(lambda seed: file_records(columns, seed), decode, len(paths), key, cache_dir)
    stream.files = {"image": list(paths), "label": np.asarray(labels, np.int32)}
    return streamed(stream)


@register_source("folder", task="classification")
def load_image_folder(root, image_size=None, channels=3, val_fraction=0.15, test_fraction=0.15,
                      seed=0, cache=None, max_pixels=MAX_PIXELS):
    """Classification images from ``root/<class>/`` (or ``root/{train,val,test}/<class>/``).

    Args:
        root: the folder.
        image_size: (height, width) (or one int) every image is resized to; default the median
            height and width of all images, each capped at 512.
        channels: 1 (grayscale) or 3 (RGB).
        val_fraction / test_fraction: split fractions (per class) where split folders are missing.
        seed: split seed.
        cache: optional folder for a disk cache of decoded examples.
        max_pixels: larger images are refused (decompression-bomb guard).
    """
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels!r}")
    for name, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 < float(fraction) < 0.5:
            raise DataError(f"{name} must be in (0, 0.5), got {fraction!r}")
    if not os.path.isdir(root):
        raise DataError(f"image folder {root!r} does not exist or is not a directory")
    has_splits = os.path.isdir(os.path.join(root, "train"))
    parts = {}
    if has_splits:
        paths, labels, class_names, counts = _scan(os.path.join(root, "train"), outer=root)
        _refuse_empty_classes(counts)
        parts["train"] = (paths, labels)
        for split in ("val", "test"):
            if os.path.isdir(os.path.join(root, split)):
                p, y, _, _ = _scan(os.path.join(root, split), class_names, outer=root)
                parts[split] = (p, y)
    else:
        paths, labels, class_names, counts = _scan(root)
        _refuse_empty_classes(counts)
        parts["train"] = (paths, labels)
    missing = [s for s in ("val", "test") if s not in parts]
    if missing:
        train_paths, train_labels = parts["train"]
        fractions = [val_fraction if s == "val" else test_fraction for s in missing]
        folders = dict(enumerate(counts))
        *carved, rest = split_by_class(train_labels, fractions, seed, folders)
        for s, idx in zip(missing, carved):
            parts[s] = ([train_paths[i] for i in idx], train_labels[idx])
        parts["train"] = ([train_paths[i] for i in rest], train_labels[rest])
    all_paths = [p for paths_, _ in parts.values() for p in paths_]
    headers = {h.path: h for h in check_headers(all_paths, max_pixels)}
    check_decodable(headers.values(), channels)
    image_size, how = choose_image_size(image_size, list(headers.values()))
    datasets = {}
    for split, (paths_, labels_) in parts.items():
        nbytes = [headers[p].nbytes for p in paths_]
        datasets[split] = classification_stream(paths_, labels_, nbytes, image_size, channels,
                                                split, cache)
    depths = sorted({h.bit_depth for h in headers.values()})
    return DatasetSplits(name=f"folder:{root}", task="classification", train=datasets["train"],
                         val=datasets["val"], test=datasets["test"],
                         image_shape=image_size + (channels,), num_classes=len(class_names),
                         class_names=class_names,
                         sizes={k: len(v[0]) for k, v in parts.items()},
                         info={"source": os.path.abspath(root), "streaming": True,
                               "image_size_from": how, "bit_depths": depths})
