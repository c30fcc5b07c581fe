"""YOLO v1 (Redmon, Divvala, Girshick & Farhadi 2016, "You Only Look Once: Unified, Real-Time
Object Detection"): one network, one pass, an S x S grid whose cells each predict B boxes
(x, y, sqrt(w), sqrt(h), confidence) and C class probabilities.

Output: (B, S, S, 5 B + C), per cell ``[x, y, sqrt_w, sqrt_h, confidence] * B`` then the C
class probabilities; x, y are the box centre's offset inside the cell (0..1), sqrt_w and
sqrt_h the square roots of width and height in ratios of the image (the paper predicts the
square roots, section 2.2). All linear (the paper's last layer), so decoding squares the
sizes and clips scores to [0, 1].
"""

import keras
from keras import layers, ops

from kerascv_apps.layers.box_ops import select_detections
from kerascv_apps.models.common import image_input, variant_arguments
from kerascv_apps.models.detection.heads import PAD_CLASS, DetectionHead, register_head
from kerascv_apps.registry import register_model

BOXES_PER_CELL = 2  # B


# The paper's Figure 3: (filters, kernel, stride) per conv; "M" = 2x2/2 max pooling. Stage 4
# repeats its (1x1 256, 3x3 512) pair 4 times, stage 5 its (1x1 512, 3x3 1024) pair twice.
def _stages(repeats=(4, 2), final_stride=2):
    r4, r5 = repeats
    return [
        [(64, 7, 2), "M"],
        [(192, 3, 1), "M"],
        [(128, 1, 1), (256, 3, 1), (256, 1, 1), (512, 3, 1), "M"],
        [(256, 1, 1), (512, 3, 1)] * r4 + [(512, 1, 1), (1024, 3, 1), "M"],
        [(512, 1, 1), (1024, 3, 1)] * r5 + [(1024, 3, 1), (1024, 3, final_stride)],
        [(1024, 3, 1), (1024, 3, 1)],
    ]


