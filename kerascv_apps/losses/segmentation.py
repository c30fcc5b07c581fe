"""Segmentation losses: pixel-wise cross-entropy with an ignore label and class weights, Dice,
focal, weighted sums of them, and the data-side helpers for weights (median-frequency
balancing, U-Net's border weight map).

Every loss takes ``y_true`` as an int mask (B, H, W) (or (B, H, W, 1)) where ``ignore_index``
(255) marks pixels that count nowhere, and ``y_pred`` as (B, H, W, K) probabilities (or logits
with ``from_logits=True``). When the prediction is smaller than the mask (the valid U-Net),
the mask is center-cropped to it. A per-pixel ``sample_weight`` (B, H, W), e.g. the border
weight map, multiplies the per-pixel losses. Losses are averaged over the non-ignored pixels.
"""

import keras
import numpy as np
from keras import ops

IGNORE_INDEX = 255


def center_crop_like(y_true, y_pred):
    """Center-crops (B, H, W[, ...]) ``y_true`` to ``y_pred``'s height and width."""
    ts, ps = y_true.shape, y_pred.shape
    if ts[1] is not None and ts[1] == ps[1] and ts[2] is not None and ts[2] == ps[2]:
        return y_true
    tshape, pshape = ops.shape(y_true), ops.shape(y_pred)
    top, left = (tshape[1] - pshape[1]) // 2, (tshape[2] - pshape[2]) // 2
    start = [0, top, left] + [0] * (len(ts) - 3)
    size = [tshape[0], pshape[1], pshape[2]] + [tshape[i] for i in range(3, len(ts))]
    return ops.slice(y_true, start, size)


def split_target(y_true):
    """(mask, weight map or None) from a (B, H, W), (B, H, W, 1) or (B, H, W, 2) target; the
    2-channel form is [class id, per-pixel weight] (see ``border_weight_target_fn``)."""
    y_true = ops.convert_to_tensor(y_true)
    if len(y_true.shape) == 4:
        if y_true.shape[-1] == 2:
            return y_true[..., 0], ops.cast(y_true[..., 1], "float32")
        return y_true[..., 0], None
    return y_true, None


def _labels(y_true, y_pred, ignore_index):
    y_true, _ = split_target(y_true)
    y_true = center_crop_like(y_true, y_pred)
    labels = ops.cast(y_true, "int32")
    valid = ops.not_equal(labels, ignore_index) if ignore_index is not None else \
        ops.ones_like(labels, dtype="bool")
    labels = ops.where(valid, labels, ops.zeros_like(labels))
    return labels, ops.cast(valid, "float32")


def _probs_and_logprobs(y_pred, from_logits):
    y_pred = ops.cast(y_pred, "float32")
    if from_logits:
        return ops.softmax(y_pred, axis=-1), ops.log_softmax(y_pred, axis=-1)
    probs = ops.clip(y_pred, 1e-7, 1.0)
    return probs, ops.log(probs)


class _PixelLoss(keras.losses.Loss):
    """Base: subclasses return per-pixel losses (B, H, W); this averages them over valid pixels
    with the sample weights."""

    def __init__(self, ignore_index=IGNORE_INDEX, from_logits=False, class_weights=None,
                 name=None, **kwargs):
        kwargs.pop("reduction", None)
        kwargs.pop("dtype", None)
        super().__init__(name=name, dtype="float32", **kwargs)
        self.ignore_index = ignore_index
        self.from_logits = bool(from_logits)
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]

    def pixel_losses(self, labels, probs, log_probs):
        raise NotImplementedError

    def _class_weight_map(self, labels):
        if self.class_weights is None:
            return 1.0
        return ops.take(ops.convert_to_tensor(self.class_weights, "float32"), labels)

    def __call__(self, y_true, y_pred, sample_weight=None):
        return self.call(y_true, y_pred, sample_weight)

    def call(self, y_true, y_pred, sample_weight=None):
        labels, valid = _labels(y_true, y_pred, self.ignore_index)
        probs, log_probs = _probs_and_logprobs(y_pred, self.from_logits)
        losses = self.pixel_losses(labels, probs, log_probs) * self._class_weight_map(labels)
        weights = valid
        weight_map = split_target(y_true)[1]
        if weight_map is not None:
            weights = weights * center_crop_like(weight_map, y_pred)
        if sample_weight is not None:
            sw = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
            if len(sw.shape) == 4:
                sw = sw[..., 0]
            if len(sw.shape) == 3:
                sw = center_crop_like(sw, y_pred)
            else:
                sw = ops.reshape(sw, (-1, 1, 1))
            weights = weights * sw
        return ops.sum(losses * weights) / ops.maximum(ops.sum(valid), 1.0)

    def get_config(self):
        return {"name": self.name, "ignore_index": self.ignore_index,
                "from_logits": self.from_logits, "class_weights": self.class_weights}


