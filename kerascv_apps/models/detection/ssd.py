"""One-stage anchor detector for phones: SSD's dense per-anchor class and box heads on a
feature pyramid, trained with RetinaNet's focal loss.

Papers: Liu et al., "SSD: Single Shot MultiBox Detector" (ECCV 2016): anchors ("default
boxes") of several aspect ratios tiled on several feature maps, each predicting class scores
and centre/size offsets encoded with the variances (0.1, 0.1, 0.2, 0.2), smooth-L1 box loss,
matching every ground-truth box to its best anchor and to every anchor above IoU 0.5.
Lin et al., "Focal Loss for Dense Object Detection" (RetinaNet, ICCV 2017): FPN levels
P3-P7 (P6/P7 by stride-2 convolutions), 9 anchors per position (scales 2^0, 2^1/3, 2^2/3 times
``4 * stride``, ratios 1:2, 1:1, 2:1), shared class/box subnets of four 3x3 convolutions,
sigmoid classification with the focal loss (alpha 0.25, gamma 2, prior 0.01 on the class
bias), anchors with IoU >= 0.5 positive, < 0.4 negative, in between ignored, losses summed
and divided by the number of positive anchors.

What is named here as an option (defaults follow RetinaNet unless a registered variant says
otherwise): ``separable`` (SSDLite-style depthwise-separable head/FPN convolutions, Sandler et
al. 2018), ``box_loss="giou"`` (generalized IoU of the decoded boxes, Rezatofighi et al.
2019, instead of smooth-L1 on the deltas), ``force_match`` (SSD's best-anchor matching, on by
default: small objects that reach IoU 0.5 with no anchor still get one).

Anchors sit on the feature pixels' centres as the backbone contract records them
(``FeatureLevel.offset``), not on ``(j + 0.5) * stride``.

The model's raw outputs (what ``head.loss`` and ``head.decode`` take) are a dict:
``boxes`` (B, A, 4) encoded centre/size deltas ``(ty, tx, th, tw)`` per anchor (the order and
scales TFLite's DETECTION_POSTPROCESS op decodes) and ``classes`` (B, A, C) logits.
"""

import dataclasses
import math

import keras
import numpy as np
from keras import layers, ops

from kerascv_apps.layers.anchors import AnchorPredictions
from kerascv_apps.layers.box_ops import select_detections, smooth_l1
from kerascv_apps.models.backbones import build_backbone
from kerascv_apps.models.common import variant_arguments
from kerascv_apps.models.detection.heads import DetectionHead, register_head
from kerascv_apps.models.segmentation._base import apply_on
from kerascv_apps.registry import register_model

FAMILY = "ssd"
BOX_VARIANCE = (0.1, 0.1, 0.2, 0.2)  # SSD: (y, x, h, w) -> TFLite scales 10, 10, 5, 5
BOX_LOSSES = ("smooth_l1", "giou")
PRE_NMS_TOP_K = 1000  # (anchor, class) candidates NMS sees in ``SSDHead.decode``


# --------------------------------------------------------------------------- anchors

def anchor_shapes(anchor_config):
    """(height, width) in pixels of the anchors at one position per unit stride, in the order
    the head's channels use: for each scale, for each aspect ratio (``h / w``)."""
    shapes = []
    for scale in anchor_config["scales"]:
        for ratio in anchor_config["aspect_ratios"]:
            base = anchor_config["anchor_size"] * scale
            shapes.append((base * math.sqrt(ratio), base / math.sqrt(ratio)))
    return shapes


def generate_anchors(anchor_config):
    """All anchors as float32 ``(A, 4)`` rel_yxyx (not clipped), in the order of the model's
    outputs: level by level (shallow first), row by row, column by column, then the
    ``len(scales) * len(aspect_ratios)`` shapes of :func:`anchor_shapes`."""
    height, width = anchor_config["image_size"]
    shapes = np.asarray(anchor_shapes(anchor_config), np.float64)  # per unit stride
    out = []
    for level in anchor_config["levels"]:
        stride, offset = level["stride"], level["offset"]
        rows, cols = level["grid"]
        # input pixel i's centre is at continuous coordinate i + 0.5
        cy = (offset + stride * np.arange(rows) + 0.5) / height
        cx = (offset + stride * np.arange(cols) + 0.5) / width
        cy, cx = np.meshgrid(cy, cx, indexing="ij")
        h = shapes[:, 0] * stride / height
        w = shapes[:, 1] * stride / width
        cy = cy[:, :, None] + 0 * h
        cx = cx[:, :, None] + 0 * w
        boxes = np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=-1)
        out.append(boxes.reshape(-1, 4))
    return np.concatenate(out, 0).astype(np.float32)


