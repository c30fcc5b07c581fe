"""The detection Task: trains any registered detection family through its head's loss,
decodes raw outputs through the head (evaluation, SavedModel, predict) and scores detections
with COCO's reference evaluation (pycocotools).

Examples follow the contract of ``models/detection/heads.py``: ``(image, boxes)`` with image
float32 ``(H, W, 3)`` pixels in [0, 255] and boxes float32 ``(max_boxes, 5)`` rows of
``y_min, x_min, y_max, x_max`` (ratios of the image size) and the class id; padding rows have
class id ``PAD_CLASS`` (-1). An image without objects (every row padding) is a background
example: it is trained on and evaluated (its detections are false positives).

Predictions (what ``score``/``evaluate`` take, one array per image or stacked): decoded
detections packed as ``(max_detections, 6)`` rows of ``y_min, x_min, y_max, x_max, class_id,
score`` in descending score; rows past the detection count are zeros (a score of 0 is never a
detection: decoding keeps scores above ``score_threshold`` > 0).

Quality metric: ``map_50`` (COCO AP at IoU 0.5, pycocotools), the figure the int8 export gate
of the detection issue compares (Keras vs int8 within 1 point). ``evaluate`` reports the whole
COCO summary beside it: ``map_50_95`` (AP@[.5:.95], COCO's primary figure), ``map_75``,
``map_small/medium/large``, ``mar_100`` and per-class AP.
"""

import keras
import numpy as np

from kerascv_apps.models.detection.heads import PAD_CLASS, TARGET_COLUMNS
from kerascv_apps.tasks.base import Task, register_task

PREDICTION_COLUMNS = ("y_min", "x_min", "y_max", "x_max", "class_id", "score")


def pack_detections(decoded):
    """``head.decode``'s dict (``boxes`` (B, K, 4), ``classes`` (B, K), ``scores`` (B, K),
    ``count`` (B,)) as one float32 tensor (B, K, 6) of ``PREDICTION_COLUMNS`` with rows past
    ``count`` zeroed (keras.ops; runs inside a traced model)."""
    from keras import ops

    boxes = ops.cast(decoded["boxes"], "float32")
    classes = ops.cast(decoded["classes"], "float32")
    scores = ops.cast(decoded["scores"], "float32")
    k = ops.shape(scores)[1]
    valid = ops.expand_dims(ops.arange(k), 0) < ops.expand_dims(
        ops.cast(decoded["count"], "int32"), 1)
    valid = ops.cast(valid, "float32")
    packed = ops.concatenate([boxes, ops.expand_dims(classes, -1),
                              ops.expand_dims(scores, -1)], axis=-1)
    return packed * ops.expand_dims(valid, -1)


def unpack_detections(packed):
    """One image's packed detections (K, 6) as ``(boxes (n, 4), classes (n,), scores (n,))``
    numpy arrays of its valid rows (score > 0)."""
    packed = np.asarray(packed, np.float32).reshape(-1, len(PREDICTION_COLUMNS))
    keep = packed[:, 5] > 0
    rows = packed[keep]
    return rows[:, :4], rows[:, 4].astype(np.int64), rows[:, 5]


def valid_boxes(target):
    """One image's padded target (max_boxes, 5) as ``(boxes (n, 4), classes (n,))`` numpy
    arrays of its objects (padding rows dropped)."""
    target = np.asarray(target, np.float32).reshape(-1, len(TARGET_COLUMNS))
    rows = target[target[:, 4] != PAD_CLASS]
    return rows[:, :4], rows[:, 4].astype(np.int64)


@keras.saving.register_keras_serializable(package="kerascv_apps")
class DetectionTrainingModel(keras.Model):
    """A detection model that ``fit`` trains through its family's ``DetectionHead.loss``.

    Built as ``DetectionTrainingModel(inputs=model.inputs, outputs=model.output,
    name=model.name)``: the same functional graph (layers, and so weights, shared with
    ``model``) under the same registered name, so it saves, reloads with ``safe_mode=True``,
    exports and is decoded like the model itself; only ``compute_loss`` differs: the head's
    loss of the padded targets and the raw outputs (any output structure: one tensor or a
    dict), plus the layers' own losses (regularizers). Under a ``tf.distribute`` strategy the
    loss is scaled by the number of replicas, as Keras' compiled losses are.
    """

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        import tensorflow as tf
        from keras import ops

        from kerascv_apps.models.detection.heads import head_for

        loss = ops.cast(head_for(self).loss(y, y_pred), "float32")
        for extra in self.losses:
            loss = loss + ops.cast(ops.sum(extra), "float32")
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            loss = loss / float(replicas)
        return loss


def training_graph(model):
    """``model`` as a :class:`DetectionTrainingModel` (itself if it is one already)."""
    if isinstance(model, DetectionTrainingModel):
        return model
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return DetectionTrainingModel(inputs=inputs, outputs=model.output, name=model.name)


@register_task
class DetectionTask(Task):
    """Object detection: boxes and class ids per image (see the module docstring).

    Args:
        score_threshold: detections scoring at most this are dropped when decoding (0.05,
            COCO's customary evaluation threshold; the mAP needs the low-score tail).
        iou_threshold: IoU above which non-maximum suppression drops a lower-scored box of
            the same class.
        max_detections: detections kept per image (100, COCO's maxDets).
        draw_threshold: score from which ``predict`` and the pictures draw a detection.
    """

    name = "detection"
    quality_metric = "map_50"
    higher_is_better = True
    eval_batch_size = None

    def __init__(self, num_classes=None, class_names=None, score_threshold=0.05,
                 iou_threshold=0.5, max_detections=100, draw_threshold=0.3):
        super().__init__(num_classes=num_classes, class_names=class_names)
        self.score_threshold = float(score_threshold)
        self.iou_threshold = float(iou_threshold)
        self.max_detections = int(max_detections)
        self.draw_threshold = float(draw_threshold)

    # --- training -------------------------------------------------------------------------
    def training_model(self, model):
        """The same graph as a :class:`DetectionTrainingModel` (trains through the head's
        loss; saves and reloads like ``model``)."""
        self.head(model)  # a model without a registered head is refused here, before fit
        return training_graph(model)

    def trained_model(self, fitted):
        return fitted

    @staticmethod
    def head(model):
        """The model's :class:`~kerascv_apps.models.detection.heads.DetectionHead`."""
        from kerascv_apps.models.detection.heads import head_for

        return head_for(model)

    def loss(self, model=None):
        """None: the training model computes the head's loss itself (``compute_loss``)."""
        return None

    def tfmot_loss(self, model):
        head = self.head(model)
        return lambda y_true, y_pred: head.loss(y_true, y_pred)

    def monitor(self):
        return "val_loss", "min"

    def validate_model(self, model, splits):
        super().validate_model(model, splits)
        self.head(model)

    def decode(self, model, outputs):
        """The head's decoded detections of raw ``outputs`` with this task's thresholds."""
        return self.head(model).decode(outputs, max_detections=self.max_detections,
                                       score_threshold=self.score_threshold,
                                       iou_threshold=self.iou_threshold)

    # --- what the data and export layers ask the task ---------------------------------------
    default_dataset = "shapes_detection"
    metadata_kind = "detector"
