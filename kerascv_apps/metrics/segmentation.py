"""Segmentation metrics: confusion matrix, per-class IoU, mean IoU, pixel accuracy, boundary F1
(numpy, for evaluation and export verification) and a streaming Keras mean IoU for training.

``targets`` are int masks (N, H, W) where ``ignore_index`` pixels are left out; predictions are
class scores (N, H, W, K) or already-argmaxed int masks (N, H, W). When predictions are smaller
than the targets (the valid U-Net), targets are center-cropped to them.
"""

import keras
import numpy as np

IGNORE_INDEX = 255


def to_labels(predictions):
    """Class ids from scores (N, H, W, K) -> (N, H, W); int masks pass through."""
    predictions = np.asarray(predictions)
    if predictions.ndim == 4:
        return np.argmax(predictions, axis=-1).astype(np.int32)
    return predictions.astype(np.int32)


def align(targets, predictions):
    """(targets, predicted labels) with targets center-cropped to the prediction size."""
    targets = np.asarray(targets)
    if targets.ndim == 4:
        targets = targets[..., 0]
    preds = to_labels(predictions)
    if preds.ndim == 2:
        preds, targets = preds[None], targets[None] if targets.ndim == 2 else targets
    if targets.shape[1:3] != preds.shape[1:3]:
        dh, dw = targets.shape[1] - preds.shape[1], targets.shape[2] - preds.shape[2]
        if dh < 0 or dw < 0:
            raise ValueError(f"predictions {preds.shape} are larger than targets {targets.shape}")
        targets = targets[:, dh // 2:dh // 2 + preds.shape[1], dw // 2:dw // 2 + preds.shape[2]]
    return targets.astype(np.int64), preds


def confusion_matrix(targets, predictions, num_classes, ignore_index=IGNORE_INDEX):
    """(K, K) counts, rows = true class, columns = predicted class, ignored pixels left out."""
    targets, preds = align(targets, predictions)
    valid = targets != ignore_index
    t, p = targets[valid], preds[valid].astype(np.int64)
    if t.size and (t.min() < 0 or t.max() >= num_classes):
        raise ValueError(f"target values must be in [0, {num_classes}) or {ignore_index}, "
                         f"got {np.unique(t)}")
    return np.bincount(t * num_classes + p, minlength=num_classes ** 2).reshape(
        num_classes, num_classes)


def iou_from_confusion(cm):
    """Per-class IoU = TP / (TP + FP + FN); NaN for a class absent from targets and predictions."""
    cm = np.asarray(cm, np.float64)
    tp = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / np.where(union > 0, union, 1), np.nan)


def per_class_iou(targets, predictions, num_classes, ignore_index=IGNORE_INDEX):
    return iou_from_confusion(confusion_matrix(targets, predictions, num_classes, ignore_index))


def mean_iou(targets, predictions, num_classes, ignore_index=IGNORE_INDEX):
    """Mean over the classes present in targets or predictions of the per-class IoU."""
    iou = per_class_iou(targets, predictions, num_classes, ignore_index)
    return float(np.nanmean(iou)) if np.any(~np.isnan(iou)) else float("nan")


def pixel_accuracy(targets, predictions, ignore_index=IGNORE_INDEX):
    targets, preds = align(targets, predictions)
    valid = targets != ignore_index
    return float((targets[valid] == preds[valid]).mean()) if valid.any() else float("nan")