def anchors_center_yxhw(anchors):
    """rel_yxyx anchors as ``(y_centre, x_centre, height, width)`` (TFLite's anchor input)."""
    anchors = np.asarray(anchors, np.float32)
    h = anchors[:, 2] - anchors[:, 0]
    w = anchors[:, 3] - anchors[:, 1]
    return np.stack([anchors[:, 0] + h / 2, anchors[:, 1] + w / 2, h, w], -1).astype(np.float32)


# --------------------------------------------------------------------------- model

def _conv(filters, kernel, separable, name, strides=1, activation=None, bias_init="zeros"):
    if separable and kernel > 1:
        return layers.SeparableConv2D(filters, kernel, strides=strides, padding="same",
                                      activation=activation, bias_initializer=bias_init,
                                      name=name)
    return layers.Conv2D(filters, kernel, strides=strides, padding="same",
                         activation=activation, bias_initializer=bias_init, name=name)


def SSDDetector(input_shape=(320, 320, 3), num_classes=3, backbone="mobilenet_v2",
                backbone_weights=None, backbone_kwargs=None, min_level=3, max_level=7,
                fpn_filters=128, head_filters=128, head_depth=4, separable=False,
                anchor_size=4.0, anchor_scales=(1.0, 2 ** (1 / 3), 2 ** (2 / 3)),
                aspect_ratios=(0.5, 1.0, 2.0), prior_probability=0.01, box_loss="smooth_l1",
                focal_alpha=0.25, focal_gamma=2.0, smooth_l1_beta=0.11,
                positive_iou=0.5, negative_iou=0.4, force_match=True, bn_momentum=None,
                name="ssd"):
    """SSD/RetinaNet-family detector on a registered backbone (see the module docstring); a
    functional model whose ``box_anchors`` layer carries the anchor description.

    Args:
        input_shape: static (height, width, 3), both divisible by ``2 ** max_level`` (the
            anchors are fixed for the input size). Raw [0, 255] RGB in.
        num_classes: object classes (no background class: sigmoid scores).
        backbone: a registered backbone (``mobilenet_v2``, ``efficientnet_b0``, ``resnet50``,
            ``vgg16``, ...); ``backbone_weights``/``backbone_kwargs`` go to its builder.
        min_level, max_level: pyramid levels ``P{min}..P{max}``; levels deeper than the
            backbone's deepest come from stride-2 3x3 convolutions (RetinaNet's P6/P7).
        fpn_filters, head_filters, head_depth: FPN width, subnet width and depth (RetinaNet:
            256, 256, 4).
        separable: depthwise-separable 3x3 convolutions in the FPN and the subnets.
        anchor_size, anchor_scales, aspect_ratios: anchors of ``anchor_size * stride * scale``
            pixels with ``h / w`` = ratio at every position of every level.
        prior_probability: initial foreground probability of the class subnet's bias.
        box_loss: ``smooth_l1`` (on encoded deltas, beta ``smooth_l1_beta``) or ``giou``.
        focal_alpha, focal_gamma, positive_iou, negative_iou, force_match: target assignment
            and loss (see :class:`SSDHead`).
        bn_momentum: momentum of the backbone's batch normalizations (None: the backbone's
            own, 0.999 for MobileNetV2, whose moving statistics are still far from the batch
            statistics after the few hundred steps of a CPU training from scratch: then
            inference sees other activations than training did).
    """
    height, width, channels = input_shape
    if height is None or width is None:
        raise ValueError(f"{name}: input_shape must be static (anchors are fixed), got "
                         f"{input_shape!r}")
    if channels != 3:
        raise ValueError(f"{name}: input_shape must have 3 channels (RGB), got {input_shape!r}")
    top = 2 ** max_level
    if height % top or width % top:
        raise ValueError(f"{name}: input height and width must be divisible by 2**max_level = "
                         f"{top}, got {input_shape!r}")
    if not 1 <= min_level <= max_level:
        raise ValueError(f"{name}: need 1 <= min_level <= max_level, got {min_level}, "
                         f"{max_level}")
    if num_classes < 1:
        raise ValueError(f"{name}: num_classes must be >= 1, got {num_classes!r}")
    if box_loss not in BOX_LOSSES:
        raise ValueError(f"{name}: box_loss must be one of {BOX_LOSSES}, got {box_loss!r}")
    if not 0 < negative_iou <= positive_iou <= 1:
        raise ValueError(f"{name}: need 0 < negative_iou <= positive_iou <= 1, got "
                         f"{negative_iou}, {positive_iou}")

    bb = build_backbone(backbone, input_shape=tuple(input_shape), weights=backbone_weights,
                        **(backbone_kwargs or {}))
    deepest = max(int(k[1:]) for k in bb.levels)
    used = [f"P{k}" for k in range(min_level, min(max_level, deepest) + 1)]
    missing = [k for k in used if k not in bb.levels]
    if missing or not used:
        raise ValueError(f"{name}: backbone {backbone!r} has levels {sorted(bb.levels)}; "
                         f"min_level={min_level} needs {missing or used}")
    if bn_momentum is not None:
        if not 0 <= float(bn_momentum) < 1:
            raise ValueError(f"{name}: bn_momentum must be in [0, 1), got {bn_momentum!r}")
        for layer in bb.source.layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.momentum = float(bn_momentum)  # a constructor argument: in its config
    image = keras.Input(shape=tuple(input_shape), name="image")
    features = apply_on(bb.model(), image)

    # FPN (Lin et al. 2017): 1x1 laterals, top-down nearest x2 + add, 3x3 smoothing
    laterals = {k: layers.Conv2D(fpn_filters, 1, name=f"fpn_lateral_{k}")(features[k])
                for k in used}
    pyramid = {}
    geometry = {}
    top_down = None
    for k in reversed(used):
        x = laterals[k]
        if top_down is not None:
            up = layers.UpSampling2D(2, interpolation="nearest", name=f"fpn_up_{k}")(top_down)
            x = layers.Add(name=f"fpn_add_{k}")([x, up])
        top_down = x
        pyramid[k] = _conv(fpn_filters, 3, separable, f"fpn_out_{k}")(x)
        level = bb.levels[k]
        geometry[k] = (level.stride, level.offset)
    x = features[used[-1]]
    stride, offset = geometry[used[-1]]
    for k in range(int(used[-1][1:]) + 1, max_level + 1):
        if k > int(used[-1][1:]) + 1:
            x = layers.ReLU(name=f"fpn_relu_P{k}")(x)
        x = _conv(fpn_filters, 3, separable, f"fpn_extra_P{k}", strides=2)(x)
        pyramid[f"P{k}"] = x
        # a 3x3 stride-2 'same' convolution on an even size: pixel j reads 2j .. 2j + 2
        stride, offset = stride * 2, offset + stride
        geometry[f"P{k}"] = (stride, offset)

    shapes = anchor_shapes(dict(anchor_size=anchor_size, scales=anchor_scales,
                                aspect_ratios=aspect_ratios))
    per_position = len(shapes)
    class_convs = [_conv(head_filters, 3, separable, f"class_subnet_{i}", activation="relu")
                   for i in range(head_depth)]
    box_convs = [_conv(head_filters, 3, separable, f"box_subnet_{i}", activation="relu")
                 for i in range(head_depth)]
    bias = -math.log((1 - prior_probability) / prior_probability)
    class_out = layers.Conv2D(per_position * num_classes, 3, padding="same",
                              bias_initializer=keras.initializers.Constant(bias),
                              kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
                              name="class_predictions")
    box_out = layers.Conv2D(per_position * 4, 3, padding="same",
                            kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
                            name="box_predictions")
    class_maps, box_maps, levels = [], [], []  # shallow level first
    for k in sorted(pyramid, key=lambda n: int(n[1:])):
        c = b = pyramid[k]
        for conv in class_convs:
            c = conv(c)
        for conv in box_convs:
            b = conv(b)
        c, b = class_out(c), box_out(b)
        class_maps.append(c)
        box_maps.append(b)
        stride, offset = geometry[k]
        levels.append(dict(name=k, stride=int(stride), offset=float(offset),
                           grid=[int(c.shape[1]), int(c.shape[2])]))
    anchor_config = dict(
        image_size=[int(height), int(width)], num_classes=int(num_classes), levels=levels,
        anchor_size=float(anchor_size), scales=[float(s) for s in anchor_scales],
        aspect_ratios=[float(r) for r in aspect_ratios], variance=list(BOX_VARIANCE),
        box_loss=box_loss, focal_alpha=float(focal_alpha), focal_gamma=float(focal_gamma),
        smooth_l1_beta=float(smooth_l1_beta), positive_iou=float(positive_iou),
        negative_iou=float(negative_iou), force_match=bool(force_match))
    classes = AnchorPredictions(num_classes, name="class_anchors")(class_maps)
    boxes = AnchorPredictions(4, anchor_config=anchor_config, name="box_anchors")(box_maps)
    outputs = {"boxes": layers.Activation("linear", dtype="float32", name="boxes")(boxes),
               "classes": layers.Activation("linear", dtype="float32", name="classes")(classes)}
    return keras.Model(image, outputs, name=name)



