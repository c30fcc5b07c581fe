"""What every super-resolution source shares: the degradation (bicubic downscaling), paired
(LR, HR) examples, the training augmentation (aligned random crops, flips, 90° rotations) and
the held-out benchmark's downscalers.

Every SR source yields unbatched ``(lr, hr)`` float32 pairs in [0, 255]: ``hr`` is a whole
image cropped to a multiple of ``scale`` and ``lr`` its bicubic (antialiased) downscale by
``scale``. Training crops are taken from these whole-image pairs by :class:`SRAugment`.
"""

import numpy as np
import tensorflow as tf

from kerascv_apps.data.sources.base import DataError


def crop_to_multiple(hr, scale):
    """Crops an (H, W, C) image (top-left anchored) so that H and W are multiples of ``scale``."""
    shape = tf.shape(hr)
    h, w = shape[0] - shape[0] % scale, shape[1] - shape[1] % scale
    return hr[:h, :w]


# How LR images get made in the wild: the degradations SRAugment draws from at training time and
# the benchmark evaluates against. "pil_bicubic" is Pillow's Image.BICUBIC (a = -0.5 kernel
# widened by the factor, i.e. antialiased); in a tf.data graph it is the antialiased TF bicubic.
DOWNSCALERS = ("bicubic_antialias", "bicubic", "area")
BENCHMARK_DOWNSCALERS = ("bicubic_antialias", "bicubic", "pil_bicubic")