@keras.saving.register_keras_serializable(package="kerascv_apps")
class SegmentationCrossentropy(_PixelLoss):
    """Pixel-wise cross-entropy ignoring ``ignore_index``, with optional per-class weights
    (e.g. :func:`median_frequency_weights`) and per-pixel sample weights (U-Net's weight map)."""

    def __init__(self, ignore_index=IGNORE_INDEX, from_logits=False, class_weights=None,
                 name="segmentation_crossentropy", **kwargs):
        super().__init__(ignore_index, from_logits, class_weights, name=name, **kwargs)

    def pixel_losses(self, labels, probs, log_probs):
        return -ops.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]


@keras.saving.register_keras_serializable(package="kerascv_apps")
class FocalLoss(_PixelLoss):
    """Focal loss ``-(1 - p_t)^gamma log p_t`` (Lin et al. 2017) per pixel; ``class_weights``
    plays the role of alpha."""

    def __init__(self, gamma=2.0, ignore_index=IGNORE_INDEX, from_logits=False,
                 class_weights=None, name="focal_loss", **kwargs):
        super().__init__(ignore_index, from_logits, class_weights, name=name, **kwargs)
        self.gamma = float(gamma)

    def pixel_losses(self, labels, probs, log_probs):
        log_pt = ops.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]
        return -ops.power(1.0 - ops.exp(log_pt), self.gamma) * log_pt

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma}


@keras.saving.register_keras_serializable(package="kerascv_apps")
class DiceLoss(keras.losses.Loss):
    """Soft Dice loss ``1 - mean_k (2 sum p_k y_k + s) / (sum p_k + sum y_k + s)`` over the
    batch's non-ignored pixels (Milletari et al. 2016), averaged over the classes (optionally
    weighted by ``class_weights``)."""

    def __init__(self, ignore_index=IGNORE_INDEX, from_logits=False, smooth=1.0,
                 class_weights=None, name="dice_loss", **kwargs):
        kwargs.pop("reduction", None)
        kwargs.pop("dtype", None)
        super().__init__(name=name, dtype="float32", **kwargs)
        self.ignore_index = ignore_index
        self.from_logits = bool(from_logits)
        self.smooth = float(smooth)
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]

    def __call__(self, y_true, y_pred, sample_weight=None):
        return self.call(y_true, y_pred, sample_weight)

    def call(self, y_true, y_pred, sample_weight=None):
        labels, valid = _labels(y_true, y_pred, self.ignore_index)
        probs, _ = _probs_and_logprobs(y_pred, self.from_logits)
        num_classes = y_pred.shape[-1]
        onehot = ops.one_hot(labels, num_classes, dtype="float32") * valid[..., None]
        probs = probs * valid[..., None]
        inter = ops.sum(probs * onehot, axis=(0, 1, 2))
        total = ops.sum(probs, axis=(0, 1, 2)) + ops.sum(onehot, axis=(0, 1, 2))
        dice = (2.0 * inter + self.smooth) / (total + self.smooth)
        if self.class_weights is None:
            return 1.0 - ops.mean(dice)
        w = ops.convert_to_tensor(self.class_weights, "float32")
        return 1.0 - ops.sum(dice * w) / ops.sum(w)

    def get_config(self):
        return {"name": self.name, "ignore_index": self.ignore_index,
                "from_logits": self.from_logits, "smooth": self.smooth,
                "class_weights": self.class_weights}


@keras.saving.register_keras_serializable(package="kerascv_apps")
class CombinedLoss(keras.losses.Loss):
    """Weighted sum of losses, e.g. ``CombinedLoss([SegmentationCrossentropy(), DiceLoss()],
    [1.0, 0.5])``; sample weights go to every term."""

    def __init__(self, losses, weights=None, name="combined_loss", **kwargs):
        kwargs.pop("reduction", None)
        kwargs.pop("dtype", None)
        super().__init__(name=name, dtype="float32", **kwargs)
        self.losses = [keras.losses.deserialize(l) if isinstance(l, dict) else l for l in losses]
        self.weights = [1.0] * len(self.losses) if weights is None else [float(w) for w in weights]
        if len(self.weights) != len(self.losses):
            raise ValueError(f"CombinedLoss: {len(self.losses)} losses but {len(self.weights)} weights")

    def __call__(self, y_true, y_pred, sample_weight=None):
        return self.call(y_true, y_pred, sample_weight)

    def call(self, y_true, y_pred, sample_weight=None):
        return sum(w * loss(y_true, y_pred, sample_weight) for loss, w in zip(self.losses, self.weights))

    def get_config(self):
        return {"name": self.name, "losses": [keras.losses.serialize(l) for l in self.losses],
                "weights": self.weights}


