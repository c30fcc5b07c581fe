"""Image degradations of the restoration task, made on the fly in a tf.data graph: Gaussian
noise, Poisson (shot) noise, low light (gamma darkening + Gaussian noise, the way LLNet makes
its training pairs: Lore et al. 2017), Gaussian blur and JPEG compression.

A :class:`Degradation` maps a clean (H, W, 3) float32 image in [0, 255] and a stateless seed
(shape [2] int64) to the degraded image, rounded and clipped to whole pixel values like a saved
8-bit photo. The same seed gives the same degraded image, so a held-out split degraded with
seeds derived from the example index is fixed (see ``data/sources/restoration.py``), while
training crops get a new seed per crop and epoch (``RestorationAugment``).

A parameter given as a pair ``(low, high)`` is drawn uniformly per image (from its seed).
"""

import math

import numpy as np
import tensorflow as tf

from kerascv_apps.data.sources.base import DataError

KINDS = ("gaussian", "poisson", "low_light", "blur", "jpeg")
# per-kind defaults; ``sigma`` is the Gaussian noise standard deviation in pixel values
# (0-255). Low light: gamma in [2, 5] darkens (x ** gamma on [0, 1] pixels) and Gaussian noise
# of sigma drawn in [0, 25] is added after darkening (package defaults for LLNet's synthetic
# pairs: darkening by a random gamma, then Gaussian noise).
DEFAULTS = {
    "gaussian": {"sigma": 25.0},
    "poisson": {"peak": 30.0},
    "low_light": {"gamma": (2.0, 5.0), "sigma": (0.0, 25.0)},
    "blur": {"blur_sigma": 1.5},
    "jpeg": {"quality": 20},
}


def _range(value, name, minimum=0.0):
    """``value`` as a (low, high) pair of floats (a number is a pair of equal ends)."""
    if isinstance(value, str):
        value = [v for v in value.replace("[", "").replace("]", "").split(",") if v.strip()]
        value = [float(v) for v in value] if len(value) > 1 else float(value[0])
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise DataError(f"degradation {name}: expected a number or [low, high], got {value!r}")
        low, high = float(value[0]), float(value[1])
    else:
        try:
            low = high = float(value)
        except (TypeError, ValueError):
            raise DataError(f"degradation {name}: expected a number or [low, high], "
                            f"got {value!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low < minimum or high < low:
        raise DataError(f"degradation {name}: expected {minimum} <= low <= high, got {value!r}")
    return low, high


def _draw(bounds, seed):
    low, high = bounds
    if low == high:
        return tf.constant(low, tf.float32)
    return tf.random.stateless_uniform([], seed, low, high, dtype=tf.float32)


class Degradation:
    """One degradation ``kind`` (``KINDS``) with its parameters.

    Args:
        kind: ``gaussian`` (additive noise of ``sigma``), ``poisson`` (photon counts with mean
            ``peak`` · pixel / 255, scaled back), ``low_light`` (pixels / 255 raised to
            ``gamma``, then Gaussian noise of ``sigma``), ``blur`` (Gaussian blur of
            ``blur_sigma`` pixels, reflected borders) or ``jpeg`` (``quality`` 1..100).
        sigma, peak, gamma, blur_sigma, quality: a number or a ``[low, high]`` range drawn per
            image; None: the kind's default (``DEFAULTS``).
    """

    def __init__(self, kind="gaussian", sigma=None, peak=None, gamma=None, blur_sigma=None,
                 quality=None):
        if kind not in KINDS:
            raise DataError(f"degradation: unknown kind {kind!r}; choose from {KINDS}")
        self.kind = kind
        given = {"sigma": sigma, "peak": peak, "gamma": gamma, "blur_sigma": blur_sigma,
                 "quality": quality}
        params = dict(DEFAULTS[kind])
        for key, value in given.items():
            if value is None:
                continue
            if key not in params:
                raise DataError(f"degradation {kind}: {key} does not apply (it takes "
                                f"{', '.join(sorted(DEFAULTS[kind]))})")
            params[key] = value
        minimum = {"peak": 1e-3, "gamma": 1e-3, "quality": 1.0}
        self.params = {k: _range(v, k, minimum.get(k, 0.0)) for k, v in params.items()}
        if "quality" in self.params and self.params["quality"][1] > 100:
            raise DataError(f"degradation jpeg: quality must be in 1..100, got {quality!r}")

    def config(self):
        """JSON-able arguments that rebuild this degradation (kept in the dataset's info)."""
        return {"kind": self.kind, **{k: list(v) for k, v in self.params.items()}}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"Degradation({self.config()})"

    def __call__(self, clean, seed):
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)
        x = tf.cast(clean, tf.float32)
        p = self.params
        if self.kind == "gaussian":
            sigma = _draw(p["sigma"], seeds[0])
            x = x + sigma * tf.random.stateless_normal(tf.shape(x), seeds[1])
        elif self.kind == "poisson":
            peak = _draw(p["peak"], seeds[0])
            lam = tf.maximum(x / 255.0 * peak, 0.0)
            counts = tf.random.stateless_poisson(tf.shape(x), seeds[1], lam, dtype=tf.float32)
            x = counts / peak * 255.0
        elif self.kind == "low_light":
            gamma = _draw(p["gamma"], seeds[0])
            sigma = _draw(p["sigma"], seeds[2])
            x = 255.0 * tf.pow(tf.clip_by_value(x / 255.0, 0.0, 1.0), gamma)
            x = x + sigma * tf.random.stateless_normal(tf.shape(x), seeds[1])
        elif self.kind == "blur":
            x = gaussian_blur(x, _draw(p["blur_sigma"], seeds[0]),
                              radius=int(math.ceil(3 * max(p["blur_sigma"][1], 0.1))))
        else:  # jpeg
            low, high = p["quality"]
            quality = tf.random.stateless_uniform([], seeds[0], int(low), int(high) + 1,
                                                  dtype=tf.int32)
            x = tf.image.adjust_jpeg_quality(tf.clip_by_value(x, 0.0, 255.0) / 255.0,
                                             quality) * 255.0
        return tf.round(tf.clip_by_value(x, 0.0, 255.0))


