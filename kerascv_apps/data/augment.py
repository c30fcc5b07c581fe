"""Augmentations usable inside ``make_pipeline``: albumentations and a TF-native alternative.

Both are callables ``(image, target, seed) -> (image, target)``. With ``target_is_mask`` the
target is a (H, W) integer mask transformed jointly with the image, always with nearest
interpolation so class ids are never blended.
"""

import copy
import threading

import numpy as np
import tensorflow as tf


class AlbumentationsAugment:
    """Applies an albumentations transform inside tf.data.

    The Compose is built once by the caller; each tf.data worker thread uses its own deep
    copy of it (albumentations transforms keep random state on the object, so one instance
    shared by parallel threads would race), reseeded from the pipeline's seed so results are
    reproducible whatever the thread scheduling.

    ``make_pipeline`` feeds it chunks of ``chunk_size`` equally sized examples (one Python
    call and one reseed per chunk instead of per example: reseeding costs about half of an
    8-bit 32x32 affine warp), then unbatches; ``__call__`` handles single examples.
    """

    def __init__(self, transform, target_is_mask=False, mask_fill_value=255, chunk_size=32):
        self.transform = transform
        self.chunk_size = chunk_size
        self.target_is_mask = target_is_mask
        self.mask_fill_value = mask_fill_value
        self._local = threading.local()
        if target_is_mask:
            self._force_nearest_masks(transform)

    @staticmethod
    def _force_nearest_masks(transform):
        import cv2

        for t in getattr(transform, "transforms", [transform]):
            if hasattr(t, "transforms"):
                AlbumentationsAugment._force_nearest_masks(t)
            if hasattr(t, "mask_interpolation"):
                t.mask_interpolation = cv2.INTER_NEAREST

    def _compose(self):
        compose = getattr(self._local, "compose", None)
        if compose is None:
            compose = self._local.compose = copy.deepcopy(self.transform)
        return compose

    def _apply(self, image, target, seed):
        # albumentations expects uint8 (or float32 in [0, 1]); pixels here are [0, 255]
        compose = self._compose()
        compose.set_random_seed(int(np.uint32(seed[0] ^ (seed[1] << 1))))
        return self._transform_one(compose, np.asarray(image), target)

    def _apply_chunk(self, images, targets, seed):
        compose = self._compose()
        compose.set_random_seed(int(np.uint32(seed[0] ^ (seed[1] << 1))))
        out_images = np.empty(images.shape, np.float32)
        out_targets = np.empty(targets.shape, np.int32 if self.target_is_mask else targets.dtype)
        for i in range(len(images)):
            out_images[i], out_targets[i] = self._transform_one(compose, images[i], targets[i])
        return out_images, out_targets

    def _transform_one(self, compose, image, target):
        as_uint8 = np.clip(np.rint(image), 0, 255).astype(np.uint8)
        if self.target_is_mask:
            out = compose(image=as_uint8, mask=np.asarray(target).astype(np.uint8))
            return out["image"].astype(np.float32), out["mask"].astype(np.int32)
        return compose(image=as_uint8)["image"].astype(np.float32), target

    def _wrap(self, fn, image, target, seed):
        target_dtype = tf.int32 if self.target_is_mask else target.dtype
        image_out, target_out = tf.numpy_function(
            fn, [image, target, seed], [tf.float32, target_dtype], stateful=False)
        image_out.set_shape(image.shape)
        target_out.set_shape(target.shape)
        return image_out, target_out

    def __call__(self, image, target, seed):
        return self._wrap(self._apply, image, target, seed)

    def apply_chunk(self, images, targets, seed):
        """Augments a batch of equally sized examples with one reseed (see class doc)."""
        return self._wrap(self._apply_chunk, images, targets, seed)


def _affine_matrix(angle, scale, tx, ty, height, width):
    """Projective transform (output->input mapping) rotating/scaling about the centre."""
    cy, cx = (tf.cast(height, tf.float32) - 1) / 2, (tf.cast(width, tf.float32) - 1) / 2
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    a0, a1, b0, b1 = cos, -sin, sin, cos
    a2 = cx - a0 * cx - a1 * cy - tx
    b2 = cy - b0 * cx - b1 * cy - ty
    return tf.stack([a0, a1, a2, b0, b1, b2, 0.0, 0.0])[None]


