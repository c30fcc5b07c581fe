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

    # --- data hooks -----------------------------------------------------------------------
    def augmentation(self, kind, splits):
        """Box-aware augmentation: ``'tf'`` (:class:`~kerascv_apps.data.detection.BoxAugment`:
        scale-crop, horizontal flip, brightness/contrast, graph mode) or ``'albumentations'``
        (the same kinds through albumentations' ``bbox_params``); boxes follow the pixels and
        a box mostly cropped away becomes padding."""
        if kind in (None, "none"):
            return None
        if kind == "tf":
            from kerascv_apps.data.detection import BoxAugment

            return BoxAugment()
        if kind == "albumentations":
            from kerascv_apps.data.detection import AlbumentationsBoxAugment

            return AlbumentationsBoxAugment()
        raise ValueError(f"augment must be 'none', 'tf' or 'albumentations', got {kind!r}")

    # TFRecords: the padded boxes as a float list (max_boxes x 5, row-major)
    record_target = "boxes"

    @classmethod
    def file_target(cls, files, index, stream):
        return files["boxes"][index], files["image"][index]

    @classmethod
    def encode_target(cls, target, where="boxes"):
        import tensorflow as tf

        from kerascv_apps.data.sources.base import DataError

        boxes = np.asarray(target, np.float32)
        if boxes.ndim != 2 or boxes.shape[1] != len(TARGET_COLUMNS):
            raise DataError(f"{where}: boxes of shape {boxes.shape}, expected (max_boxes, "
                            f"{len(TARGET_COLUMNS)})")
        return tf.train.Feature(float_list=tf.train.FloatList(value=boxes.ravel().tolist()))

    @classmethod
    def target_feature_spec(cls):
        import tensorflow as tf

        return tf.io.FixedLenSequenceFeature([len(TARGET_COLUMNS)], tf.float32,
                                             allow_missing=True)

    @classmethod
    def decode_target(cls, value, size):
        import tensorflow as tf

        return tf.reshape(value, (-1, len(TARGET_COLUMNS)))

    # tensorflow_datasets: voc, coco/2017 and any dataset with objects {bbox, label}
    tfds_features = "image + objects {bbox, label} (voc, coco/2017)"
    tfds_priority = 2
    tfds_max_boxes = 100  # COCO 2017 has at most 93 objects per image

    @classmethod
    def tfds_target(cls, features, name, num_classes=None):
        """tfds' ``BBoxFeature`` boxes are already ``rel_yxyx``; labels are 0-based class ids.
        Crowd regions (COCO ``is_crowd``) and zero-area boxes are left out (COCO's evaluation
        ignores crowd regions); more than ``tfds_max_boxes`` objects fails with the count."""
        objects = features.get("objects")
        inner = getattr(objects, "feature", objects)
        try:
            keys = set(inner.keys())
        except AttributeError:
            return None
        if not {"bbox", "label"} <= keys:
            return None
        import tensorflow as tf

        label = inner["label"]
        num = int(getattr(label, "num_classes", None) or num_classes or 0)
        if num < 1:
            from kerascv_apps.data.sources.base import DataError

            raise DataError(f"tfds:{name}: objects/label has no class count; pass "
                            f"--dataset-arg num_classes=N")
        names = list(getattr(label, "names", None) or [f"class_{i}" for i in range(num)])
        max_boxes = cls.tfds_max_boxes

        def target(example, size):
            obj = example["objects"]
            # one entry per object in each field (tfds' mock data draws their lengths
            # independently: the common length is used)
            fields = [obj["bbox"], obj["label"]] + ([obj["is_crowd"]] if "is_crowd" in obj
                                                    else [])
            count = tf.reduce_min(tf.stack([tf.shape(f)[0] for f in fields]))
            boxes = tf.cast(obj["bbox"][:count], tf.float32)
            labels = tf.cast(obj["label"][:count], tf.float32)
            keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            if "is_crowd" in obj:
                keep = keep & tf.logical_not(tf.cast(obj["is_crowd"][:count], tf.bool))
            rows = tf.concat([tf.clip_by_value(boxes, 0.0, 1.0), labels[:, None]], axis=-1)
            rows = tf.boolean_mask(rows, keep)
            n = tf.shape(rows)[0]
            check = tf.debugging.Assert(n <= max_boxes, [
                f"tfds:{name}: an image has more than {max_boxes} objects:", n])
            with tf.control_dependencies([check]):
                pad = tf.concat([tf.zeros([max_boxes - n, 4]),
                                 tf.fill([max_boxes - n, 1], float(PAD_CLASS))], axis=-1)
                out = tf.concat([rows, pad], axis=0)
            return tf.ensure_shape(out, (max_boxes, len(TARGET_COLUMNS)))

        return target, num, names, {"max_boxes": max_boxes, "box_format": "rel_yxyx"}

    # --- what the export layer asks the task -------------------------------------------------
    default_dataset = "shapes_detection"
    metadata_kind = "detector"