def downscale(hr, scale, method="bicubic_antialias"):
    """Downscales an (H, W, C) image by ``scale`` (H, W multiples of it) with one of
    ``DOWNSCALERS`` (in-graph) or ``"pil_bicubic"`` (NumPy in, NumPy out), rounded to whole
    pixel values like a saved LR image."""
    if method == "pil_bicubic":
        from PIL import Image

        hr = np.asarray(hr, np.float32)
        h, w = hr.shape[0] // scale, hr.shape[1] // scale
        image = Image.fromarray(np.clip(np.round(hr), 0, 255).astype(np.uint8))
        return np.asarray(image.resize((w, h), Image.BICUBIC), np.float32)
    if method not in DOWNSCALERS:
        raise ValueError(f"downscale: unknown method {method!r}; choose from "
                         f"{DOWNSCALERS + ('pil_bicubic',)}")
    shape = tf.shape(hr)
    size = tf.stack([shape[0] // scale, shape[1] // scale])
    hr = tf.cast(hr, tf.float32)
    if method == "area":
        lr = tf.image.resize(hr, size, method="area")
    else:
        lr = tf.image.resize(hr, size, method="bicubic", antialias=method == "bicubic_antialias")
    return tf.round(tf.clip_by_value(lr, 0.0, 255.0))


def bicubic_downscale(hr, scale):
    """The degradation: antialiased bicubic downscale of an (H, W, C) image by ``scale``
    (H, W multiples of scale), rounded to whole pixel values like a saved LR image."""
    shape = tf.shape(hr)
    size = tf.stack([shape[0] // scale, shape[1] // scale])
    lr = tf.image.resize(tf.cast(hr, tf.float32), size, method="bicubic", antialias=True)
    return tf.round(tf.clip_by_value(lr, 0.0, 255.0))


def bicubic_upscale(lr, scale):
    """The baseline: bicubic upscale of an LR image or batch by ``scale`` (numpy, [0, 255])."""
    lr = np.asarray(lr, np.float32)
    batched = lr.ndim == 4
    x = lr if batched else lr[None]
    size = (x.shape[1] * scale, x.shape[2] * scale)
    out = tf.image.resize(x, size, method="bicubic").numpy()
    out = np.clip(out, 0.0, 255.0)
    return out if batched else out[0]


def to_pair(hr, scale):
    """An HR image (any dtype, gray or RGB) -> ``(lr, hr)`` float32 pair in [0, 255]."""
    hr = tf.cast(hr, tf.float32)
    if hr.shape.rank == 2:
        hr = hr[..., None]
    if hr.shape[-1] == 1:
        hr = tf.image.grayscale_to_rgb(hr)
    elif hr.shape[-1] == 4:
        hr = hr[..., :3]
    hr = crop_to_multiple(hr, scale)
    return bicubic_downscale(hr, scale), hr


def check_scale(scale):
    if not isinstance(scale, (int, np.integer)) or scale < 2:
        raise DataError(f"scale must be an int >= 2, got {scale!r}")
    return int(scale)


class SRAugment:
    """Aligned random crop of an ``(lr, hr)`` pair plus random flips and 90° rotations.

    A ``patch_size``×``patch_size`` LR crop at (y, x) goes with the HR crop at
    (scale·y, scale·x) of size scale·patch_size, so the pair stays aligned; no interpolation
    is involved. With ``degradations`` (names from ``DOWNSCALERS``) the LR crop is made
    instead from the HR crop by one of them, drawn per crop: the HR crop is taken with a
    ``margin`` of LR pixels on each side, downscaled, and both are cut back to the patch, so
    the kernel sees real pixels at the patch border. Stateless and seeded (see
    ``make_pipeline``).
    """

    def __init__(self, patch_size, scale, flips=True, rotations=True, degradations=None,
                 margin=2):
        self.patch_size = int(patch_size)
        self.scale = int(scale)
        self.flips = flips
        self.rotations = rotations
        self.degradations = tuple(degradations or ())
        unknown = [d for d in self.degradations if d not in DOWNSCALERS]
        if unknown:
            raise ValueError(f"SRAugment: unknown degradations {unknown}; choose from "
                             f"{DOWNSCALERS}")
        self.margin = int(margin) if self.degradations else 0

    def _crop(self, lr, hr, seeds):
        p, s, m = self.patch_size, self.scale, self.margin
        q = p + 2 * m
        size = tf.shape(hr)[:2] // s if self.degradations else tf.shape(lr)[:2]
        tf.debugging.assert_greater_equal(
            tf.reduce_min(size), q,
            message=f"SRAugment: an LR image is smaller than patch_size={p} (+ {m} margin)")
        y = tf.random.stateless_uniform([], seeds[0], 0, size[0] - q + 1, dtype=tf.int32)
        x = tf.random.stateless_uniform([], seeds[1], 0, size[1] - q + 1, dtype=tf.int32)
        hr = hr[y * s:(y + q) * s, x * s:(x + q) * s]
        if not self.degradations:
            return lr[y:y + p, x:x + p], hr
        k = tf.random.stateless_uniform([], seeds[4], 0, len(self.degradations), dtype=tf.int32)
        branches = [lambda d=d: downscale(hr, s, d) for d in self.degradations]
        lr = tf.switch_case(k, branches)
        return lr[m:m + p, m:m + p], hr[m * s:(m + p) * s, m * s:(m + p) * s]

    def __call__(self, lr, hr, seed):
        p, s = self.patch_size, self.scale
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 5)
        lr, hr = self._crop(lr, hr, seeds)
        if self.flips:
            flip = tf.random.stateless_uniform([], seeds[2], 0, 2, dtype=tf.int32) > 0
            lr = tf.where(flip, tf.reverse(lr, [1]), lr)
            hr = tf.where(flip, tf.reverse(hr, [1]), hr)
        if self.rotations:
            k = tf.random.stateless_uniform([], seeds[3], 0, 4, dtype=tf.int32)
            lr, hr = tf.image.rot90(lr, k), tf.image.rot90(hr, k)
        lr.set_shape((p, p, 3))
        hr.set_shape((p * s, p * s, 3))
        return lr, hr


def from_images(images, scale):
    """A tf.data dataset of ``(lr, hr)`` pairs from a list of numpy HR images."""
    pairs = [tuple(t.numpy() for t in to_pair(tf.constant(im), scale)) for im in images]
    if not pairs:
        raise DataError("no images for this split")

    def gen():
        yield from pairs

    spec = (tf.TensorSpec((None, None, 3), tf.float32), tf.TensorSpec((None, None, 3), tf.float32))
    # A known length lets Keras size validation passes (no "ran out of data" warning).
    dataset = tf.data.Dataset.from_generator(gen, output_signature=spec)
    return dataset.apply(tf.data.experimental.assert_cardinality(len(pairs))), len(pairs)