def gaussian_blur(image, sigma, radius):
    """Blurs an (H, W, C) float image with a Gaussian of ``sigma`` pixels (a tensor), kernel
    radius ``radius``; borders reflected."""
    r = int(radius)
    t = tf.range(-r, r + 1, dtype=tf.float32)
    g = tf.exp(-0.5 * tf.square(t / tf.maximum(sigma, 1e-3)))
    g = g / tf.reduce_sum(g)
    channels = tf.shape(image)[-1]
    x = tf.pad(image[None], [[0, 0], [r, r], [r, r], [0, 0]], mode="REFLECT")
    kh = tf.tile(tf.reshape(g, [-1, 1, 1, 1]), [1, 1, channels, 1])
    kw = tf.tile(tf.reshape(g, [1, -1, 1, 1]), [1, 1, channels, 1])
    x = tf.nn.depthwise_conv2d(x, kh, [1, 1, 1, 1], "VALID")
    x = tf.nn.depthwise_conv2d(x, kw, [1, 1, 1, 1], "VALID")
    return x[0]


def to_rgb(image):
    """Any image tensor (gray (H, W) or (H, W, 1), RGB, RGBA; any dtype) -> (H, W, 3) float32."""
    x = tf.cast(image, tf.float32)
    if x.shape.rank == 2:
        x = x[..., None]
    if x.shape[-1] == 1:
        x = tf.image.grayscale_to_rgb(x)
    elif x.shape[-1] == 4:
        x = x[..., :3]
    return x


def degrade_numpy(degradation, clean, seed=0):
    """The degraded image of one numpy (H, W, 3) image (for tests and scripts)."""
    out = degradation(tf.constant(np.asarray(clean, np.float32)), tf.constant([seed, 0], tf.int64))
    return out.numpy()