def _boundary(mask):
    """Pixels of ``mask`` (bool) with a 4-neighbour outside it (image edges do not count)."""
    padded = np.pad(mask, 1, mode="edge")
    inner = (padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    return mask & ~inner


def boundary_f1(targets, predictions, num_classes, tolerance=2, ignore_index=IGNORE_INDEX,
                per_class=False):
    """Boundary F1 (Csurka et al. 2013 "BF score"): for each image and each class present in
    the target or prediction, precision = share of predicted boundary pixels within
    ``tolerance`` px of a true boundary pixel, recall the converse, F1 their harmonic mean;
    averaged over images then classes. Ignored pixels are left out of both boundaries."""
    from scipy.ndimage import distance_transform_edt

    targets, preds = align(targets, predictions)
    scores = [[] for _ in range(num_classes)]
    for t, p in zip(targets, preds):
        valid = t != ignore_index
        for c in range(num_classes):
            tb = _boundary(t == c) & valid
            pb = _boundary(p == c) & valid
            if not tb.any() and not pb.any():
                continue
            if not tb.any() or not pb.any():
                scores[c].append(0.0)
                continue
            dist_to_t = distance_transform_edt(~tb)
            dist_to_p = distance_transform_edt(~pb)
            precision = float((dist_to_t[pb] <= tolerance).mean())
            recall = float((dist_to_p[tb] <= tolerance).mean())
            f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
            scores[c].append(f1)
    by_class = np.array([np.mean(s) if s else np.nan for s in scores])
    if per_class:
        return by_class
    return float(np.nanmean(by_class)) if np.any(~np.isnan(by_class)) else float("nan")


@keras.saving.register_keras_serializable(package="kerascv_apps")
class SegmentationMeanIoU(keras.metrics.MeanIoU):
    """Streaming mean IoU for ``fit`` from class scores and int masks with ignore label 255
    (a thin ``keras.metrics.MeanIoU`` with ``sparse_y_pred=False`` that also crops targets)."""

    def __init__(self, num_classes, ignore_class=IGNORE_INDEX, name="miou", **kwargs):
        kwargs.pop("sparse_y_pred", None)
        kwargs.pop("sparse_y_true", None)
        super().__init__(num_classes=num_classes, name=name, ignore_class=ignore_class,
                         sparse_y_true=True, sparse_y_pred=False, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        from kerascv_apps.losses.segmentation import center_crop_like

        y_true = keras.ops.convert_to_tensor(y_true)
        if len(y_true.shape) == 4:
            y_true = y_true[..., 0]
        return super().update_state(center_crop_like(y_true, y_pred), y_pred, None)


BOUNDARY_DISTANCE_EDGES = (0, 1, 2, 4, 8, 16, float("inf"))


def iou_by_boundary_distance(targets, predictions, num_classes, edges=BOUNDARY_DISTANCE_EDGES,
                             ignore_index=IGNORE_INDEX):
    """Per-class IoU of the pixels at each distance from the true boundaries.

    A true boundary pixel has a 4-neighbour of another (true) class; every pixel's distance is
    the Euclidean distance (pixels) to the nearest one in its image (``inf`` when the image has
    a single class), binned by ``edges`` (``[e0, e1), [e1, e2), ...``). Errors crowd near the
    boundaries for every model; the curve says how far from them they reach.

    Returns ``{"edges": [...], "pixels": [per bin], "iou": (bins, classes) array}``; IoU is NaN
    for a class absent from a bin in both targets and predictions.
    """
    from scipy.ndimage import distance_transform_edt

    targets, preds = align(targets, predictions)
    bins = len(edges) - 1
    cms = np.zeros((bins, num_classes, num_classes), np.int64)
    for t, p in zip(targets, preds):
        boundary = np.zeros(t.shape, bool)
        vertical = t[1:, :] != t[:-1, :]
        horizontal = t[:, 1:] != t[:, :-1]
        boundary[1:, :] |= vertical
        boundary[:-1, :] |= vertical
        boundary[:, 1:] |= horizontal
        boundary[:, :-1] |= horizontal
        distance = (distance_transform_edt(~boundary) if boundary.any()
                    else np.full(t.shape, np.inf))
        which = np.clip(np.searchsorted(edges, distance, side="right") - 1, 0, bins - 1)
        valid = t != ignore_index
        for b in range(bins):
            sel = valid & (which == b)
            cms[b] += np.bincount(t[sel] * num_classes + p[sel].astype(np.int64),
                                  minlength=num_classes ** 2).reshape(num_classes, num_classes)
    return {"edges": [float(e) for e in edges], "pixels": cms.sum(axis=(1, 2)).tolist(),
            "iou": np.stack([iou_from_confusion(cm) for cm in cms])}