class TFAugment:
    """TF-native stateless augmentation: affine (rotation, scale, shift), flips, brightness,
    contrast. Runs in graph mode with no Python callback.

    Args:
        rotation: max rotation in degrees.
        scale: (min, max) zoom factor.
        shift: max shift as a fraction of the size.
        horizontal_flip / vertical_flip: random flips (off for digits, where they change
            the class).
        brightness: max added brightness in pixel units ([0, 255] scale).
        contrast: (min, max) contrast factor, or None.
        target_is_mask: transform a (H, W) mask target with the same geometry (nearest).
        mask_fill_value: value for mask pixels uncovered by the affine (255 = ignore).
    """

    def __init__(self, rotation=0.0, scale=(1.0, 1.0), shift=0.0, horizontal_flip=False,
                 vertical_flip=False, brightness=0.0, contrast=None, target_is_mask=False,
                 mask_fill_value=255):
        self.rotation = float(rotation)
        self.scale = tuple(scale)
        self.shift = float(shift)
        self.horizontal_flip = horizontal_flip
        self.vertical_flip = vertical_flip
        self.brightness = float(brightness)
        self.contrast = contrast
        self.target_is_mask = target_is_mask
        self.mask_fill_value = mask_fill_value

    def _geometry(self, x, matrix, interpolation, fill):
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=x[None], transforms=matrix, output_shape=tf.shape(x)[:2],
            fill_value=tf.cast(fill, tf.float32), interpolation=interpolation,
            fill_mode="CONSTANT")[0]

    def __call__(self, image, target, seed):
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 8)
        h, w = tf.shape(image)[0], tf.shape(image)[1]
        uniform = lambda i, lo, hi: tf.random.stateless_uniform([], seeds[i], lo, hi)
        angle = uniform(0, -self.rotation, self.rotation) * np.pi / 180.0
        zoom = uniform(1, self.scale[0], self.scale[1])
        tx = uniform(2, -self.shift, self.shift) * tf.cast(w, tf.float32)
        ty = uniform(3, -self.shift, self.shift) * tf.cast(h, tf.float32)
        apply_geometry = self.rotation or self.shift or self.scale != (1.0, 1.0)
        mask = target if self.target_is_mask else None
        if apply_geometry:
            matrix = _affine_matrix(angle, zoom, tx, ty, h, w)
            image = self._geometry(image, matrix, "BILINEAR", 0.0)
            if mask is not None:
                # (H, W) masks, or (H, W, k) stacks of per-pixel labels (e.g. class + instance)
                m = tf.cast(mask if mask.shape.rank == 3 else mask[..., None], tf.float32)
                m = self._geometry(m, matrix, "NEAREST", self.mask_fill_value)
                mask = tf.cast(m if mask.shape.rank == 3 else m[..., 0], mask.dtype)
        for flip, i, axis in ((self.horizontal_flip, 4, 1), (self.vertical_flip, 5, 0)):
            if flip:
                do = uniform(i, 0.0, 1.0) < 0.5
                image = tf.where(do, tf.reverse(image, [axis]), image)
                if mask is not None:
                    mask = tf.where(do, tf.reverse(mask, [axis]), mask)
        if self.brightness:
            image = image + uniform(6, -self.brightness, self.brightness)
        if self.contrast:
            mean = tf.reduce_mean(image, axis=[0, 1], keepdims=True)
            image = (image - mean) * uniform(7, self.contrast[0], self.contrast[1]) + mean
        image = tf.clip_by_value(image, 0.0, 255.0)
        return image, (mask if mask is not None else target)


def default_classification_augment(kind, image_shape, flips=False):
    """The augmentation the CLI/recipes use: ``'tf'``, ``'albumentations'`` or ``'none'``."""
    if kind in (None, "none"):
        return None
    if kind == "tf":
        return TFAugment(rotation=10, scale=(0.9, 1.1), shift=0.08, horizontal_flip=flips)
    if kind == "albumentations":
        import albumentations as A

        ops = [A.Affine(rotate=(-10, 10), scale=(0.9, 1.1), translate_percent=(-0.08, 0.08),
                        border_mode=0, fill=0, p=1.0)]
        if flips:
            ops.append(A.HorizontalFlip(p=0.5))
        return AlbumentationsAugment(A.Compose(ops))
    raise ValueError(f"augment must be 'none', 'tf' or 'albumentations', got {kind!r}")
