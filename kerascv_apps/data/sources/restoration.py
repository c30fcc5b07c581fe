"""Restoration data: ``(degraded, clean)`` pairs made on the fly from any image source.

``--dataset restore`` (the restoration task's default) degrades the embedded photos (scikit-
image's bundled photos, split by name: ``TRAIN``/``VAL``/``TEST``; scikit-learn's two sample
photos are extra held-out test photos). ``--dataset restore:<spec>`` degrades the images of
any other source: ``restore:sr-folder:/photos`` (a flat folder), ``restore:folder:/data`` (a
class folder), ``restore:tfds:cifar10`` (a prepared tfds dataset); the clean image of an
example is what that source's task says it is (``Task.clean_image``: the HR target of an SR
pair, the image otherwise). The wrapped source's own arguments go in ``source_kwargs``.

Every split holds whole images with a fixed degradation: example ``i`` of a split is degraded
with the stateless seed ``(seed + split offset, i)``, so the held-out set is the same in every
run. Training crops are degraded again, with a new seed per crop and epoch
(:class:`RestorationAugment`, which the restoration task uses).
"""

import json

import tensorflow as tf

from kerascv_apps.data.degrade import Degradation, to_rgb
from kerascv_apps.data.sources.base import DataError, DatasetSplits, load_dataset, register_source
from kerascv_apps.data.sources.photos import TEST as SR_TEST, TRAIN, VAL, load_photo

# held-out photos: the SR benchmark's scikit-image photos and scikit-learn's two sample photos
TEST = SR_TEST + ("sklearn:china", "sklearn:flower")
EMBEDDED = "photos"
SPLIT_OFFSETS = {"train": 0, "val": 1_000_003, "test": 2_000_003}


def _photos(names):
    images = [to_rgb(tf.constant(load_photo(n))).numpy() for n in names]
    if not images:
        raise DataError("restore: no photos for this split")

    def gen():
        yield from images

    ds = tf.data.Dataset.from_generator(
        gen, output_signature=tf.TensorSpec((None, None, 3), tf.float32))
    return ds.apply(tf.data.experimental.assert_cardinality(len(images))), len(images)


def _clean_images(dataset, clean_fn):
    return dataset.map(lambda image, target: to_rgb(clean_fn(image, target)),
                       num_parallel_calls=tf.data.AUTOTUNE)


def degraded_pairs(clean, degradation, seed, split):
    """``(degraded, clean)`` pairs of a dataset of clean (H, W, 3) images, example ``i``
    degraded with the seed ``(seed + SPLIT_OFFSETS[split], i)``."""
    base = int(seed) + SPLIT_OFFSETS[split]

    def pair(i, image):
        s = tf.stack([tf.constant(base, tf.int64), tf.cast(i, tf.int64)])
        return degradation(image, s), image

    out = clean.enumerate().map(pair, num_parallel_calls=tf.data.AUTOTUNE)
    count = clean.cardinality()
    if int(count) >= 0:
        out = out.apply(tf.data.experimental.assert_cardinality(count))
    return out


@register_source("restore", task="restoration",
                 description="restore[:<source spec>]: degraded/clean pairs of any image "
                             "source (default: the embedded photos)")
def restore(root=EMBEDDED, degradation="gaussian", sigma=None, peak=None, gamma=None,
            blur_sigma=None, quality=None, seed=0, source_kwargs=None, train=TRAIN, val=VAL,
            test=TEST):
    """Degraded/clean pairs of the images of ``root`` (see the module docstring).

    Args:
        root: ``photos`` (the embedded photos) or any dataset spec (``sr-folder:/x``,
            ``folder:/x``, ``tfds:name``).
        degradation: ``gaussian``, ``poisson``, ``low_light``, ``blur`` or ``jpeg``
            (``data/degrade.py``); sigma, peak, gamma, blur_sigma, quality: its parameters
            (a number or ``[low, high]``; None: the kind's default).
        seed: the held-out degradation seed.
        source_kwargs: arguments of the wrapped source (a dict or a JSON object string).
        train, val, test: photo names of each split (``root=photos`` only).
    """
    deg = Degradation(degradation, sigma=sigma, peak=peak, gamma=gamma, blur_sigma=blur_sigma,
                      quality=quality)
    if isinstance(source_kwargs, str):
        try:
            source_kwargs = json.loads(source_kwargs)
        except json.JSONDecodeError:
            raise DataError(f"restore: source_kwargs must be a JSON object, got "
                            f"{source_kwargs!r}") from None
    source_kwargs = dict(source_kwargs or {})
    info = {"degradation": deg.config(), "seed": int(seed), "source": root}
    if root == EMBEDDED:
        if source_kwargs:
            raise DataError(f"restore: source_kwargs {sorted(source_kwargs)} do not apply to "
                            f"the embedded photos (use train/val/test)")
        overlap = set(train) & (set(val) | set(test))
        if overlap:
            raise DataError(f"restore: held-out photos also in train: {sorted(overlap)}")
        clean, sizes = {}, {}
        for split, names in (("train", train), ("val", val), ("test", test)):
            clean[split], sizes[split] = _photos(names)
        info.update(train_images=list(train), val_images=list(val), test_images=list(test))
        name = "restore"
    else:
        if root.split(":", 1)[0] == "restore":
            raise DataError(f"restore: root {root!r} is itself a restoration dataset")
        from kerascv_apps.tasks.base import get_task_class

        inner = load_dataset(root, **source_kwargs)
        clean_fn = get_task_class(inner.task).clean_image
        clean = {s: _clean_images(getattr(inner, s), clean_fn) for s in ("train", "val", "test")}
        sizes = dict(inner.sizes)
        name = f"restore:{inner.name}"
    pairs = {s: degraded_pairs(clean[s], deg, seed, s) for s in ("train", "val", "test")}
    return DatasetSplits(name=name, task="restoration", image_shape=(None, None, 3),
                         sizes=sizes, info=info, **pairs)


class RestorationAugment:
    """Training crops for restoration: an aligned random ``patch_size`` crop, flips and 90°
    rotations of the clean image (``SRAugment`` at scale 1), optionally random per-channel
    gains, then the crop degraded anew with the crop's own seed, so every epoch sees new noise
    on new crops.

    ``min_gain`` < 1 multiplies each colour channel of the clean crop by a gain drawn in
    [min_gain, 1]: saturated colours with a channel near 0 (where noise is clipped and biased)
    are rare in the embedded photos, half of which are gray; without it a DAE trained on them
    denoised scikit-learn's flower photo (dark, saturated green) to 24.5 dB where non-local
    means reached 31.0 dB (σ = 25), while it beat non-local means on the other held-out
    photos.
    """

    def __init__(self, patch_size, degradation, flips=True, rotations=True, min_gain=1.0):
        from kerascv_apps.data.sources.sr_common import SRAugment

        self.crop = SRAugment(patch_size, 1, flips=flips, rotations=rotations)
        self.degradation = degradation
        self.min_gain = float(min_gain)
        if not 0.0 < self.min_gain <= 1.0:
            raise ValueError(f"RestorationAugment: min_gain must be in (0, 1], got {min_gain!r}")

    def __call__(self, degraded, clean, seed):
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)
        _, clean = self.crop(clean, clean, seeds[0])
        if self.min_gain < 1.0:
            gains = tf.random.stateless_uniform([3], seeds[2], self.min_gain, 1.0)
            clean = tf.round(clean * gains)
        return self.degradation(clean, seeds[1]), clean
