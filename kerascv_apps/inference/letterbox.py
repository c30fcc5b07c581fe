"""Fitting a photo into a model's fixed input, and detection boxes back to the photo's pixels:
the Python reference of what the phone core (``android_demo/core``, ``Preprocess`` and
``Detection``) does for the contract's ``input.resize.fit``.

- ``"stretch"`` (what training and ``predict`` do): the photo is resized to the input size,
  aspect ratio not kept; a box ratio ``y`` is ``y * h`` photo pixels.
- ``"letterbox"``: the photo is scaled by ``s = min(H / h, W / w)`` to
  ``round(h * s) x round(w * s)`` (half up, at least 1 px), placed at the centre (offsets
  ``(H - nh) // 2``, ``(W - nw) // 2``) of an ``H x W`` canvas filled with ``pad_value``; a box
  ratio ``y`` is ``(y * H - top) * h / nh`` photo pixels.

Boxes are clipped to the photo. Arithmetic in float64 (the core uses doubles).
"""

import math
from dataclasses import dataclass

import numpy as np

FITS = ("stretch", "letterbox")


@dataclass(frozen=True)
class Fit:
    """Where the photo (``height x width``) lies in the model input (``input_height x
    input_width``): rows ``top .. top + content_height``, columns ``left .. left +
    content_width``."""
    height: int
    width: int
    input_height: int
    input_width: int
    content_height: int
    content_width: int
    top: int
    left: int


def fit_geometry(height, width, input_height, input_width, fit="stretch"):
    """The :class:`Fit` of a ``height x width`` photo in the model input."""
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
    if min(height, width, input_height, input_width) < 1:
        raise ValueError(f"sizes must be positive, got photo {height}x{width}, input "
                         f"{input_height}x{input_width}")
    if fit == "stretch":
        return Fit(height, width, input_height, input_width, input_height, input_width, 0, 0)
    s = min(input_height / height, input_width / width)
    nh = min(input_height, max(1, int(math.floor(height * s + 0.5))))
    nw = min(input_width, max(1, int(math.floor(width * s + 0.5))))
    return Fit(height, width, input_height, input_width, nh, nw,
               (input_height - nh) // 2, (input_width - nw) // 2)


def fit_image(image, input_height, input_width, fit="stretch", pad_value=0.0, antialias=True):
    """``image`` (h, w, C) float pixels at the model input size and its :class:`Fit`: bilinear
    ``tf.image.resize`` (half-pixel centres, ``antialias``; skipped when the size already
    matches), then the letterbox padding."""
    import tensorflow as tf

    image = np.asarray(image, np.float32)
    geometry = fit_geometry(image.shape[0], image.shape[1], input_height, input_width, fit)
    size = (geometry.content_height, geometry.content_width)
    content = image if image.shape[:2] == size else \
        tf.image.resize(image, size, antialias=antialias).numpy()
    if fit == "stretch":
        return content, geometry
    canvas = np.full((input_height, input_width, image.shape[2]), pad_value, np.float32)
    canvas[geometry.top:geometry.top + size[0], geometry.left:geometry.left + size[1]] = content
    return canvas, geometry


def boxes_to_pixels(boxes, geometry):
    """(K, 4) ``y_min, x_min, y_max, x_max`` ratios of the model input to photo pixels
    (float64, clipped to the photo)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    g = geometry
    ys = (b[:, [0, 2]] * g.input_height - g.top) * g.height / g.content_height
    xs = (b[:, [1, 3]] * g.input_width - g.left) * g.width / g.content_width
    ys = np.clip(ys, 0.0, g.height)
    xs = np.clip(xs, 0.0, g.width)
    return np.stack([ys[:, 0], xs[:, 0], ys[:, 1], xs[:, 1]], axis=-1)