# --------------------------------------------------------------------------- head

def _box_area(b):
    return ops.maximum(b[..., 2] - b[..., 0], 0.0) * ops.maximum(b[..., 3] - b[..., 1], 0.0)


def giou_loss(pred, true):
    """``1 - GIoU`` of matching yxyx boxes (Rezatofighi et al. 2019), elementwise."""
    y1 = ops.maximum(pred[..., 0], true[..., 0])
    x1 = ops.maximum(pred[..., 1], true[..., 1])
    y2 = ops.minimum(pred[..., 2], true[..., 2])
    x2 = ops.minimum(pred[..., 3], true[..., 3])
    inter = ops.maximum(y2 - y1, 0.0) * ops.maximum(x2 - x1, 0.0)
    union = _box_area(pred) + _box_area(true) - inter
    iou = inter / ops.maximum(union, 1e-9)
    ey1 = ops.minimum(pred[..., 0], true[..., 0])
    ex1 = ops.minimum(pred[..., 1], true[..., 1])
    ey2 = ops.maximum(pred[..., 2], true[..., 2])
    ex2 = ops.maximum(pred[..., 3], true[..., 3])
    enclosing = ops.maximum((ey2 - ey1) * (ex2 - ex1), 1e-9)
    return 1.0 - (iou - (enclosing - union) / enclosing)


