"""Super-resolution of large images by overlapping tiles, and LR | bicubic | SR | HR
comparison PNGs.

Each LR tile is run with ``overlap`` pixels of real context on every side (clamped at the
image border) and only its core is pasted into the output, so every output pixel comes from a
tile where it had at least ``overlap`` LR pixels of context: with ``overlap`` at least the
network's receptive-field radius the result equals whole-image inference, and there are no
seams to blend.
"""

import os

import numpy as np


def _starts(length, core):
    return list(range(0, length, core)) if length > 0 else []


def upscale_tiled(predict_fn, image, scale, tile=128, overlap=16):
    """Upscales one (H, W, C) LR image by ``scale`` with overlapping tiles.

    Args:
        predict_fn: maps a (1, h, w, C) float batch to a (1, h·scale, w·scale, C) batch
            (a Keras model, ``model.predict_on_batch`` or a ``TFLiteRunner``).
        image: (H, W, C) LR pixels in [0, 255].
        scale: the model's upscaling factor.
        tile: LR size of each tile's core (the part pasted into the output).
        overlap: LR context pixels added on each side of a core.
    """
    image = np.asarray(image, np.float32)
    if image.ndim != 3:
        raise ValueError(f"upscale_tiled: image must be (H, W, C), got shape {image.shape}")
    if int(tile) < 1 or int(overlap) < 0:
        raise ValueError(f"upscale_tiled: tile must be >= 1 and overlap >= 0, got {tile}, {overlap}")
    h, w, c = image.shape
    out = np.zeros((h * scale, w * scale, c), np.float32)
    for y0 in _starts(h, tile):
        for x0 in _starts(w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            ty0, tx0 = max(0, y0 - overlap), max(0, x0 - overlap)
            ty1, tx1 = min(h, y1 + overlap), min(w, x1 + overlap)
            sr = np.asarray(predict_fn(image[None, ty0:ty1, tx0:tx1]))[0]
            if sr.shape[:2] != ((ty1 - ty0) * scale, (tx1 - tx0) * scale):
                raise ValueError(f"upscale_tiled: the model returned {sr.shape[:2]} for a "
                                 f"{ty1 - ty0}x{tx1 - tx0} tile; is scale={scale} right?")
            oy, ox = (y0 - ty0) * scale, (x0 - tx0) * scale
            out[y0 * scale:y1 * scale, x0 * scale:x1 * scale] = \
                sr[oy:oy + (y1 - y0) * scale, ox:ox + (x1 - x0) * scale]
    return out


def _to_uint8(image):
    return np.clip(np.round(np.asarray(image, np.float32)), 0, 255).astype(np.uint8)


def comparison_image(lr, sr, scale, hr=None, bicubic=None):
    """LR (nearest-upscaled for display) | bicubic | SR | HR side by side, uint8."""
    from kerascv_apps.data.sources.sr_common import bicubic_upscale

    lr = np.asarray(lr, np.float32)
    panels = [np.repeat(np.repeat(lr, scale, axis=0), scale, axis=1),
              bicubic if bicubic is not None else bicubic_upscale(lr, scale), sr]
    if hr is not None:
        panels.append(hr)
    height = panels[0].shape[0]
    gap = np.full((height, 4, 3), 255.0, np.float32)
    row = []
    for i, p in enumerate(panels):
        row += ([gap] if i else []) + [np.asarray(p, np.float32)[:height]]
    return _to_uint8(np.concatenate(row, axis=1))


def predict(model_or_fn, lr_images, scale, out_dir, hr_images=None, tile=128, overlap=16,
            names=None):
    """Upscales each LR image (tiled) and writes ``<name>_sr.png`` and
    ``<name>_compare.png`` (LR | bicubic | SR | HR) under ``out_dir``; returns the paths."""
    from PIL import Image

    os.makedirs(out_dir, exist_ok=True)
    fn = model_or_fn.predict_on_batch if hasattr(model_or_fn, "predict_on_batch") else model_or_fn
    paths = []
    for i, lr in enumerate(lr_images):
        name = names[i] if names else f"image{i:03d}"
        sr = upscale_tiled(fn, lr, scale, tile=tile, overlap=overlap)
        hr = None if hr_images is None else hr_images[i]
        sr_path = os.path.join(out_dir, f"{name}_sr.png")
        cmp_path = os.path.join(out_dir, f"{name}_compare.png")
        Image.fromarray(_to_uint8(sr)).save(sr_path)
        Image.fromarray(comparison_image(lr, sr, scale, hr)).save(cmp_path)
        paths += [sr_path, cmp_path]
    return paths
