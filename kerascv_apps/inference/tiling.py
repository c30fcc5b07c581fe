"""Whole images of any size through fully convolutional models by overlapping tiles
(:func:`predict_tiled`), and LR | bicubic | SR | HR comparison PNGs."""

import math
import os

import numpy as np


def predict_tiled(predict_fn, image, tile=128, context=16, scale=1, shrink=0, same_size=False):
    """Runs a fully convolutional model over one (H, W, C) image tile by tile; the one tiled
    predictor of the package (super-resolution, and the valid U-Net's overlap-tile strategy).

    The image is cut into cores of ``tile`` pixels; each core is run with ``context`` pixels of
    real context on every side (clamped at the image border) and only the core's output is
    pasted, so with ``context`` at least the receptive-field radius the result equals
    whole-image inference and there are no seams to blend.

    Args:
        predict_fn: maps a (1, h, w, C) float batch to (1, (h - 2·shrink)·scale,
            (w - 2·shrink)·scale, K) (a Keras model, ``model.predict_on_batch``, a
            ``TFLiteRunner``); a list of outputs uses the first.
        image: (H, W, C) pixels in [0, 255].
        tile: core size in input pixels, an int or (height, width).
        context: input pixels added on each side of a core (at least ``shrink``).
        scale: output pixels per input pixel (an SR model's factor; 1 for segmentation).
        shrink: pixels a valid-convolution model loses on each side; the image is mirrored
            by that much at its border (U-Net, Ronneberger et al. 2015).
        same_size: give every tile the same input size (models with a fixed input or a
            restricted set of valid sizes): the image is mirrored at the bottom/right up to a
            whole number of cores.

    Returns:
        (H·scale, W·scale, K) float32 numpy array.
    """
    image = np.asarray(image, np.float32)
    if image.ndim != 3:
        raise ValueError(f"predict_tiled: image must be (H, W, C), got shape {image.shape}")
    th, tw = (int(tile), int(tile)) if np.isscalar(tile) else (int(tile[0]), int(tile[1]))
    if min(th, tw) < 1 or int(context) < int(shrink) or int(shrink) < 0:
        raise ValueError(f"predict_tiled: need tile >= 1 and context >= shrink >= 0, got "
                         f"tile={tile}, context={context}, shrink={shrink}")
    h, w = image.shape[:2]
    rows, cols = math.ceil(h / th), math.ceil(w / tw)
    extra_h, extra_w = (rows * th - h, cols * tw - w) if same_size else (0, 0)
    pads = ((shrink, shrink + extra_h), (shrink, shrink + extra_w), (0, 0))
    padded = np.pad(image, pads, mode="reflect") if shrink or extra_h or extra_w else image
    out = None
    for r in range(rows):
        y0 = r * th
        y1 = y0 + th if same_size else min(y0 + th, h)
        ty0, ty1 = max(0, y0 + shrink - context), min(padded.shape[0], y1 + shrink + context)
        for c in range(cols):
            x0 = c * tw
            x1 = x0 + tw if same_size else min(x0 + tw, w)
            tx0, tx1 = max(0, x0 + shrink - context), min(padded.shape[1], x1 + shrink + context)
            res = predict_fn(padded[None, ty0:ty1, tx0:tx1])
            res = np.asarray(res[0] if isinstance(res, (list, tuple)) else res)[0]
            expected = ((ty1 - ty0 - 2 * shrink) * scale, (tx1 - tx0 - 2 * shrink) * scale)
            if res.shape[:2] != expected:
                raise ValueError(f"predict_tiled: the model returned {res.shape[:2]} for a "
                                 f"{ty1 - ty0}x{tx1 - tx0} tile, expected {expected}; are "
                                 f"scale={scale} and shrink={shrink} right?")
            if out is None:
                out = np.zeros(((h + extra_h) * scale, (w + extra_w) * scale, res.shape[-1]),
                               np.float32)
            oy, ox = (y0 - ty0) * scale, (x0 - tx0) * scale
            out[y0 * scale:y1 * scale, x0 * scale:x1 * scale] = \
                res[oy:oy + (y1 - y0) * scale, ox:ox + (x1 - x0) * scale]
    return out[:h * scale, :w * scale]


def to_uint8(image):
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
    return to_uint8(np.concatenate(row, axis=1))


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
        sr = predict_tiled(fn, lr, tile=tile, context=overlap, scale=scale)
        hr = None if hr_images is None else hr_images[i]
        sr_path = os.path.join(out_dir, f"{name}_sr.png")
        cmp_path = os.path.join(out_dir, f"{name}_compare.png")
        Image.fromarray(to_uint8(sr)).save(sr_path)
        Image.fromarray(comparison_image(lr, sr, scale, hr)).save(cmp_path)
        paths += [sr_path, cmp_path]
    return paths