def pairwise_iou(anchors, boxes):
    """IoU of ``anchors`` (A, 4) with each image's ``boxes`` (B, M, 4), yxyx: (B, A, M)."""
    a = ops.expand_dims(ops.expand_dims(anchors, 0), 2)  # (1, A, 1, 4)
    b = ops.expand_dims(boxes, 1)  # (B, 1, M, 4)
    y1 = ops.maximum(a[..., 0], b[..., 0])
    x1 = ops.maximum(a[..., 1], b[..., 1])
    y2 = ops.minimum(a[..., 2], b[..., 2])
    x2 = ops.minimum(a[..., 3], b[..., 3])
    inter = ops.maximum(y2 - y1, 0.0) * ops.maximum(x2 - x1, 0.0)
    union = _box_area(a) + _box_area(b) - inter
    return inter / ops.maximum(union, 1e-9)


@dataclasses.dataclass
class Targets:
    """Per-anchor targets of a batch: ``labels`` (B, A, C) one-hot (zeros for background),
    ``boxes`` (B, A, 4) matched ground-truth rel_yxyx, ``positive`` and ``ignore`` (B, A)
    float masks."""

    labels: object
    boxes: object
    positive: object
    ignore: object


def assign_targets(anchors, y_true, num_classes, positive_iou=0.5, negative_iou=0.4,
                   force_match=True):
    """RetinaNet's IoU matching (plus SSD's best-anchor match when ``force_match``) of the
    padded targets ``y_true`` (B, M, 5: rel_yxyx + class id, class ``PAD_CLASS`` = padding)
    to ``anchors`` (A, 4) rel_yxyx. ``keras.ops`` only."""
    y_true = ops.cast(y_true, "float32")
    anchors = ops.cast(anchors, "float32")
    gt_boxes = y_true[..., :4]
    gt_class = y_true[..., 4]
    valid = ops.cast(gt_class >= 0, "float32")  # (B, M)
    iou = pairwise_iou(anchors, gt_boxes) * ops.expand_dims(valid, 1)  # padding: IoU 0
    iou = iou - (1.0 - ops.expand_dims(valid, 1))  # padding: -1, never the best
    best_iou = ops.max(iou, axis=2)  # (B, A)
    best_gt = ops.argmax(iou, axis=2)  # (B, A)
    positive = ops.cast(best_iou >= positive_iou, "float32")
    negative = ops.cast(best_iou < negative_iou, "float32")
    if force_match:
        # every real box claims its best anchor (SSD); ties: the first anchor
        best_anchor = ops.argmax(iou, axis=1)  # (B, M)
        claimed = ops.one_hot(best_anchor, ops.shape(anchors)[0], axis=1)  # (B, A, M)
        claimed = claimed * ops.expand_dims(valid, 1)
        forced = ops.max(claimed, axis=2)  # (B, A)
        forced_gt = ops.argmax(claimed, axis=2)
        best_gt = ops.where(forced > 0, forced_gt, best_gt)
        positive = ops.maximum(positive, forced)
        negative = negative * (1.0 - forced)
    ignore = (1.0 - positive) * (1.0 - negative)
    matched = ops.take_along_axis(y_true, ops.expand_dims(best_gt, -1), axis=1)  # (B, A, 5)
    cls = ops.cast(matched[..., 4], "int32")
    labels = ops.one_hot(ops.maximum(cls, 0), num_classes) * ops.expand_dims(positive, -1)
    return Targets(labels=labels, boxes=matched[..., :4], positive=positive, ignore=ignore)


