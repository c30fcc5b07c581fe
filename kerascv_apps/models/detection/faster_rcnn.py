"""Faster R-CNN (Ren, He, Girshick & Sun 2015, "Faster R-CNN: Towards Real-Time Object
Detection with Region Proposal Networks") on the backbone contract, with the Fast R-CNN head
(Girshick 2015) through the registered ``RoIPooling`` layer.

The model maps raw pixels to its raw training outputs (a dict): ``rpn_objectness``
(B, h, w, A) logits, ``rpn_deltas`` (B, h, w, 4 A), ``proposals`` (B, R, 4) rel_yxyx,
``class_logits`` (B, R, K + 1) (column 0 = background) and ``box_deltas`` (B, R, K, 4). The
detection head (:class:`FasterRCNNHead`) trains it by approximate joint training (one loss,
no gradient through the proposal coordinates) and decodes it (per-class boxes, per-class
NMS). The training model (``DetectionTask.training_model``) also outputs the shared feature
map (``roi_features``), from which the head pools the ground-truth boxes as extra RoIs.
"""

import keras
import numpy as np
from keras import layers, ops

from kerascv_apps.layers.box_ops import (decode_deltas, encode_deltas, pairwise_iou,
                                         select_detections, smooth_l1)
from kerascv_apps.layers.proposals import RegionProposals
from kerascv_apps.layers.roi_pooling import RoIPooling
from kerascv_apps.layers.vit import TokenDense
from kerascv_apps.models.backbones import build_backbone
from kerascv_apps.models.common import variant_arguments
from kerascv_apps.models.detection.heads import PAD_CLASS, DetectionHead, register_head
from kerascv_apps.models.segmentation._base import apply_on
from kerascv_apps.registry import register_model

# Fast R-CNN's regression target normalization (py-faster-rcnn BBOX_NORMALIZE_STDS)
BOX_STDS = (0.1, 0.1, 0.2, 0.2)
OUTPUTS = ("rpn_objectness", "rpn_deltas", "proposals", "class_logits", "box_deltas")
FEATURES = "roi_features"  # the training model's extra output: the map RoI pooling reads