def build_loss(spec="ce", ignore_index=IGNORE_INDEX, class_weights=None, from_logits=False):
    """A loss from a short spec: ``ce``, ``dice``, ``focal`` or sums like ``ce+dice`` /
    ``ce+0.5*dice``."""
    makers = {"ce": SegmentationCrossentropy, "dice": DiceLoss, "focal": FocalLoss}
    terms, weights = [], []
    for part in str(spec).split("+"):
        weight, _, name = part.strip().rpartition("*")
        if name not in makers:
            raise ValueError(f"loss spec {spec!r}: unknown term {name!r}; use {sorted(makers)}")
        terms.append(makers[name](ignore_index=ignore_index, class_weights=class_weights,
                                  from_logits=from_logits))
        weights.append(float(weight) if weight else 1.0)
    return terms[0] if len(terms) == 1 and weights[0] == 1.0 else CombinedLoss(terms, weights)


# --- data-side weights ----------------------------------------------------------------------
def class_pixel_counts(masks, num_classes, ignore_index=IGNORE_INDEX):
    """(pixels of each class, pixels of the images where the class appears), from an iterable of
    int masks (numpy arrays or an unbatched (image, mask) ``tf.data.Dataset``)."""
    counts = np.zeros(num_classes, np.int64)
    image_pixels = np.zeros(num_classes, np.int64)
    if hasattr(masks, "as_numpy_iterator"):
        masks = (target for _, target in masks.as_numpy_iterator())
    for mask in masks:
        mask = np.asarray(mask)
        if mask.ndim == 3:  # (H, W, 2) with instance ids
            mask = mask[..., 0]
        valid = mask[mask != ignore_index]
        if valid.size and (valid.min() < 0 or valid.max() >= num_classes):
            raise ValueError(f"mask values must be in [0, {num_classes}) or {ignore_index}, "
                             f"got {np.unique(valid)}")
        c = np.bincount(valid.ravel(), minlength=num_classes)
        counts += c
        image_pixels += (c > 0) * valid.size
    return counts, image_pixels


def median_frequency_weights(masks, num_classes, ignore_index=IGNORE_INDEX):
    """Median-frequency balancing (Eigen & Fergus 2015, used by SegNet): ``w_c = median(f) /
    f_c`` with ``f_c`` = pixels of class c / pixels of the images where c is present. Classes
    never seen get weight 0."""
    counts, image_pixels = class_pixel_counts(masks, num_classes, ignore_index)
    freq = np.where(image_pixels > 0, counts / np.maximum(image_pixels, 1), 0.0)
    median = np.median(freq[freq > 0]) if np.any(freq > 0) else 1.0
    return np.where(freq > 0, median / np.maximum(freq, 1e-12), 0.0).astype(np.float32)


def border_weight_map(instances, w0=10.0, sigma=5.0, class_weight_map=None):
    """U-Net's weight map ``w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))^2 / (2 sigma^2))``
    (Ronneberger et al. 2015, eq. 2) from an instance-id image (0 = background).

    ``d1``/``d2`` are the distances to the nearest and second-nearest instance; the border term
    is applied to background pixels (those separating touching objects), and needs at least two
    instances. ``class_weight_map`` is ``w_c`` (an (H, W) array or a scalar; default 1).
    """
    from scipy.ndimage import distance_transform_edt

    instances = np.asarray(instances)
    if instances.ndim != 2:
        raise ValueError(f"border_weight_map: instances must be (H, W), got {instances.shape}")
    wc = np.ones(instances.shape, np.float32) if class_weight_map is None else \
        np.broadcast_to(np.asarray(class_weight_map, np.float32), instances.shape).copy()
    ids = [i for i in np.unique(instances) if i != 0]
    if len(ids) < 2:
        return wc
    dists = np.stack([distance_transform_edt(instances != i) for i in ids])
    dists.sort(axis=0)
    border = w0 * np.exp(-((dists[0] + dists[1]) ** 2) / (2.0 * sigma ** 2))
    return (wc + np.where(instances == 0, border, 0.0)).astype(np.float32)


def border_weight_target_fn(w0=10.0, sigma=5.0, class_weights=None, ignore_index=IGNORE_INDEX):
    """A ``make_pipeline`` ``map_fn``: ``(image, (H, W, 2) [class, instance] target) -> (image,
    (H, W, 2) float32 [class, weight])`` where weight is :func:`border_weight_map` with
    ``w_c = class_weights[class]`` (1 without class weights). The losses read channel 1 as a
    per-pixel weight; metrics read channel 0."""
    import tensorflow as tf

    cw = None if class_weights is None else np.asarray(class_weights, np.float32)

    def weights(target):
        classes = target[..., 0]
        ignored = classes == ignore_index
        wc = None if cw is None else cw[np.where(ignored, 0, classes)]
        return border_weight_map(np.where(ignored, 0, target[..., 1]), w0, sigma, wc)

    def fn(image, target):
        if target.shape.rank != 3 or target.shape[-1] != 2:
            raise ValueError(f"border weights need (H, W, 2) [class, instance] targets, got "
                             f"{target.shape} (load the data with instances=True)")
        w = tf.numpy_function(weights, [target], tf.float32, stateful=False)
        w.set_shape(target.shape[:2])
        return image, tf.stack([tf.cast(target[..., 0], tf.float32), w], axis=-1)

    return fn
