"""Box arithmetic for detection heads, ``keras.ops`` only (runs inside models and losses).

Boxes are ``y_min, x_min, y_max, x_max`` (``yxyx``; in ratios of the image for the detection
contract, ``models/detection/heads.py``). Pairwise IoU is Keras' own
(``keras.utils.bounding_boxes.compute_iou``); the box deltas are R-CNN's parametrization
(Girshick et al. 2014, appendix C; Ren et al. 2015, eq. 2), the ``center_yxhw`` encoding of
``keras.utils.bounding_boxes.encode_box_to_deltas`` (a test compares them), written here for
anchors that differ per image (proposals) and for the clipped decode of Detectron
(``log(1000 / 16)``).

Non-maximum suppression is exact greedy NMS computed as a fixed point: with candidates sorted
by score, box ``i`` is kept when no kept box before it overlaps it by more than the threshold;
iterating ``keep = valid & ~any(keep_j & overlaps_ji, j < i)`` from ``keep = valid`` settles
the first ``t`` decisions after ``t`` rounds, so it converges to greedy NMS (usually in a few
rounds; ``ops.while_loop`` stops when nothing changes). Everything is batched, shapes static.
"""

import math

import keras
from keras import ops

DELTA_CLIP = math.log(1000.0 / 16)


def pairwise_iou(boxes1, boxes2):
    """IoU of every pair: (..., N, 4) x (..., M, 4) -> (..., N, M)."""
    return keras.utils.bounding_boxes.compute_iou(boxes1, boxes2, "yxyx")


def _center_size(boxes):
    height = boxes[..., 2] - boxes[..., 0]
    width = boxes[..., 3] - boxes[..., 1]
    return boxes[..., 0] + 0.5 * height, boxes[..., 1] + 0.5 * width, height, width


def encode_deltas(anchors, boxes, scales=(1.0, 1.0, 1.0, 1.0), eps=1e-8):
    """R-CNN deltas ``(dy, dx, dh, dw)`` of ``boxes`` from ``anchors`` (same shape, or anchors
    broadcastable), each divided by ``scales`` (the target normalization of Fast R-CNN)."""
    ya, xa, ha, wa = _center_size(anchors)
    y, x, h, w = _center_size(boxes)
    ha, wa = ops.maximum(ha, eps), ops.maximum(wa, eps)
    deltas = [(y - ya) / ha, (x - xa) / wa, ops.log(ops.maximum(h, eps) / ha),
              ops.log(ops.maximum(w, eps) / wa)]
    return ops.stack([d / s for d, s in zip(deltas, scales)], axis=-1)


def decode_deltas(anchors, deltas, scales=(1.0, 1.0, 1.0, 1.0)):
    """Inverse of :func:`encode_deltas` (``dh``, ``dw`` clipped at log(1000/16))."""
    ya, xa, ha, wa = _center_size(anchors)
    dy, dx, dh, dw = (deltas[..., i] * s for i, s in enumerate(scales))
    y, x = ya + dy * ha, xa + dx * wa
    h = ha * ops.exp(ops.minimum(dh, DELTA_CLIP))
    w = wa * ops.exp(ops.minimum(dw, DELTA_CLIP))
    return ops.stack([y - 0.5 * h, x - 0.5 * w, y + 0.5 * h, x + 0.5 * w], axis=-1)


def clip_boxes(boxes, high=1.0):
    return ops.clip(boxes, 0.0, high)


def smooth_l1(x, beta=1.0):
    """Fast R-CNN's smooth L1 (eq. 3), elementwise."""
    ax = ops.abs(x)
    return ops.where(ax < beta, 0.5 * ax * ax / beta, ax - 0.5 * beta)


def sort_by_score(boxes, scores, k):
    """The ``k`` highest scores (B, N) -> (B, k) with their boxes (B, k, 4) and indices."""
    scores, index = ops.top_k(scores, k, sorted=True)
    boxes = ops.take_along_axis(boxes, index[..., None], axis=1)
    return boxes, scores, index


def nms_keep(boxes, valid, iou_threshold):
    """Greedy NMS of boxes already sorted by descending score: (B, N, 4), ``valid`` (B, N)
    bool -> (B, N) bool, the boxes greedy NMS keeps."""
    n = boxes.shape[1]
    overlaps = pairwise_iou(boxes, boxes) > iou_threshold  # (B, i, j)
    order = ops.arange(n)
    earlier = order[None, :] < order[:, None]  # (i, j): j comes before i
    suppressors = ops.logical_and(overlaps, earlier[None])

    def step(keep):
        hit = ops.any(ops.logical_and(suppressors, keep[:, None, :]), axis=2)
        return ops.logical_and(valid, ops.logical_not(hit))

    def cond(keep, changed):
        return changed

    def body(keep, changed):
        new = step(keep)
        return new, ops.any(ops.not_equal(new, keep))

    keep, _ = ops.while_loop(cond, body, (valid, ops.convert_to_tensor(True)),
                             maximum_iterations=n)
    return keep


def select_detections(boxes, class_scores, max_detections=100, score_threshold=0.05,
                      iou_threshold=0.5, pre_nms_top_k=None):
    """The detection contract from per-candidate boxes (B, N, 4) or per-class boxes
    (B, N, K, 4) and class scores (B, N, K) (no background column): every (candidate, class)
    pair above ``score_threshold`` is a detection, NMS runs per class (boxes of different
    classes are moved apart before one batched NMS), the ``max_detections`` best are
    returned as ``boxes`` (B, D, 4) clipped to [0, 1], ``classes`` (B, D) int32, ``scores``
    (B, D) and ``count`` (B,) int32; rows past ``count`` are zeros."""
    num_classes = class_scores.shape[-1]
    n = class_scores.shape[1]
    if len(boxes.shape) == 3:
        boxes = ops.repeat(boxes[:, :, None, :], num_classes, axis=2)
    batch = ops.shape(class_scores)[0]
    flat_boxes = ops.reshape(clip_boxes(boxes), (batch, n * num_classes, 4))
    flat_scores = ops.reshape(class_scores, (batch, n * num_classes))
    flat_classes = ops.tile(ops.arange(num_classes, dtype="int32"), (n,))
    k = min(n * num_classes, pre_nms_top_k or max(4 * max_detections, 200))
    top_boxes, top_scores, index = sort_by_score(flat_boxes, flat_scores, k)
    classes = ops.take(flat_classes, index)
    valid = top_scores > score_threshold
    shifted = top_boxes + 2.0 * ops.cast(classes, top_boxes.dtype)[..., None]
    keep = nms_keep(shifted, valid, iou_threshold)
    ranked = ops.where(keep, top_scores, -1.0)
    d = min(max_detections, k)
    out_scores, pick = ops.top_k(ranked, d, sorted=True)
    kept = out_scores > -1.0
    out_boxes = ops.take_along_axis(top_boxes, pick[..., None], axis=1)
    out_classes = ops.take_along_axis(classes, pick, axis=1)
    zeros = ops.zeros_like(out_scores)
    out = {
        "boxes": ops.where(kept[..., None], out_boxes, 0.0),
        "classes": ops.where(kept, out_classes, 0),
        "scores": ops.where(kept, out_scores, zeros),
    }
    if d < max_detections:  # fewer candidates than rows: zero rows to the contract's size
        pad = max_detections - d
        out = {key: ops.pad(value, [(0, 0), (0, pad)] + [(0, 0)] * (len(value.shape) - 2))
               for key, value in out.items()}
    out["count"] = ops.sum(ops.cast(kept, "int32"), axis=1)
    return out