def YOLOv1(input_shape=(448, 448, 3), num_classes=20, width=1.0,
           repeats=(4, 2), final_stride=2, fc_units=4096, dropout=0.5, batch_norm=False,
           bn_momentum=0.99, kernel_initializer="glorot_uniform", preprocessing="unit",
           name="yolo_v1"):
    """YOLO v1: 24 convolutional layers (1x1 reductions before 3x3 convs, GoogLeNet-inspired),
    2 fully connected layers, leaky ReLU (0.1) everywhere but the last layer, dropout 0.5
    after the first fully connected layer; at 448 x 448 the grid is S = 7 (stride 64) and the
    output 7 x 7 x 30 for VOC's 20 classes with B = 2.

    Args:
        input_shape: (height, width, 3), divisible by the network's stride (64, or 32 with
            ``final_stride=1``); the grid is input / stride.
        num_classes: C (B = 2 boxes per cell, as in the paper).
        width: multiplier of every conv's filters (1 = the paper).
        repeats: the (1x1, 3x3) pairs of stages 4 and 5 ((4, 2) = the paper's 24 convs).
        final_stride: stride of the last conv of stage 5 (2 in the paper).
        fc_units: the first fully connected layer (4096).
        dropout: after the first fully connected layer (0.5).
        batch_norm: batch normalization after every conv (not in the paper; YOLO v2 adds it).
        bn_momentum: the moving statistics' momentum (Keras' 0.99 by default). With few
            training steps the moving averages lag far behind the batch statistics and the
            inference-mode network differs from the trained one; 0.9 catches up in ~50 steps.
        kernel_initializer: of every conv and fully connected layer. The paper's convs start
            from ImageNet-pretrained weights; from scratch, Keras' default Glorot uniform
            halves the activation variance per leaky-ReLU layer (variance 1/fan_in for a conv
            with as many inputs as outputs), so without normalization the 20+ layer network's
            output no longer depends on the image and training stalls at the mean prediction;
            ``"he_normal"`` keeps the variance (2/fan_in).
    """
    height, width_px = int(input_shape[0]), int(input_shape[1])
    stride = 32 * final_stride
    if height % stride or width_px % stride:
        raise ValueError(f"YOLOv1: input_shape {tuple(input_shape)} must have height and width "
                         f"divisible by the network's stride {stride}")
    grid = (height // stride, width_px // stride)
    inputs, x = image_input(input_shape, preprocessing)
    conv, pool = 0, 0
    for stage in _stages(tuple(repeats), final_stride):
        for spec in stage:
            if spec == "M":
                pool += 1
                x = layers.MaxPooling2D(2, name=f"pool{pool}")(x)
                continue
            filters, kernel, strides = spec
            conv += 1
            x = layers.Conv2D(max(int(round(filters * width)), 1), kernel, strides=strides,
                              padding="same", use_bias=not batch_norm,
                              kernel_initializer=kernel_initializer, name=f"conv{conv}")(x)
            if batch_norm:
                x = layers.BatchNormalization(momentum=bn_momentum, name=f"conv{conv}_bn")(x)
            x = layers.LeakyReLU(negative_slope=0.1, name=f"conv{conv}_leaky")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(fc_units, kernel_initializer=kernel_initializer, name="fc1")(x)
    x = layers.LeakyReLU(negative_slope=0.1, name="fc1_leaky")(x)
    if dropout:
        x = layers.Dropout(dropout, name="fc1_dropout")(x)
    depth = 5 * BOXES_PER_CELL + num_classes
    x = layers.Dense(grid[0] * grid[1] * depth, kernel_initializer=kernel_initializer,
                     dtype="float32", name="fc2")(x)
    outputs = layers.Reshape((grid[0], grid[1], depth), dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


# --------------------------------------------------------------------------- training / decode

def _elementwise_iou(a, b):
    """IoU of matching yxyx boxes (..., 4) x (..., 4) -> (...)."""
    top = ops.maximum(a[..., 0], b[..., 0])
    left = ops.maximum(a[..., 1], b[..., 1])
    bottom = ops.minimum(a[..., 2], b[..., 2])
    right = ops.minimum(a[..., 3], b[..., 3])
    inter = ops.maximum(bottom - top, 0.0) * ops.maximum(right - left, 0.0)
    area_a = ops.maximum(a[..., 2] - a[..., 0], 0.0) * ops.maximum(a[..., 3] - a[..., 1], 0.0)
    area_b = ops.maximum(b[..., 2] - b[..., 0], 0.0) * ops.maximum(b[..., 3] - b[..., 1], 0.0)
    return inter / ops.maximum(area_a + area_b - inter, 1e-9)


class YOLOv1Head(DetectionHead):
    """The paper's sum-squared loss (section 2.2) and decode.

    Each object belongs to the cell holding its centre (the first object listed wins a cell
    that holds several: one object per cell, as in the paper); of that cell's B predictors
    the one whose box has the highest IoU with the object is "responsible". Loss:
    lambda_coord * sum_resp[(x - x^)^2 + (y - y^)^2 + (sqrt w - sqrt w^)^2 + (sqrt h -
    sqrt h^)^2] + sum_resp (C - IoU)^2 + lambda_noobj * sum_not_resp C^2 + sum_obj_cells
    sum_c (p(c) - p^(c))^2, with lambda_coord = 5, lambda_noobj = 0.5; summed over the image,
    averaged over the batch. The confidence target of a responsible predictor is its IoU
    with the object (the paper: confidence = Pr(object) * IoU).
    Decode: class-specific score = confidence x class probability per box and class, then
    per-class NMS.
    """

    lambda_coord = 5.0
    lambda_noobj = 0.5

    def __init__(self, model):
        super().__init__(model)
        _, self.rows, self.cols, depth = model.outputs[0].shape
        self.boxes_per_cell = BOXES_PER_CELL
        self.num_classes = int(depth) - 5 * BOXES_PER_CELL

    def _split(self, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        batch = ops.shape(y_pred)[0]
        cells = self.rows * self.cols
        b, c = self.boxes_per_cell, self.num_classes
        flat = ops.reshape(y_pred, (batch, cells, 5 * b + c))
        boxes = ops.reshape(flat[..., :5 * b], (batch, cells, b, 5))
        return boxes, flat[..., 5 * b:]

    def _cell_origin(self):
        rows = ops.repeat(ops.arange(self.rows, dtype="float32"), self.cols)
        cols = ops.tile(ops.arange(self.cols, dtype="float32"), (self.rows,))
        return rows, cols  # (S*S,) each

    def _to_yxyx(self, boxes):
        """(B, S*S, b, 5) raw -> (B, S*S, b, 4) rel_yxyx."""
        rows, cols = self._cell_origin()
        cy = (rows[None, :, None] + boxes[..., 1]) / self.rows
        cx = (cols[None, :, None] + boxes[..., 0]) / self.cols
        h, w = ops.square(boxes[..., 3]), ops.square(boxes[..., 2])
        return ops.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=-1)

    def loss(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        boxes, probs = self._split(y_pred)
        gt = y_true[..., :4]
        gt_class = ops.cast(y_true[..., 4], "int32")
        valid = ops.cast(gt_class != PAD_CLASS, "float32")  # (B, M)
        cy, cx = (gt[..., 0] + gt[..., 2]) / 2, (gt[..., 1] + gt[..., 3]) / 2
        h, w = gt[..., 2] - gt[..., 0], gt[..., 3] - gt[..., 1]
        row = ops.clip(ops.floor(cy * self.rows), 0, self.rows - 1)
        col = ops.clip(ops.floor(cx * self.cols), 0, self.cols - 1)
        cell = ops.cast(row * self.cols + col, "int32")
        onehot = ops.one_hot(cell, self.rows * self.cols) * valid[..., None]  # (B, M, S*S)
        first = onehot * ops.cast(ops.cumsum(onehot, axis=1) == 1.0, "float32")
        features = ops.concatenate([
            (cx * self.cols - col)[..., None], (cy * self.rows - row)[..., None],
            ops.sqrt(ops.maximum(w, 0.0))[..., None], ops.sqrt(ops.maximum(h, 0.0))[..., None],
            gt, ops.one_hot(ops.maximum(gt_class, 0), self.num_classes)], axis=-1)
        target = ops.sum(first[..., None] * features[:, :, None, :], axis=1)  # (B, S*S, F)
        obj = ops.sum(first, axis=1)  # (B, S*S) 0/1
        pred_yxyx = self._to_yxyx(boxes)
        iou = _elementwise_iou(pred_yxyx, target[:, :, None, 4:8])  # (B, S*S, b)
        resp = ops.one_hot(ops.argmax(iou, axis=-1), self.boxes_per_cell) * obj[..., None]
        coord = ops.sum(ops.square(boxes[..., :4] - target[:, :, None, :4]), axis=-1)
        conf = boxes[..., 4]
        loss = (self.lambda_coord * ops.sum(resp * coord)
                + ops.sum(resp * ops.square(conf - ops.stop_gradient(iou)))
                + self.lambda_noobj * ops.sum((1.0 - resp) * ops.square(conf))
                + ops.sum(obj[..., None] * ops.square(probs - target[..., 8:])))
        return loss / ops.cast(ops.shape(y_true)[0], "float32")

    def decode(self, y_pred, max_detections=100, score_threshold=0.05, iou_threshold=0.5):
        boxes, probs = self._split(y_pred)
        batch = ops.shape(boxes)[0]
        n = self.rows * self.cols * self.boxes_per_cell
        conf = ops.clip(boxes[..., 4], 0.0, 1.0)  # (B, S*S, b)
        scores = conf[..., None] * ops.clip(probs, 0.0, 1.0)[:, :, None, :]
        return select_detections(ops.reshape(self._to_yxyx(boxes), (batch, n, 4)),
                                 ops.reshape(scores, (batch, n, self.num_classes)),
                                 max_detections, score_threshold, iou_threshold)


register_head("yolo_v1")(YOLOv1Head)


def _create_yolo_v1(variant, arch_args, /, **kwargs):
    return YOLOv1(**variant_arguments(variant, arch_args, kwargs))


@register_model(task="detection", family="yolo_v1")
def yolo_v1(**kwargs):
    """YOLO v1 as published: 448 x 448, S = 7, B = 2, 24 conv + 2 FC, 7 x 7 x 30 for 20
    classes."""
    return _create_yolo_v1(yolo_v1, {}, **kwargs)


@register_model(task="detection", family="yolo_v1")
def yolo_v1_small(**kwargs):
    """YOLO v1 small enough to train on a CPU. Deviations from the paper (named): 160 x 160
    input, filters x 1/4 (16-256), one (1x1, 3x3) pair in stages 4 and 5 (18 convs), the last
    conv of stage 5 at stride 1 (stride 32: S = 5), a 512-unit first FC layer without dropout
    and batch normalization after each conv (as YOLO v2) with momentum 0.9 (Keras' 0.99 left
    the moving statistics far from the batch statistics after short CPU runs: inference loss
    46 vs training loss 0.48 on 64 images after 240 steps; 0.89 with 0.9); same cell layout,
    loss and decode. Measured at 128 x 128 (S = 4) on ``shapes_detection``'s test split
    (200 images, pycocotools): mAP@0.5 0.928, mAP@[.5:.95] 0.515 after 80 epochs on 2,400
    training images with box-aware augmentation (``python
    recipes/detection/small_detectors.py --model yolo_v1_small``, through ``train_model``:
    2,840 s of CPU on 2 cores; the recipe's former own loop measured the same figures)."""
    return _create_yolo_v1(yolo_v1_small, dict(
        input_shape=(160, 160, 3), num_classes=3, width=0.25, repeats=(1, 1), final_stride=1,
        fc_units=512, dropout=0.0, batch_norm=True, bn_momentum=0.9), **kwargs)