def FasterRCNN(input_shape=(608, 608, 3), num_classes=20, backbone="vgg16", backbone_kwargs=None,
               backbone_weights=None, level="P4", rpn_filters=512,
               anchor_scales=(128, 256, 512), anchor_ratios=(0.5, 1.0, 2.0),
               pre_nms_top_n=6000, post_nms_top_n=300, rpn_nms_threshold=0.7, pool_size=7,
               roi_mode="max", fc_units=(4096, 4096), dropout=0.5, name="faster_rcnn"):
    """Faster R-CNN: a region proposal network (3x3 conv, then per anchor one objectness
    logit and four box deltas) and a Fast R-CNN head (RoI pooling of each proposal on the
    same feature map, fully connected layers, softmax over K + 1 classes and per-class box
    deltas), sharing one backbone feature level.

    Paper defaults: VGG-16 at stride 16, 3 x 3 = 9 anchors (128, 256, 512 pixels; 1:2, 1:1,
    2:1), NMS 0.7 on the proposals, 7 x 7 RoI pooling, fc6/fc7 with 4096 units and dropout.

    Deviations (named): the input has a fixed size (anchors are computed once for it; the
    paper rescales the shorter side to 600 pixels: the default is 608 x 608, a multiple of the
    backbone's stride); the VGG-16 feature level is the backbone contract's stride-16 level
    (``block4_pool``; the paper uses conv5_3, also at stride 16, which is not a declared
    tap); one proposal count for training and testing (``post_nms_top_n``; the paper uses
    2000 and 300); objectness is one logistic score per anchor (the paper's stated
    alternative to its 2-way softmax).

    Args:
        input_shape: (height, width, 3), static, divisible by 32.
        num_classes: object classes (background excluded).
        backbone: a name from ``models.backbones.list_backbones()``.
        backbone_kwargs: extra arguments of the backbone builder (narrow widths for small
            experiments).
        backbone_weights: optional weights file of the backbone.
        level: the feature level shared by the RPN and the RoI pooling (``"P4"``: stride 16).
        rpn_filters: channels of the RPN's 3x3 conv (512 for VGG-16).
        anchor_scales, anchor_ratios: anchor sizes in input pixels and height/width ratios.
        pre_nms_top_n, post_nms_top_n, rpn_nms_threshold: the proposal layer.
        pool_size: RoI pooling grid (7 in the paper).
        roi_mode: ``"max"`` (Fast R-CNN RoI pooling) or ``"align"`` (RoIAlign).
        fc_units: the head's fully connected layers.
        dropout: after each fully connected layer.
    """
    if (len(input_shape) != 3 or any(v is None for v in input_shape[:2])
            or int(input_shape[0]) % 32 or int(input_shape[1]) % 32):
        raise ValueError(f"FasterRCNN: input_shape must be a static (height, width, 3) with "
                         f"height and width divisible by 32 (anchors are laid out once for "
                         f"it), got {tuple(input_shape)}")
    height, width = int(input_shape[0]), int(input_shape[1])
    bb = build_backbone(backbone, input_shape=tuple(input_shape), weights=backbone_weights,
                        **(backbone_kwargs or {}))
    if level not in bb.levels:
        raise ValueError(f"FasterRCNN: level {level!r} not in backbone {backbone!r}'s levels "
                         f"{sorted(bb.levels)}")
    lv = bb.levels[level]
    num_anchors = len(anchor_scales) * len(anchor_ratios)
    image = keras.Input(shape=tuple(input_shape), name="image")
    features = apply_on(bb.model(), image)[lv.name]
    x = layers.Conv2D(rpn_filters, 3, padding="same", activation="relu", name="rpn_conv")(features)
    small = keras.initializers.RandomNormal(stddev=0.01)
    objectness = layers.Conv2D(num_anchors, 1, kernel_initializer=small, dtype="float32",
                               name="rpn_objectness")(x)
    rpn_deltas = layers.Conv2D(4 * num_anchors, 1, kernel_initializer=small, dtype="float32",
                               name="rpn_deltas")(x)
    proposals = RegionProposals((height, width), lv.stride, lv.offset, anchor_scales,
                                anchor_ratios, pre_nms_top_n, post_nms_top_n, rpn_nms_threshold,
                                name="proposals")([objectness, rpn_deltas])
    pooled = RoIPooling(pool_size, 1.0 / lv.stride, mode=roi_mode, image_size=(height, width),
                        name="roi_pool")([features, proposals])
    cells = int(np.prod(pooled.shape[2:]))
    y = layers.Reshape((post_nms_top_n, cells), name="roi_flatten")(pooled)
    for i, units in enumerate(fc_units, start=6):
        y = TokenDense(units, activation="relu", name=f"fc{i}")(y)
        if dropout:
            y = layers.Dropout(dropout, name=f"fc{i}_dropout")(y)
    class_logits = TokenDense(num_classes + 1, kernel_initializer=small, dtype="float32",
                              name="class_logits")(y)
    box = TokenDense(4 * num_classes, kernel_initializer=keras.initializers.RandomNormal(
        stddev=0.001), dtype="float32", name="box_deltas_flat")(y)
    box = layers.Reshape((post_nms_top_n, num_classes, 4), name="box_deltas")(box)
    outputs = dict(zip(OUTPUTS, (objectness, rpn_deltas, proposals, class_logits, box)))
    return keras.Model(image, outputs, name=name)


# --------------------------------------------------------------------------- training / decode

def _ranks(priority):
    """Rank of each entry in descending ``priority`` along the last axis (0 = highest)."""
    order = ops.argsort(-priority, axis=-1)
    return ops.argsort(order, axis=-1)


def _priorities(shape, salt, seed):
    """(B, N) pseudo-random priorities in [0, 1) that change with ``salt`` (B, 1), without
    state: a fixed uniform draw shifted by the salt modulo 1, so the top of the order is a
    different window of the draw (the loss runs in a traced step where the head is built
    anew: no seed variable can live there)."""
    u = keras.random.uniform(shape, seed=seed)
    shifted = u + salt
    return shifted - ops.floor(shifted)