def focal_loss(labels, logits, alpha=0.25, gamma=2.0):
    """Elementwise sigmoid focal loss (Lin et al. 2017, eq. 5) from logits."""
    p = ops.sigmoid(logits)
    ce = ops.maximum(logits, 0.0) - logits * labels + ops.log1p(ops.exp(-ops.abs(logits)))
    p_t = labels * p + (1.0 - labels) * (1.0 - p)
    alpha_t = labels * alpha + (1.0 - labels) * (1.0 - alpha)
    return alpha_t * ops.power(1.0 - p_t, gamma) * ce


def anchor_config_of(model):
    """The anchor description an :class:`AnchorPredictions` layer of ``model`` carries (the
    same for the detector, its training graph and a reloaded file)."""
    configs = [layer.anchor_config for layer in model.layers
               if isinstance(layer, AnchorPredictions) and layer.anchor_config]
    if len(configs) != 1:
        raise ValueError(f"model {model.name!r}: expected one AnchorPredictions layer with an "
                         f"anchor_config (an anchor detector), found {len(configs)}")
    return configs[0]


class SSDHead(DetectionHead):
    """Loss and decoding of :func:`SSDDetector` models (anchors from the model's config)."""

    def __init__(self, model):
        super().__init__(model)
        config = anchor_config_of(model)
        self.config = config
        self.num_classes = int(config["num_classes"])
        self.variance = list(config["variance"])
        self.anchors = generate_anchors(config)

    def targets(self, y_true):
        c = self.config
        return assign_targets(self.anchors, y_true, self.num_classes, c["positive_iou"],
                              c["negative_iou"], c["force_match"])

    def encode(self, boxes):
        """rel_yxyx boxes (B, A, 4) as deltas to the anchors (the model's ``boxes`` output)."""
        return keras.utils.bounding_boxes.encode_box_to_deltas(
            self.anchors, boxes, anchor_format="yxyx", box_format="yxyx",
            encoding_format="center_yxhw", variance=self.variance)

    def decode_boxes(self, deltas):
        """The model's ``boxes`` output (B, A, 4) as rel_yxyx boxes (not clipped)."""
        return keras.utils.bounding_boxes.decode_deltas_to_boxes(
            self.anchors, deltas, anchor_format="yxyx", box_format="yxyx",
            encoded_format="center_yxhw", variance=self.variance)

    def loss(self, y_true, y_pred):
        c = self.config
        t = self.targets(y_true)
        logits = ops.cast(y_pred["classes"], "float32")
        deltas = ops.cast(y_pred["boxes"], "float32")
        num_pos = ops.maximum(ops.sum(t.positive), 1.0)
        cls = focal_loss(t.labels, logits, c["focal_alpha"], c["focal_gamma"])
        cls = ops.sum(ops.sum(cls, axis=-1) * (1.0 - t.ignore)) / num_pos
        if c["box_loss"] == "giou":
            per_anchor = giou_loss(self.decode_boxes(deltas), t.boxes)
        else:
            # padding/background anchors may match degenerate boxes: keep their targets finite
            safe = ops.where(ops.expand_dims(t.positive, -1) > 0, t.boxes,
                             ops.broadcast_to(ops.convert_to_tensor(self.anchors),
                                              ops.shape(t.boxes)))
            target = self.encode(safe)
            per_anchor = ops.sum(smooth_l1(deltas - target, c["smooth_l1_beta"]), axis=-1)
        box = ops.sum(per_anchor * t.positive) / num_pos
        return cls + box

    def decode(self, y_pred, max_detections=100, score_threshold=0.05, iou_threshold=0.5,
               pre_nms_top_k=PRE_NMS_TOP_K):
        """Sigmoid scores, box decoding, then the detection heads' shared per-class NMS
        (:func:`kerascv_apps.layers.box_ops.select_detections`, exact greedy NMS in
        keras.ops) over the ``pre_nms_top_k`` best (anchor, class) pairs above
        ``score_threshold`` (RetinaNet keeps the 1000 best per level; one pool here)."""
        scores = ops.sigmoid(ops.cast(y_pred["classes"], "float32"))
        boxes = self.decode_boxes(ops.cast(y_pred["boxes"], "float32"))
        return select_detections(boxes, scores, max_detections, score_threshold, iou_threshold,
                                 pre_nms_top_k=pre_nms_top_k)


