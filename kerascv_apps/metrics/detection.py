"""COCO detection metrics computed by pycocotools (the reference implementation; nothing here
computes an AP itself): mAP@[.5:.95], AP50, AP75, AP small / medium / large, AR@1/10/100,
per-class AP and AP50, and per-class precision-recall curves at IoU 0.5.

Inputs are the detection task's arrays (``tasks/detection.py``): per image the padded target
``(max_boxes, 5)`` (``rel_yxyx`` + class id, padding class -1) and the packed detections
``(K, 6)`` (``rel_yxyx``, class id, score; score 0 = no detection). Boxes are turned into COCO's
pixel ``[x, y, width, height]`` for images of ``image_size`` (the evaluated input size: COCO's
small / medium / large areas, 32² and 96² pixels, are measured there). Categories are the class
ids + 1 (COCO ids start at 1); every image is listed, so an image without objects (a
background image) counts its detections as false positives.

A figure COCO leaves undefined (-1: no object of that area or class in the split) is reported
as None.
"""

import contextlib
import io

import numpy as np

from kerascv_apps.models.detection.heads import PAD_CLASS

SUMMARY = ("map_50_95", "map_50", "map_75", "map_small", "map_medium", "map_large",
           "mar_1", "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large")


def _xywh(boxes, height, width):
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    y0, x0 = boxes[:, 0] * height, boxes[:, 1] * width
    y1, x1 = boxes[:, 2] * height, boxes[:, 3] * width
    return np.stack([x0, y0, x1 - x0, y1 - y0], axis=-1)


def coco_datasets(targets, predictions, num_classes, image_size, class_names=None):
    """``(ground truth dict, detections list)`` in COCO's JSON layout."""
    height, width = (float(s) for s in image_size)
    names = class_names or [f"class_{i}" for i in range(num_classes)]
    images, annotations, detections = [], [], []
    for image_id, (target, packed) in enumerate(zip(targets, predictions), start=1):
        images.append({"id": image_id, "width": width, "height": height})
        target = np.asarray(target, np.float32).reshape(-1, 5)
        target = target[target[:, 4] != PAD_CLASS]
        for box, cls in zip(_xywh(target[:, :4], height, width), target[:, 4]):
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": int(cls) + 1, "bbox": box.tolist(),
                                "area": float(box[2] * box[3]), "iscrowd": 0})
        packed = np.asarray(packed, np.float32).reshape(-1, 6)
        packed = packed[packed[:, 5] > 0]
        for box, cls, score in zip(_xywh(packed[:, :4], height, width), packed[:, 4],
                                   packed[:, 5]):
            detections.append({"image_id": image_id, "category_id": int(cls) + 1,
                               "bbox": box.tolist(), "score": float(score)})
    categories = [{"id": k + 1, "name": str(names[k])} for k in range(num_classes)]
    return {"images": images, "annotations": annotations, "categories": categories}, detections


def _none(value):
    value = float(value)
    return None if value < 0 else value


def coco_evaluate(targets, predictions, num_classes, image_size, class_names=None,
                  max_detections=100):
    """Every COCO figure of ``predictions`` against ``targets`` (see the module docstring).

    Returns a dict: the ``SUMMARY`` figures, ``per_class`` rows (``class``, ``ap``,
    ``ap_50``, ``ap_75``, ``num_objects``, ``num_detections``), ``pr_curves`` (per class
    ``recall`` and ``precision`` at IoU 0.5, all areas, ``max_detections``), ``num_images``,
    ``num_objects``, ``num_detections``, ``background_images``.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    targets, predictions = list(targets), list(predictions)
    if len(targets) != len(predictions):
        raise ValueError(f"coco_evaluate: {len(targets)} targets but {len(predictions)} "
                         f"predictions")
    names = class_names or [f"class_{i}" for i in range(num_classes)]
    truth, detections = coco_datasets(targets, predictions, num_classes, image_size, names)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        gt = COCO()
        gt.dataset = truth
        gt.createIndex()
        if detections:
            dt = gt.loadRes(detections)
        else:  # loadRes refuses an empty list: no detection at all is an empty result set
            dt = COCO()
            dt.dataset = {"images": truth["images"], "categories": truth["categories"],
                          "annotations": []}
            dt.createIndex()
        evaluator = COCOeval(gt, dt, iouType="bbox")
        evaluator.params.maxDets = [1, 10, int(max_detections)]
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = evaluator.stats
    results = {name: _none(value) for name, value in zip(SUMMARY, stats)}
    precision = evaluator.eval["precision"]  # [IoU T, recall R, class K, area A, maxDets M]
    recall = np.asarray(evaluator.params.recThrs)
    per_class, curves = [], {}
    objects = [a["category_id"] for a in truth["annotations"]]
    found = [d["category_id"] for d in detections]
    for k in range(num_classes):
        p = precision[:, :, k, 0, -1]
        valid = p[p > -1]
        row = {"class": str(names[k]), "class_id": k,
               "ap": float(valid.mean()) if valid.size else None,
               "ap_50": _mean_or_none(precision[0, :, k, 0, -1]),
               "ap_75": _mean_or_none(precision[5, :, k, 0, -1]),
               "num_objects": objects.count(k + 1), "num_detections": found.count(k + 1)}
        per_class.append(row)
        curve = precision[0, :, k, 0, -1]
        curves[str(names[k])] = {"recall": recall.tolist(),
                                 "precision": [None if v < 0 else float(v) for v in curve]}
    results.update(per_class=per_class, pr_curves=curves, num_images=len(targets),
                   num_objects=len(objects), num_detections=len(detections),
                   background_images=sum(1 for t in targets if not np.any(
                       np.asarray(t).reshape(-1, 5)[:, 4] != PAD_CLASS)),
                   image_size=[int(s) for s in image_size], max_detections=int(max_detections))
    return results


def _mean_or_none(values):
    values = np.asarray(values)
    valid = values[values > -1]
    return float(valid.mean()) if valid.size else None