def _sample(positive, negative, batch_size, positive_fraction, salt, seed):
    """Random subsets (B, N) bool: at most ``positive_fraction * batch_size`` positives, then
    negatives up to ``batch_size`` per image (the paper's anchor / RoI sampling)."""
    u = _priorities(ops.shape(positive), salt, seed)
    pos_rank = _ranks(ops.where(positive, u, -1.0))
    neg_rank = _ranks(ops.where(negative, u, -1.0))
    pos = ops.logical_and(positive, pos_rank < int(batch_size * positive_fraction))
    num_pos = ops.sum(ops.cast(pos, "int32"), axis=-1, keepdims=True)
    neg = ops.logical_and(negative, neg_rank < batch_size - num_pos)
    return pos, neg


def _match(boxes, gt_boxes, gt_valid):
    """IoU of each box with its best ground-truth box (B, N), that box's index (B, N) and the
    masked IoU table (B, N, M) (-1 for padding rows)."""
    iou = pairwise_iou(boxes, gt_boxes)
    iou = ops.where(gt_valid[:, None, :], iou, -1.0)
    return ops.max(iou, axis=-1), ops.argmax(iou, axis=-1), iou


def _gather_rows(values, index):
    """values (B, M, D), index (B, N) -> (B, N, D)."""
    return ops.take_along_axis(values, index[..., None], axis=1)


