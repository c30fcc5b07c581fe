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

import json

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


def pack_numpy(boxes, classes, scores, count):
    """The four outputs of a DETECTION_POSTPROCESS file (batched) as packed detections
    (B, K, 6) numpy, rows past ``count`` zeroed."""
    boxes = np.asarray(boxes, np.float32)
    batch, k = boxes.shape[0], boxes.shape[1]
    classes = np.asarray(classes, np.float32).reshape(batch, k)
    scores = np.asarray(scores, np.float32).reshape(batch, k)
    count = np.asarray(count).reshape(batch).astype(np.int64)
    packed = np.concatenate([boxes, classes[..., None], scores[..., None]], axis=-1)
    packed[np.arange(k)[None, :] >= count[:, None]] = 0.0
    return packed


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

        head = head_for(self)
        head.training = bool(training)  # e.g. dropout in a head the loss runs itself
        loss = ops.cast(head.loss(y, y_pred), "float32")
        for extra in self.losses:
            loss = loss + ops.cast(ops.sum(extra), "float32")
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            loss = loss / float(replicas)
        return loss


def training_graph(model):
    """``model``'s graph as a new :class:`DetectionTrainingModel` (also for one that is one
    already, e.g. a reloaded checkpoint: the trainer gets the whole target whenever the task
    wrapped the model, see ``experiment._train_locked``), with the extra outputs its head's
    loss reads (``DetectionHead.training_outputs``: Faster R-CNN's feature map)."""
    from kerascv_apps.models.detection.heads import head_for

    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    outputs = model.output
    extra = head_for(model).training_outputs()
    if extra:
        outputs = {**outputs, **extra}
    return DetectionTrainingModel(inputs=inputs, outputs=outputs, name=model.name)


