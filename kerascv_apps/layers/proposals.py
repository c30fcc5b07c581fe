"""Anchors and the region proposal layer of Faster R-CNN (Ren et al. 2015).

Anchors: at every cell of a feature map of stride ``s`` (cell ``j``'s centre at input pixel
``offset + s * j``, the backbone contract's geometry), one box per scale x aspect ratio
(the paper: scales 128, 256, 512 pixels, ratios 1:2, 1:1, 2:1; ``ratio`` = height / width,
area ``scale**2``, as ``generate_anchors.py``). Proposal layer: decode the RPN's deltas on the
anchors, clip to the image, keep the ``pre_nms_top_n`` best by objectness, NMS at IoU 0.7,
then the ``post_nms_top_n`` best (when NMS leaves fewer, the best suppressed boxes fill the
remaining rows so the shape stays static). Proposal coordinates carry no gradient
(approximate joint training, the paper's section 3.2).
"""

import keras
import numpy as np
from keras import ops

from kerascv_apps.layers.box_ops import clip_boxes, decode_deltas, nms_keep, sort_by_score


def anchor_grid(image_size, stride, offset, scales, ratios):
    """(H * W * A, 4) float32 anchors, rel_yxyx, ordered (row, column, anchor)."""
    height, width = image_size
    rows, cols = -(-height // stride), -(-width // stride)
    shapes = [(s * np.sqrt(r), s / np.sqrt(r)) for s in scales for r in ratios]  # (h, w)
    cy = offset + stride * np.arange(rows) + 0.5  # pixel centre -> continuous coordinate
    cx = offset + stride * np.arange(cols) + 0.5
    out = np.zeros((rows, cols, len(shapes), 4), np.float32)
    for a, (h, w) in enumerate(shapes):
        out[:, :, a, 0] = (cy[:, None] - h / 2) / height
        out[:, :, a, 1] = (cx[None, :] - w / 2) / width
        out[:, :, a, 2] = (cy[:, None] + h / 2) / height
        out[:, :, a, 3] = (cx[None, :] + w / 2) / width
    return out.reshape(-1, 4)


@keras.saving.register_keras_serializable(package="kerascv_apps")
class RegionProposals(keras.layers.Layer):
    """Faster R-CNN proposals from RPN outputs.

    Call ``layer([objectness, deltas])``: ``objectness`` (B, H, W, A) logits (one logistic
    score per anchor, the paper's alternative to a 2-way softmax), ``deltas`` (B, H, W, 4 A).
    Returns (B, post_nms_top_n, 4) rel_yxyx proposals, sorted by objectness.
    """

    def __init__(self, image_size, stride, offset, scales=(128, 256, 512), ratios=(0.5, 1, 2),
                 pre_nms_top_n=6000, post_nms_top_n=300, nms_threshold=0.7, **kwargs):
        super().__init__(**kwargs)
        self.image_size = tuple(int(v) for v in image_size)
        self.stride = int(stride)
        self.offset = float(offset)
        self.scales = tuple(float(s) for s in scales)
        self.ratios = tuple(float(r) for r in ratios)
        self.pre_nms_top_n = int(pre_nms_top_n)
        self.post_nms_top_n = int(post_nms_top_n)
        self.nms_threshold = float(nms_threshold)
        self.anchors = anchor_grid(self.image_size, self.stride, self.offset, self.scales,
                                   self.ratios)
        if self.post_nms_top_n > min(self.pre_nms_top_n, len(self.anchors)):
            raise ValueError(f"RegionProposals({self.name!r}): post_nms_top_n "
                             f"{self.post_nms_top_n} exceeds pre_nms_top_n / the "
                             f"{len(self.anchors)} anchors")

    @property
    def num_anchors(self):
        return len(self.scales) * len(self.ratios)

    def build(self, input_shape):
        objectness, deltas = input_shape
        rows, cols = (-(-s // self.stride) for s in self.image_size)
        expected = (rows, cols, self.num_anchors)
        if tuple(objectness[1:]) != expected or tuple(deltas[1:]) != (rows, cols,
                                                                      4 * self.num_anchors):
            raise ValueError(f"RegionProposals({self.name!r}): expected objectness "
                             f"(B, {rows}, {cols}, {self.num_anchors}) and deltas "
                             f"(B, {rows}, {cols}, {4 * self.num_anchors}) for image "
                             f"{self.image_size} at stride {self.stride}, got {objectness} "
                             f"and {deltas}")

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.post_nms_top_n, 4)

    def call(self, inputs):
        objectness, deltas = inputs
        batch = ops.shape(objectness)[0]
        n = len(self.anchors)
        scores = ops.reshape(ops.cast(objectness, "float32"), (batch, n))
        deltas = ops.reshape(ops.cast(deltas, "float32"), (batch, n, 4))
        anchors = ops.convert_to_tensor(self.anchors)
        boxes = clip_boxes(decode_deltas(anchors[None], deltas))
        k = min(self.pre_nms_top_n, n)
        boxes, scores, _ = sort_by_score(boxes, scores, k)
        keep = nms_keep(boxes, ops.ones_like(scores, dtype="bool"), self.nms_threshold)
        # kept boxes first (by score), then the suppressed ones (by score) as filler
        rank = ops.where(keep, 1.0, 0.0) * 2.0 * k - ops.cast(ops.arange(k), "float32")
        _, pick = ops.top_k(rank, self.post_nms_top_n, sorted=True)
        proposals = ops.take_along_axis(boxes, pick[..., None], axis=1)
        return ops.stop_gradient(proposals)

    def get_config(self):
        config = super().get_config()
        config.update(image_size=list(self.image_size), stride=self.stride, offset=self.offset,
                      scales=list(self.scales), ratios=list(self.ratios),
                      pre_nms_top_n=self.pre_nms_top_n, post_nms_top_n=self.post_nms_top_n,
                      nms_threshold=self.nms_threshold)
        return config