class FasterRCNNHead(DetectionHead):
    """Loss (RPN + Fast R-CNN, approximate joint training) and decode of a Faster R-CNN model.

    RPN (the paper, section 3.1.2): anchors with IoU > 0.7 with a ground-truth box, and for
    each box its best anchor(s), are positive; IoU < 0.3 negative; anchors crossing the image
    border are ignored; 256 sampled per image, up to half positive; log loss over the sampled
    anchors plus smooth L1 on the positives' deltas, each normalized by the sample count (the
    paper's lambda = 10 with N_reg ~ 2400 makes the two terms weigh about the same).
    Fast R-CNN head (Girshick 2015, section 2.3): the RoIs are the proposals plus the
    ground-truth boxes (py-faster-rcnn's proposal-target layer: early in training no proposal
    overlaps an object, and the ground-truth RoIs are then the head's only foreground); RoIs
    with IoU >= 0.5 are foreground (class of the matched box), in [0.1, 0.5) background (the
    paper's ``bg_low`` = 0.1; RoIs below it are not sampled; py-faster-rcnn's end-to-end
    setting is 0: on the recipe's run, recipes/detection/small_detectors.py, test mAP@0.5
    0.871 with 0.1 and 0.872 with 0 in its former own loop, 0.887 with 0.1 through
    ``train_model``); ``roi_batch_size`` sampled, at most 25% foreground;
    softmax log loss plus smooth L1 on the true class's deltas (targets normalized by
    ``BOX_STDS``). The
    ground-truth RoIs are pooled from the feature map the training model outputs
    (``roi_features``, see ``training_outputs``) through the model's own RoI pooling and
    fully connected layers; raw outputs without it (the inference model's) train on the
    proposals alone.
    """

    rpn_batch_size = 256
    rpn_positive_fraction = 0.5
    rpn_positive_iou = 0.7
    rpn_negative_iou = 0.3
    fg_iou = 0.5
    bg_low = 0.1
    fg_fraction = 0.25

    def __init__(self, model, roi_batch_size=None, seed=0):
        super().__init__(model)
        proposals = model.get_layer("proposals")
        self.anchors = np.asarray(proposals.anchors, np.float32)
        inside = np.all((self.anchors >= 0.0) & (self.anchors <= 1.0), axis=-1)
        self.inside = inside
        self.num_classes = int(model.get_layer("class_logits").units) - 1
        self.roi_batch_size = roi_batch_size or min(128, proposals.post_nms_top_n)
        self.seed = int(seed)

    def _salt(self, y_true):
        """(B, 1) per image and step: the image's boxes and the optimizer's step count."""
        golden = 0.6180339887
        salt = ops.sum(y_true, axis=(1, 2))[:, None] * golden
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            salt = salt + ops.cast(optimizer.iterations, "float32") * 0.7548776662
        return salt

    def training_outputs(self):
        """The shared feature map (the RoI pooling layer's first input) as ``roi_features``."""
        features = self.model.get_layer("roi_pool").input[0]
        return {FEATURES: features}

    def _head_on(self, features, rois, training=True):
        """``class_logits`` (B, M, K + 1) and ``box_deltas`` (B, M, K, 4) of the model's Fast
        R-CNN head (its own RoI pooling and fully connected layers) on ``rois`` (B, M, 4)."""
        m = self.model
        pooled = m.get_layer("roi_pool")([features, rois])
        cells = int(np.prod(pooled.shape[2:]))
        y = ops.reshape(pooled, (ops.shape(rois)[0], ops.shape(rois)[1], cells))
        names = {layer.name for layer in m.layers}
        i = 6
        while f"fc{i}" in names:
            y = m.get_layer(f"fc{i}")(y)
            if f"fc{i}_dropout" in names:
                y = m.get_layer(f"fc{i}_dropout")(y, training=training)
            i += 1
        logits = m.get_layer("class_logits")(y)
        box = m.get_layer("box_deltas_flat")(y)
        box = ops.reshape(box, (ops.shape(rois)[0], ops.shape(rois)[1], self.num_classes, 4))
        return logits, box

    def roi_batch(self, gt_boxes, gt_valid, y_pred):
        """The head's RoIs and their raw outputs: ``(rois (B, N, 4), valid (B, N) bool,
        class_logits (B, N, K + 1), box_deltas (B, N, K, 4))``, the proposals followed by the
        ground-truth boxes when ``y_pred`` carries the feature map (padding rows invalid)."""
        proposals = ops.stop_gradient(y_pred["proposals"])
        valid = ops.ones_like(proposals[..., 0], dtype="bool")
        if FEATURES not in y_pred:
            return proposals, valid, y_pred["class_logits"], y_pred["box_deltas"]
        whole = ops.convert_to_tensor([0.0, 0.0, 1.0, 1.0])  # padding rows: any real region
        gt_rois = ops.where(gt_valid[..., None], gt_boxes, whole)
        logits, deltas = self._head_on(y_pred[FEATURES], gt_rois, self.training)
        return (ops.concatenate([proposals, gt_rois], axis=1),
                ops.concatenate([valid, gt_valid], axis=1),
                ops.concatenate([y_pred["class_logits"], ops.cast(logits, "float32")], axis=1),
                ops.concatenate([y_pred["box_deltas"], ops.cast(deltas, "float32")], axis=1))

    def loss(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        gt_boxes = y_true[..., :4]
        gt_class = ops.cast(y_true[..., 4], "int32")
        gt_valid = gt_class != PAD_CLASS
        salt = self._salt(y_true)
        return self.rpn_loss(gt_boxes, gt_valid, y_pred, salt) + self.head_loss(
            gt_boxes, gt_class, gt_valid, y_pred, salt + 0.5)

    def rpn_loss(self, gt_boxes, gt_valid, y_pred, salt):
        batch = ops.shape(gt_boxes)[0]
        n = len(self.anchors)
        anchors = ops.broadcast_to(ops.convert_to_tensor(self.anchors)[None], (batch, n, 4))
        best, index, iou = _match(anchors, gt_boxes, gt_valid)
        gt_best = ops.max(iou, axis=1, keepdims=True)  # (B, 1, M): each box's best anchor
        is_best = ops.any(ops.logical_and(ops.logical_and(iou >= gt_best - 1e-6, gt_best > 0),
                                          gt_valid[:, None, :]), axis=-1)
        inside = ops.convert_to_tensor(self.inside)[None]
        positive = ops.logical_and(inside, ops.logical_or(best >= self.rpn_positive_iou,
                                                          is_best))
        negative = ops.logical_and(ops.logical_and(inside, best < self.rpn_negative_iou),
                                   ops.logical_not(positive))
        pos, neg = _sample(positive, negative, self.rpn_batch_size, self.rpn_positive_fraction,
                           salt, self.seed)
        sampled = ops.cast(ops.logical_or(pos, neg), "float32")
        count = ops.maximum(ops.sum(sampled), 1.0)
        logits = ops.reshape(y_pred["rpn_objectness"], (batch, n))
        labels = ops.cast(pos, "float32")
        cls = ops.sum(sampled * ops.binary_crossentropy(labels, logits, from_logits=True))
        deltas = ops.reshape(y_pred["rpn_deltas"], (batch, n, 4))
        targets = encode_deltas(anchors, _gather_rows(gt_boxes, index))
        reg = ops.sum(ops.cast(pos, "float32")[..., None] * smooth_l1(deltas - targets))
        return (cls + reg) / count

    def sample_rois(self, gt_boxes, gt_class, gt_valid, y_pred, salt):
        """The Fast R-CNN minibatch: ``(rois, class_logits, box_deltas, labels (B, N) with 0 =
        background, pos (B, N), neg (B, N), index (B, N) of the matched box)``."""
        rois, valid, logits, deltas = self.roi_batch(gt_boxes, gt_valid, y_pred)
        best, index, _ = _match(rois, gt_boxes, gt_valid)
        fg = ops.logical_and(valid, best >= self.fg_iou)
        bg = ops.logical_and(valid, ops.logical_and(best < self.fg_iou, best >= self.bg_low))
        pos, neg = _sample(fg, bg, self.roi_batch_size, self.fg_fraction, salt, self.seed + 1)
        matched_class = ops.take_along_axis(gt_class, index, axis=1)
        labels = ops.where(pos, matched_class + 1, 0)
        return rois, logits, deltas, labels, pos, neg, index

    def head_loss(self, gt_boxes, gt_class, gt_valid, y_pred, salt):
        proposals, logits, box_deltas, labels, pos, neg, index = self.sample_rois(
            gt_boxes, gt_class, gt_valid, y_pred, salt)
        sampled = ops.cast(ops.logical_or(pos, neg), "float32")
        count = ops.maximum(ops.sum(sampled), 1.0)
        cls = ops.sum(sampled * ops.sparse_categorical_crossentropy(labels, logits,
                                                                    from_logits=True))
        onehot = ops.one_hot(ops.maximum(labels - 1, 0), self.num_classes)  # (B, R, K)
        deltas = ops.sum(box_deltas * onehot[..., None], axis=2)  # (B, R, 4)
        targets = encode_deltas(proposals, _gather_rows(gt_boxes, index), BOX_STDS)
        reg = ops.sum(ops.cast(pos, "float32")[..., None] * smooth_l1(deltas - targets))
        return (cls + reg) / count

    def decode(self, y_pred, max_detections=100, score_threshold=0.05, iou_threshold=0.5):
        probs = ops.softmax(y_pred["class_logits"], axis=-1)[..., 1:]
        proposals = y_pred["proposals"]
        boxes = decode_deltas(proposals[:, :, None, :], y_pred["box_deltas"], BOX_STDS)
        return select_detections(boxes, probs, max_detections, score_threshold, iou_threshold)


register_head("faster_rcnn")(FasterRCNNHead)


# --------------------------------------------------------------------------- variants

def _create_faster_rcnn(variant, arch_args, /, **kwargs):
    return FasterRCNN(**variant_arguments(variant, arch_args, kwargs))


SMALL = dict(input_shape=(128, 128, 3), num_classes=3, backbone="resnet18",
             backbone_kwargs=dict(stackwise_num_filters=(16, 32, 64, 128), stem_filters=16),
             level="P4", rpn_filters=64, anchor_scales=(16, 32, 64), pre_nms_top_n=300,
             post_nms_top_n=64, pool_size=4, fc_units=(128, 128), dropout=0.0)


@register_model(task="detection", family="faster_rcnn")
def faster_rcnn(**kwargs):
    """Faster R-CNN with VGG-16 (the paper's configuration at a fixed 608 x 608 input; see
    ``FasterRCNN`` for the named deviations)."""
    return _create_faster_rcnn(faster_rcnn, {}, **kwargs)


@register_model(task="detection", family="faster_rcnn")
def faster_rcnn_small(**kwargs):
    """Faster R-CNN small enough to train on a CPU: 128 x 128 input, a narrow ResNet-18
    (16-128 filters) at stride 16 (8 x 8 cells), anchors of 16, 32, 64 pixels x 3 ratios,
    300 boxes before NMS and 64 proposals after, 4 x 4 RoI pooling, two 128-unit fully
    connected layers without dropout. Same losses and sampling as the paper."""
    return _create_faster_rcnn(faster_rcnn_small, SMALL, **kwargs)
