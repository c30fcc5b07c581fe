"""Cheap, strict checks of image files before training: headers only, every bad file named.

``probe`` opens a file with PIL without decoding its pixels (format, size, mode, bit depth,
byte count). ``check_headers`` probes a list of files and raises one ``DataError`` naming every
file that is unreadable, not an image format the decoder reads, or larger than ``max_pixels``
(decompression bombs included), so nothing starts on a folder that would fail mid-epoch.
"""

import dataclasses
import os
import re
import warnings

import numpy as np

from kerascv_apps.data.decode import IMAGE_FORMATS, pixel_budget
from kerascv_apps.data.sources.base import DataError

# the one pixel budget (kerascv_apps.data.decode); configurable per source and globally
MAX_PIXELS = None  # None: pixel_budget() at the time of the check
# image_size chosen from the data (median height and width) is capped at this side length.
MAX_AUTO_SIDE = 512
_LISTED = 20  # bad files listed in one message


@dataclasses.dataclass(frozen=True)
class Header:
    path: str
    format: str
    width: int
    height: int
    mode: str
    bit_depth: int
    nbytes: int


def _png_bit_depth(path):
    with open(path, "rb") as f:
        head = f.read(26)
    return int(head[24]) if len(head) >= 25 and head[:8] == b"\x89PNG\r\n\x1a\n" else 8


def probe(path, max_pixels=MAX_PIXELS):
    """The header of one image file; raises ``DataError`` naming it when it cannot be used."""
    from PIL import Image

    # a source may lower the budget, not raise it: the decoder refuses what is above it
    max_pixels = pixel_budget() if max_pixels is None else min(max_pixels, pixel_budget())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                fmt, (width, height), mode = img.format, img.size, img.mode
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataError(f"{path}: refused as a decompression bomb ({e})") from e
    except (OSError, SyntaxError, ValueError) as e:  # UnidentifiedImageError is an OSError
        raise DataError(f"{path}: cannot read image header ({e})") from e
    if fmt not in IMAGE_FORMATS:
        raise DataError(f"{path}: {fmt} images are not supported (expected one of {IMAGE_FORMATS})")
    if width * height > max_pixels:
        raise DataError(f"{path}: {width}x{height} = {width * height:,} pixels is more than "
                        f"max_pixels={max_pixels:,} (a decompression bomb or a mistake)")
    depth = _png_bit_depth(path) if fmt == "PNG" else 8
    return Header(path, fmt, width, height, mode, depth, os.path.getsize(path))


def check_headers(paths, max_pixels=MAX_PIXELS, what="image"):
    """Headers of every file; one ``DataError`` naming all bad files (first 20 listed)."""
    headers, bad = [], []
    for path in paths:
        try:
            headers.append(probe(path, max_pixels))
        except DataError as e:
            bad.append(str(e))
    if bad:
        more = f"\n  ... and {len(bad) - _LISTED} more" if len(bad) > _LISTED else ""
        raise DataError(f"{len(bad)} of {len(paths)} {what} files cannot be used:\n  "
                        + "\n  ".join(bad[:_LISTED]) + more)
    return headers


def refuse_outside(paths, root):
    """Refuses paths whose real location (symlinks resolved) is outside ``root``."""
    real_root = os.path.realpath(root)
    outside = [p for p in paths
               if os.path.commonpath([real_root, os.path.realpath(p)]) != real_root]
    if outside:
        listed = ", ".join(f"{p} -> {os.path.realpath(p)}" for p in outside[:_LISTED])
        raise DataError(f"{root}: {len(outside)} symlinks lead outside the dataset folder "
                        f"({listed}); copy the data inside the folder instead")


def choose_image_size(image_size, headers, cap=MAX_AUTO_SIDE):
    """``image_size`` as (h, w) ints; when None, the median height and width of all files,
    each capped at ``cap`` pixels. Returns (size, how it was chosen)."""
    if image_size is not None:
        size = (image_size, image_size) if isinstance(image_size, (int, np.integer)) else image_size
        size = tuple(int(s) for s in size)
        if len(size) != 2 or min(size) < 1:
            raise DataError(f"image_size must be a positive int or (height, width), got {image_size!r}")
        return size, "given"
    heights = np.array([h.height for h in headers])
    widths = np.array([h.width for h in headers])
    size = (min(int(np.median(heights)), cap), min(int(np.median(widths)), cap))
    return size, f"median of {len(headers)} images, capped at {cap}"


# (format, mode) pairs the training decoder reads for 1 and 3 channels alike; any other file
# (CMYK/YCCK JPEGs, unusual BMPs, ...) is decoded once during the checks to prove it
_DECODER_SAFE = {("JPEG", "L"), ("JPEG", "RGB"), ("BMP", "RGB"), ("BMP", "RGBA")}


def check_decodable(headers, channels, what="image"):
    """Decodes, with the training decoder and ``channels``, every file whose format and mode
    the decoder is not known to read (PNG and GIF always are), so such a file is refused now,
    named with its mode, instead of failing mid-epoch. One ``DataError`` names all of them."""
    import tensorflow as tf

    from kerascv_apps.data.decode import decode_image

    bad = []
    for h in headers:
        if h.format in ("PNG", "GIF") or (h.format, h.mode) in _DECODER_SAFE:
            continue
        try:
            with open(h.path, "rb") as f:
                decode_image(tf.constant(f.read()), channels).numpy()
        except (OSError, tf.errors.OpError) as e:
            message = (getattr(e, "message", None) or str(e)).strip().splitlines()[0]
            message = re.sub(r"\{\{[^}]*\}\}\s*", "", message)[:120]  # TF's op prefix
            bad.append(f"{h.path}: {h.mode} {h.format} cannot be decoded to {channels} "
                       f"channel(s) by the training decoder ({message}); convert it to RGB or "
                       f"greyscale")
    if bad:
        more = f"\n  ... and {len(bad) - _LISTED} more" if len(bad) > _LISTED else ""
        raise DataError(f"{len(bad)} {what} files cannot be decoded for training:\n  "
                        + "\n  ".join(bad[:_LISTED]) + more)


def undecodable(paths, channels, limit=_LISTED):
    """The first ``limit`` of ``paths`` that the training decoder cannot read with
    ``channels`` (pixel budget included), each as ``path: reason``; decodes every file."""
    import tensorflow as tf

    from kerascv_apps.data.decode import decode_image

    bad = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                decode_image(tf.constant(f.read()), channels).numpy()
        except (OSError, tf.errors.OpError) as e:
            message = (getattr(e, "message", None) or str(e)).strip().splitlines()[0]
            message = re.sub(r"\{\{[^}]*\}\}\s*", "", message)[:160]  # TF's op prefix
            bad.append(f"{path}: {message}")
            if len(bad) >= limit:
                break
    return bad