@register_head(FAMILY)
def _ssd_head(model):
    return SSDHead(model)


# --------------------------------------------------------------------------- variants

def _create(variant, arch_args, /, **kwargs):
    return SSDDetector(**variant_arguments(variant, arch_args, kwargs))


@register_model(task="detection", family=FAMILY)
def retinanet_resnet50(**kwargs):
    """RetinaNet (Lin et al. 2017) as published on ResNet-50: FPN P3-P7 of 256 channels,
    four-convolution subnets of 256, 9 anchors (3 scales x 3 ratios, 4 x stride), focal loss
    (0.25, 2), smooth-L1 (beta 0.11). Input 640x640 (the paper resizes the shorter side to
    800; a fixed square size keeps the anchors fixed for phones)."""
    return _create(retinanet_resnet50, dict(input_shape=(640, 640, 3), backbone="resnet50",
                                            fpn_filters=256, head_filters=256), **kwargs)


@register_model(task="detection", family=FAMILY)
def ssd_mobilenet_v2_fpnlite(**kwargs):
    """The phone detector: MobileNetV2 + FPN-lite (SSDLite-style separable convolutions,
    128 channels, P3-P7, as TF's ``ssd_mobilenet_v2_fpnlite_320x320``) with RetinaNet's
    anchors and focal loss, 320x320."""
    return _create(ssd_mobilenet_v2_fpnlite,
                   dict(input_shape=(320, 320, 3), backbone="mobilenet_v2", separable=True,
                        fpn_filters=128, head_filters=128, head_depth=4), **kwargs)


@register_model(task="detection", family=FAMILY)
def ssd_mobilenet_v2_tiny(**kwargs):
    """A phone detector small enough to train on a CPU: MobileNetV2 (alpha 0.35), 160x160,
    levels P3-P5, separable FPN/subnets of 64 channels and depth 2, 6 anchors per position
    (scales 1, sqrt 2 of 3 x stride; ratios 1:2, 1:1, 2:1). Deviations from RetinaNet (P3-P7,
    256 channels, depth 4, 9 anchors of 4 x stride) are for CPU training on small images."""
    return _create(ssd_mobilenet_v2_tiny,
                   dict(input_shape=(160, 160, 3), backbone="mobilenet_v2",
                        backbone_kwargs=dict(alpha=0.35), separable=True, min_level=3,
                        max_level=5, fpn_filters=64, head_filters=64, head_depth=2,
                        anchor_size=3.0, anchor_scales=(1.0, 2 ** 0.5)), **kwargs)
