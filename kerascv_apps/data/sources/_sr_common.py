"""What every super-resolution source shares: the degradation (bicubic downscaling), paired
(LR, HR) examples, the training augmentation (aligned random crops, flips, 90° rotations) and
the pipelines.

Every SR source yields unbatched ``(lr, hr)`` float32 pairs in [0, 255]: ``hr`` is a whole
image cropped to a multiple of ``scale`` and ``lr`` its bicubic (antialiased) downscale by
``scale``. Training crops are taken from these whole-image pairs by :class:`SRAugment`.
"""

import numpy as np
import tensorflow as tf

from kerascv_apps.data.pipeline import make_pipeline
from kerascv_apps.data.sources.base import DataError


def crop_to_multiple(hr, scale):
    """Crops an (H, W, C) image (top-left anchored) so that H and W are multiples of ``scale``."""
    shape = tf.shape(hr)
    h, w = shape[0] - shape[0] % scale, shape[1] - shape[1] % scale
    return hr[:h, :w]


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
    is involved. Stateless and seeded (see ``make_pipeline``).
    """

    def __init__(self, patch_size, scale, flips=True, rotations=True):
        self.patch_size = int(patch_size)
        self.scale = int(scale)
        self.flips = flips
        self.rotations = rotations

    def __call__(self, lr, hr, seed):
        p, s = self.patch_size, self.scale
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 4)
        shape = tf.shape(lr)
        tf.debugging.assert_greater_equal(
            tf.reduce_min(shape[:2]), p,
            message=f"SRAugment: an LR image is smaller than patch_size={p}")
        y = tf.random.stateless_uniform([], seeds[0], 0, shape[0] - p + 1, dtype=tf.int32)
        x = tf.random.stateless_uniform([], seeds[1], 0, shape[1] - p + 1, dtype=tf.int32)
        lr = lr[y:y + p, x:x + p]
        hr = hr[y * s:(y + p) * s, x * s:(x + p) * s]
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


def sr_train_pipeline(splits, patch_size, batch_size, seed=0, cache=True):
    """Endless batches of aligned random (LR, HR) crops for ``fit(steps_per_epoch=...)``."""
    scale = splits.info["scale"]
    return make_pipeline(splits.train, batch_size, training=True, augment=SRAugment(patch_size, scale),
                         seed=seed, cache=cache, repeat=True, drop_remainder=True,
                         shuffle_buffer=256)


def sr_eval_pipeline(dataset, cache=True):
    """Whole images one at a time (sizes differ), for validation and evaluation."""
    return make_pipeline(dataset, 1, training=False, cache=cache)


def from_images(images, scale):
    """A tf.data dataset of ``(lr, hr)`` pairs from a list of numpy HR images."""
    pairs = [tuple(t.numpy() for t in to_pair(tf.constant(im), scale)) for im in images]
    if not pairs:
        raise DataError("no images for this split")

    def gen():
        yield from pairs

    spec = (tf.TensorSpec((None, None, 3), tf.float32), tf.TensorSpec((None, None, 3), tf.float32))
    return tf.data.Dataset.from_generator(gen, output_signature=spec), len(pairs)
