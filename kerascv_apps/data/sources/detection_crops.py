"""Window-classifier data cut from a detection dataset: ``--dataset crops[:<detection spec>]``.

The lectures' baseline detector classifies windows (``recipes/detection/sliding_window.py``);
its classifier learns K + 1 classes from crops of a detection dataset's images: each object's
square crop (its box's longer side, centred; the object's class) and square windows that
overlap no object (IoU below ``background_iou`` with every box; the class ``background``, id
K), ``negatives`` per object (one for an image without objects), drawn from the same window
grid the detector scans (``window_grid``: each size in ``windows`` pixels at a quarter-window
stride). Every crop is resized to ``crop`` x ``crop``.

Each split of the detection dataset gives the same split here (crops of held-out images stay
held out); background windows are drawn with the seed ``seed`` + the split's offset, so the
crops are the same in every run. The crops are cut in memory when the dataset is loaded.
"""

import numpy as np

from kerascv_apps.data.sources.base import DataError, DatasetSplits, load_dataset, register_source

SPLIT_OFFSETS = {"train": 0, "val": 1, "test": 2}
BACKGROUND = "background"


def square_around(box, scale=1.0):
    """The square (rel_yxyx) centred on ``box`` with side = its longer side x ``scale``."""
    y0, x0, y1, x1 = box
    side = max(y1 - y0, x1 - x0) * scale
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    return [cy - side / 2, cx - side / 2, cy + side / 2, cx + side / 2]


def window_grid(height, width, sizes):
    """Square windows (rel_yxyx, float32 (N, 4)) of each size in pixels at a quarter-window
    stride, the last row and column flush with the image's edges; sizes larger than the
    image are left out."""
    out = []
    for w in (int(s) for s in sizes):
        if w > height or w > width:
            continue
        stride = max(w // 4, 1)
        rows, cols = (list(range(0, n - w + 1, stride)) for n in (height, width))
        if rows[-1] != height - w:
            rows.append(height - w)
        if cols[-1] != width - w:
            cols.append(width - w)
        out += [[y / height, x / width, (y + w) / height, (x + w) / width]
                for y in rows for x in cols]
    return np.asarray(out, np.float32).reshape(-1, 4)


def iou_matrix(a, b):
    """IoU of every box of ``a`` (N, 4) with every box of ``b`` (M, 4), rel_yxyx."""
    top = np.maximum(a[:, None, 0], b[None, :, 0])
    left = np.maximum(a[:, None, 1], b[None, :, 1])
    bottom = np.minimum(a[:, None, 2], b[None, :, 2])
    right = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(bottom - top, 0, None) * np.clip(right - left, 0, None)

    def area(r):
        return (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])

    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def cut_crops(images, targets, num_classes, crop, windows, rng, negatives=3,
              background_iou=0.3):
    """``(crops (N, crop, crop, C) float32, labels (N,) int32)`` of detection ``images``
    (a sequence of (H, W, C) arrays) and their padded ``targets`` (max_boxes, 5): objects
    (their class) and background windows (class ``num_classes``), see the module docstring."""
    import tensorflow as tf

    crops, labels = [], []
    for image, target in zip(images, targets):
        target = np.asarray(target, np.float32).reshape(-1, 5)
        objects = target[target[:, 4] >= 0]
        boxes = [square_around(row[:4]) for row in objects]
        classes = [int(row[4]) for row in objects]
        grid = window_grid(image.shape[0], image.shape[1], windows)
        overlap = (iou_matrix(grid, objects[:, :4]).max(1) if len(objects)
                   else np.zeros(len(grid)))
        free = np.flatnonzero(overlap < background_iou)
        for j in rng.choice(free, size=min(len(free), negatives * max(len(objects), 1)),
                            replace=False):
            boxes.append(grid[j])
            classes.append(num_classes)
        if not boxes:
            continue
        cut = tf.image.crop_and_resize(np.asarray(image, np.float32)[None],
                                       np.asarray(boxes, np.float32),
                                       np.zeros(len(boxes), np.int32), (crop, crop))
        crops.append(cut.numpy())
        labels += classes
    channels = int(np.asarray(images[0]).shape[-1]) if len(images) else 3
    if not crops:
        return np.zeros((0, crop, crop, channels), np.float32), np.zeros((0,), np.int32)
    return np.concatenate(crops), np.asarray(labels, np.int32)


def _sizes(windows):
    if isinstance(windows, str):
        windows = [w for w in windows.split(",") if w.strip()]
    try:
        sizes = [int(w) for w in windows]
    except (TypeError, ValueError):
        sizes = []
    if not sizes or min(sizes) < 1:
        raise DataError(f"crops: windows must be window sides in pixels (e.g. [20, 28] or "
                        f"'20,28'), got {windows!r}")
    return sizes


@register_source("crops", task="classification",
                 description="crops[:<detection spec>]: object and background crops of a "
                             "detection dataset (default: shapes_detection) for a window "
                             "classifier")
def crops(root="shapes_detection", crop=32, windows=(20, 28, 40, 56), negatives=3,
          background_iou=0.3, seed=0, source_kwargs=None):
    """K + 1 class crops of the detection dataset ``root`` (see the module docstring).

    Args:
        root: a detection dataset spec (``shapes_detection``, ``coco:/data/x``, ...).
        crop: the crops' side in pixels.
        windows: background window sides in pixels (a list or ``"20,28"``).
        negatives: background windows per object.
        background_iou: a background window's IoU with every object is below this.
        seed: the background windows' draw.
        source_kwargs: arguments of the detection source (a dict).
    """
    import tensorflow as tf

    sizes = _sizes(windows)
    if int(crop) < 1 or int(negatives) < 0 or not 0 < float(background_iou) <= 1:
        raise DataError(f"crops: crop must be >= 1, negatives >= 0 and background_iou in "
                        f"(0, 1], got crop={crop!r}, negatives={negatives!r}, "
                        f"background_iou={background_iou!r}")
    if root.split(":", 1)[0] == "crops":
        raise DataError(f"crops: root {root!r} is itself a crops dataset")
    from kerascv_apps.tasks.detection import DetectionTask

    inner = load_dataset(root, **dict(source_kwargs or {}))
    if not DetectionTask.accepts_data(inner.task):  # boxes to cut crops from
        raise DataError(f"crops: {root!r} is a {inner.task} dataset; crops are cut from a "
                        f"detection dataset's boxes")
    k = inner.num_classes
    parts, sizes_out, counts = {}, {}, {}
    for split, offset in SPLIT_OFFSETS.items():
        images, targets = [], []
        for image, target in getattr(inner, split).as_numpy_iterator():
            images.append(image)
            targets.append(target)
        rng = np.random.default_rng(int(seed) + offset)
        x, y = cut_crops(images, targets, k, int(crop), sizes, rng, int(negatives),
                         float(background_iou))
        parts[split] = tf.data.Dataset.from_tensor_slices((x, y))
        sizes_out[split] = len(y)
        counts[split] = {"objects": int((y < k).sum()), "background": int((y == k).sum())}
    channels = int(inner.image_shape[-1] or 3)
    return DatasetSplits(
        name=f"crops:{inner.name}", task="classification", image_shape=(int(crop), int(crop),
                                                                          channels),
        num_classes=k + 1, class_names=list(inner.class_names) + [BACKGROUND],
        sizes=sizes_out, info={"source": root, "windows": sizes, "negatives": int(negatives),
                               "background_iou": float(background_iou), "seed": int(seed),
                               "crops": counts, "horizontal_flip": True}, **parts)