class DetectionPredictor(keras.Model):
    """Images -> packed detections ``(B, max_detections, 6)`` (``PREDICTION_COLUMNS``): the
    detector's raw outputs decoded by its head with the task's thresholds. Built in process
    for evaluation, verification and serving (never saved: the detector is what is saved)."""

    def __init__(self, detector, head, max_detections, score_threshold, iou_threshold):
        super().__init__(name=f"{detector.name}_decoded")
        self.detector = detector
        self.head = head
        self.decode_kwargs = {"max_detections": int(max_detections),
                              "score_threshold": float(score_threshold),
                              "iou_threshold": float(iou_threshold)}

    def call(self, images, training=False):
        return pack_detections(self.head.decode(self.detector(images, training=False),
                                                **self.decode_kwargs))


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
        box_augment: what ``augment`` does: ``full`` (scale-crop, horizontal flip,
            brightness/contrast) or ``flip`` (horizontal flips only, boxes mirrored with the
            image: a named deviation for short runs on small sets, e.g. the phone recipe).
    """

    name = "detection"
    quality_metric = "map_50"
    higher_is_better = True
    eval_batch_size = None

    def __init__(self, num_classes=None, class_names=None, score_threshold=0.05,
                 iou_threshold=0.5, max_detections=100, draw_threshold=0.3, box_augment="full"):
        super().__init__(num_classes=num_classes, class_names=class_names)
        self.score_threshold = float(score_threshold)
        self.iou_threshold = float(iou_threshold)
        self.max_detections = int(max_detections)
        self.draw_threshold = float(draw_threshold)
        if box_augment not in ("full", "flip"):
            raise ValueError(f"box_augment must be 'full' or 'flip', got {box_augment!r}")
        self.box_augment = box_augment

    @classmethod
    def from_splits(cls, splits, **kwargs):
        task = super().from_splits(splits, **kwargs)
        task.image_size = tuple(int(s) for s in splits.image_shape[:2])
        return task

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

    def benchmark_targets(self, model, batch, rng, max_boxes=None):
        """Random padded targets (B, max_boxes, 5) for ``kerascv-apps benchmark``: 1 to 4
        boxes of 10-60% of the image per image, random classes, the rest padding."""
        from kerascv_apps.models.detection.heads import DEFAULT_MAX_BOXES

        max_boxes = int(max_boxes or DEFAULT_MAX_BOXES)
        out = np.zeros((batch, max_boxes, len(TARGET_COLUMNS)), np.float32)
        out[..., 4] = PAD_CLASS
        for i in range(batch):
            n = int(rng.integers(1, min(4, max_boxes) + 1))
            size = rng.uniform(0.1, 0.6, (n, 2))
            corner = rng.uniform(0.0, 1.0 - size)
            out[i, :n, :2], out[i, :n, 2:4] = corner, corner + size
            out[i, :n, 4] = rng.integers(0, self.num_classes or 1, n)
        return out

    # --- tuning -----------------------------------------------------------------------------
    # builder arguments of the detection families, each tuned for the models that take it:
    # the focal loss (RetinaNet's alpha 0.25, gamma 2 and the neighbours its ablation
    # compares), the box loss and the anchor size (SSD/RetinaNet family), RoI pooling or
    # RoIAlign (Faster R-CNN). Values KerasTuner's Choice takes (no tuples: anchor scale
    # lists stay as built).
    tuning_model_space = {"focal_gamma": [1.0, 2.0, 3.0], "focal_alpha": [0.25, 0.5],
                          "box_loss": ["smooth_l1", "giou"], "anchor_size": [3.0, 4.0],
                          "roi_mode": ["max", "align"]}

    def tuning_objective(self):
        """COCO AP50 on the validation split (``val_map_50``, higher is better): trials
        with another focal gamma or box loss have losses on other scales."""
        return f"val_{self.quality_metric}", "max"

    def validate_model(self, model, splits):
        super().validate_model(model, splits)
        self.head(model)

    def decode(self, model, outputs):
        """The head's decoded detections of raw ``outputs`` with this task's thresholds."""
        return self.head(model).decode(outputs, max_detections=self.max_detections,
                                       score_threshold=self.score_threshold,
                                       iou_threshold=self.iou_threshold)

    # --- evaluation -----------------------------------------------------------------------
    def prediction_model(self, model):
        """:class:`DetectionPredictor`: packed, decoded detections (what ``score`` takes)."""
        if isinstance(model, DetectionPredictor):
            return model
        return DetectionPredictor(model, self.head(model), self.max_detections,
                                  self.score_threshold, self.iou_threshold)

    def prediction_outputs(self, outputs):
        """Packed detections from what a predictor returns: packed already (Keras, a TFLite
        file of the decoded model), or the four outputs of a file ending in TFLite's
        ``DETECTION_POSTPROCESS`` (boxes, classes, scores, count)."""
        if isinstance(outputs, dict):
            outputs = [outputs[k] for k in sorted(outputs)] if len(outputs) != 1 else \
                list(outputs.values())
        if isinstance(outputs, (list, tuple)) and len(outputs) == 4:
            return pack_numpy(*outputs)
        return super().prediction_outputs(outputs)

    def _image_size(self, targets):
        size = getattr(self, "image_size", None)
        return size if size is not None else (1, 1)

    def score(self, targets, predictions):
        """COCO AP at IoU 0.5 (pycocotools); 0.0 when the split has no object at all."""
        value = self.coco(targets, predictions)["map_50"]
        return 0.0 if value is None else float(value)

    def coco(self, targets, predictions):
        from kerascv_apps.metrics.detection import coco_evaluate

        num = self.num_classes or len(self.class_names or []) or 1 + int(max(
            [np.max(np.asarray(t).reshape(-1, 5)[:, 4], initial=0) for t in targets] or [0]))
        return coco_evaluate(targets, predictions, num, self._image_size(targets),
                             self.class_names, self.max_detections)

    def evaluate(self, targets, predictions):
        """Every COCO figure (``metrics/detection.py``) and the quality metric ``map_50``;
        keeps a few images' ground truth and detections for ``plots``."""
        results = self.coco(targets, predictions)
        results[self.quality_metric] = 0.0 if results["map_50"] is None else results["map_50"]
        results["score_threshold"] = self.score_threshold
        results["iou_threshold"] = self.iou_threshold
        self.last_examples = (list(targets)[:8], list(predictions)[:8])
        return results

    def plots(self, results, out_dir):
        """Precision-recall curves per class (IoU 0.5) and, when ``evaluate`` saw images
        (``predict_split`` keeps them), predictions vs ground truth."""
        from kerascv_apps.plots import _pyplot, _save

        import os

        plt = _pyplot()
        paths = []
        fig, ax = plt.subplots(figsize=(5, 4))
        for name, curve in results["pr_curves"].items():
            precision = [np.nan if v is None else v for v in curve["precision"]]
            row = next(r for r in results["per_class"] if r["class"] == name)
            ap = "n/a" if row["ap_50"] is None else f"{row['ap_50']:.3f}"
            ax.plot(curve["recall"], precision, label=f"{name} (AP50 {ap})")
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_title(f"precision-recall at IoU 0.5 (mAP50 {results['map_50'] or 0:.3f})")
        ax.legend(fontsize=7, loc="lower left")
        paths.append(_save(fig, os.path.join(out_dir, "pr_curves.png")))
        images = getattr(self, "last_images", None)
        if images is not None and getattr(self, "last_examples", None):
            targets, predictions = self.last_examples
            paths.append(self.save_comparison(images[:len(targets)], targets, predictions,
                                              os.path.join(out_dir, "predictions_vs_truth.png")))
        return paths

    def draw(self, image, boxes, classes, scores=None, color=(255, 64, 64)):
        """``image`` (H, W, 3) with ``boxes`` (rel_yxyx) drawn and labelled by class name (and
        score): ``keras.visualization.draw_bounding_boxes``."""
        image = np.clip(np.asarray(image, np.float32), 0, 255)
        if image.shape[-1] == 1:
            image = np.repeat(image, 3, axis=-1)
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        if not len(boxes):
            return image.astype(np.uint8)
        names = self.class_names or [f"class_{i}" for i in range(int(max(classes)) + 1)]
        mapping = {i: (names[int(c)] if 0 <= int(c) < len(names) else str(int(c)))
                   + ("" if scores is None else f" {float(scores[i]):.2f}")
                   for i, c in enumerate(classes)}
        out = keras.visualization.draw_bounding_boxes(
            image[None], {"boxes": boxes[None], "labels": np.arange(len(boxes))[None]},
            "rel_yxyx", class_mapping=mapping, color=color, line_thickness=1,
            font_scale=max(0.25, image.shape[0] / 400))
        return np.asarray(out)[0].astype(np.uint8)

    def save_comparison(self, images, targets, predictions, path):
        """A grid: each image with its ground truth (green) and the detections drawn from
        ``draw_threshold`` (red, with scores)."""
        from kerascv_apps.plots import _pyplot, _save

        plt = _pyplot()
        n = len(images)
        fig, axes = plt.subplots(2, n, figsize=(2.2 * n, 4.6), squeeze=False)
        for i, (image, target, packed) in enumerate(zip(images, targets, predictions)):
            gt_boxes, gt_classes = valid_boxes(target)
            boxes, classes, scores = unpack_detections(packed)
            keep = scores >= self.draw_threshold
            panels = ((self.draw(image, gt_boxes, gt_classes, color=(64, 255, 64)),
                       "ground truth"),
                      (self.draw(image, boxes[keep], classes[keep], scores[keep]),
                       f"detections >= {self.draw_threshold:g}"))
            for row, (picture, title) in enumerate(panels):
                axes[row, i].imshow(picture)
                axes[row, i].set_title(title, fontsize=7)
                axes[row, i].axis("off")
        fig.tight_layout()
        return _save(fig, path)

    def predict_batches(self, predict_fn, dataset, limit=None):
        """Like ``Task.predict_batches`` (one image at a time), through ``prediction_outputs``,
        keeping the first images for the pictures of ``plots``."""
        inputs, targets, preds = [], [], []
        for i, (image, target) in enumerate(dataset.as_numpy_iterator()):
            if limit is not None and i >= limit:
                break
            image = np.asarray(image, np.float32)
            preds.append(np.asarray(self.prediction_outputs(predict_fn(image[None])))[0])
            targets.append(np.asarray(target))
            if len(inputs) < 8:
                inputs.append(image)
        self.last_images = inputs
        return np.stack(targets), np.stack(preds)

    def keep_images(self, images):
        """The first evaluated images (``plots`` draws them); ``predict_split`` hands them."""
        self.last_images = list(images)[:8]

    def predict_files(self, model, paths, out_dir=None):
        """Detects objects in image files (resized to the model's input size; boxes are
        ratios, so they hold for the original image): per file a dict with ``detections``
        (``box`` [y_min, x_min, y_max, x_max] ratios, ``box_pixels`` in the original image,
        ``class_id``, ``class_name``, ``score``, from ``draw_threshold``) and, with
        ``out_dir``, a picture ``<stem>_detections.png`` of them."""
        import os

        import tensorflow as tf

        from kerascv_apps.data.decode import read_image
        from kerascv_apps.io import atomic_file

        predictor = self.prediction_model(model)
        height, width, channels = model.inputs[0].shape[1:]
        results = []
        for path in paths:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"predict: image file {path!r} does not exist")
            image = read_image(path, channels or 3)
            h, w = image.shape[:2]
            x = image if height is None else tf.image.resize(
                image, (height, width), antialias=True).numpy()
            packed = np.asarray(predictor(x[None], training=False))[0]
            boxes, classes, scores = unpack_detections(packed)
            keep = scores >= self.draw_threshold
            names = self.class_names or []
            detections = [{"box": [round(float(v), 5) for v in box],
                           "box_pixels": [round(float(box[0] * h), 1), round(float(box[1] * w), 1),
                                          round(float(box[2] * h), 1), round(float(box[3] * w), 1)],
                           "class_id": int(c),
                           "class_name": names[int(c)] if 0 <= int(c) < len(names) else None,
                           "score": round(float(sc), 5)}
                          for box, c, sc in zip(boxes[keep], classes[keep], scores[keep])]
            result = {"file": path, "image_size": [h, w], "count": len(detections),
                      "detections": detections, "draw_threshold": self.draw_threshold}
            if out_dir:
                from PIL import Image

                os.makedirs(out_dir, exist_ok=True)
                picture = self.draw(image, boxes[keep], classes[keep], scores[keep])
                stem = os.path.splitext(os.path.basename(path))[0]
                target = os.path.join(out_dir, f"{stem}_detections.png")
                with atomic_file(target, suffix=".png") as tmp:
                    Image.fromarray(picture).save(tmp, format="PNG")
                result["picture"] = target
            results.append(result)
        return results

    def serving_outputs(self, outputs):
        """From packed detections (``prediction_model``): ``boxes`` (B, K, 4) rel_yxyx,
        ``class_ids`` (B, K) int32, ``class_names`` (B, K) strings ("" past ``count``),
        ``scores`` (B, K) and ``count`` (B,) int32."""
        import tensorflow as tf

        boxes = outputs[..., :4]
        scores = outputs[..., 5]
        valid = scores > 0
        class_ids = tf.cast(tf.round(outputs[..., 4]), tf.int32)
        result = {"boxes": boxes, "class_ids": class_ids, "scores": scores,
                  "count": tf.reduce_sum(tf.cast(valid, tf.int32), axis=-1)}
        if self.class_names:
            names = tf.gather(tf.constant([str(n) for n in self.class_names]),
                              tf.clip_by_value(class_ids, 0, len(self.class_names) - 1))
            result["class_names"] = tf.where(valid, names, tf.constant(""))
        return result

    def serving_class_names(self, model):
        return None  # serving_outputs names the classes itself (one per detection)

    # --- data hooks -----------------------------------------------------------------------
    def augmentation(self, kind, splits):
        """Box-aware augmentation: ``'tf'`` (:class:`~kerascv_apps.data.detection.BoxAugment`:
        scale-crop, horizontal flip, brightness/contrast, graph mode) or ``'albumentations'``
        (the same kinds through albumentations' ``bbox_params``); boxes follow the pixels and
        a box mostly cropped away becomes padding. With ``box_augment="flip"`` either kind
        only flips images horizontally (probability 0.5), boxes mirrored with them."""
        if kind in (None, "none"):
            return None
        flips = self.box_augment == "flip"
        if kind == "tf":
            from kerascv_apps.data.detection import BoxAugment

            return BoxAugment.flips_only() if flips else BoxAugment()
        if kind == "albumentations":
            from kerascv_apps.data.detection import AlbumentationsBoxAugment

            return AlbumentationsBoxAugment(scale=None) if flips else AlbumentationsBoxAugment()
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
    # MediaPipe's object-detector metadata (BoundingBoxProperties, labels), embedded by
    # ``embed_tflite_metadata`` below rather than by export/metadata.py's kinds
    metadata_kind = "detector"
    # TFLite: the phone layout MediaPipe Tasks' ObjectDetector reads (boxes, classes, scores,
    # count from TFLite_Detection_PostProcess), made by export/detection_tflite.py
    TFLITE_MODES = ("float32", "float16", "dynamic", "int8")  # detection_tflite.MODES
    DETECTION_OUTPUTS = ("boxes", "classes", "scores", "count")

    def convert_tflite(self, model, mode, calibration, input_shape, integer_io):
        """A file with the four detection outputs (boxes, classes, scores, count). Anchor
        families: ending in TFLite's ``DETECTION_POSTPROCESS`` op (the op decodes their
        anchors; NMS per class with this task's thresholds); the others (e.g. YOLO v1's grid):
        the head's decode and NMS in builtin ops (``convert_decoded_detector``). Modes the
        converter cannot make are refused with the reason (the pipeline goes on with the other
        formats, or fails for float32/int8)."""
        from kerascv_apps.export.tflite import TFLiteConversionError

        if mode not in self.TFLITE_MODES:
            raise TFLiteConversionError(f"detection TFLite files are made in "
                                        f"{'/'.join(self.TFLITE_MODES)} only, not {mode}")
        if integer_io != "uint8" and mode == "int8":
            raise TFLiteConversionError("the detection int8 file takes uint8 images (what "
                                        "MediaPipe Tasks feeds); int8 input is not made")
        try:
            from kerascv_apps.export.detection_tflite import (convert_decoded_detector,
                                                              convert_detector)
            from kerascv_apps.models.detection.ssd import anchor_config_of
        except ImportError as e:
            raise TFLiteConversionError(f"detection TFLite export is not available ({e})") \
                from None
        thresholds = dict(max_detections=self.max_detections,
                          score_threshold=self.score_threshold, iou_threshold=self.iou_threshold)
        try:
            try:
                anchor_config_of(model)
            except ValueError:  # no anchors for the op to decode: the head decodes in the file
                return convert_decoded_detector(model, self.head(model), mode, calibration,
                                                **thresholds)
            return convert_detector(model, mode, calibration, use_regular_nms=True,
                                    **thresholds)
        except ValueError as e:
            raise TFLiteConversionError(str(e)) from None

    def embed_tflite_metadata(self, tflite_bytes, contract):
        """MediaPipe's object-detector metadata, ``labels.txt`` and the contract JSON."""
        from kerascv_apps.export.detection_tflite import embed_detector_metadata
        from kerascv_apps.export.metadata import CONTRACT_FILE

        names = self.class_names or [f"class_{i}" for i in range(self.num_classes or 1)]
        return embed_detector_metadata(
            tflite_bytes, contract["model"]["name"], names,
            extra_files={CONTRACT_FILE: json.dumps(contract, indent=2)},
            description=contract["model"]["description"], version=contract["model"]["version"])

    def output_contract(self, activation, channels):
        return {"meaning": "detections",
                "range": None,
                "postprocess": "four outputs in this order (TFLite_Detection_PostProcess's, "
                               "or the head's decode in builtin ops for grid detectors): boxes "
                               "(1, N, 4) top, left, bottom, right in ratios of the input; "
                               "classes (1, N) class ids (0-based, labels.txt order); scores "
                               "(1, N) in [0, 1], descending; count (1,) valid rows"}

    def contract_fields(self, runner, input_shape):
        return {"scale": None, "detection_outputs": list(self.DETECTION_OUTPUTS),
                "box_format": "rel_yxyx", "max_detections": self.max_detections,
                "score_threshold": self.score_threshold, "iou_threshold": self.iou_threshold}
