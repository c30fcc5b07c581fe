"""``shapes_detection``: the embedded detection dataset (deterministic, no download).

Each image is a crop of one of scikit-image's bundled grey photos (grass, gravel, brick,
camera; darkened, faintly tinted) with 1 to ``max_objects`` objects drawn on it by the
``shapes`` source's drawing (``data/sources/shapes.py``): circles, rectangles and triangles
(the 3 classes) of a saturated colour modulated by a crop of a colour photo, at varied size and
rotation. Objects overlap at most ``max_overlap`` of their pixels (a placement that overlaps
more is drawn again), so every box has its object visible. A fraction ``empty_fraction`` of
the images has no object at all: background examples, kept in every split. Each box is the
pixel-edge bounding box of its object's drawn instance mask (``instances`` of the shapes
drawing), so boxes are exact by construction.

Splits are fixed: train, val and test are drawn from seeds ``seed * 1000 + 0 / 1 / 2``.
"""

import numpy as np

from kerascv_apps.data.detection import boxes_from_mask, pad_boxes, pixel_box
from kerascv_apps.data.sources.base import DataError, DatasetSplits, register_source
from kerascv_apps.models.detection.heads import DEFAULT_MAX_BOXES

CLASS_NAMES = ["circle", "rectangle", "triangle"]


def render_detection_example(rng, size=96, max_objects=4, empty_fraction=0.1,
                             radius=(0.08, 0.22), max_overlap=0.1, texture_strength=0.45):
    """One ``(image float32 (size, size, 3) in [0, 255], instances int32 (size, size),
    classes int32 (size, size))``; class ids 0..2 (``CLASS_NAMES``), instance 0 = none."""
    from kerascv_apps.data.sources.shapes import _shape_mask, background, paint

    image = background(rng, size)
    instances = np.zeros((size, size), np.int32)
    classes = np.zeros((size, size), np.int32)
    count = 0 if rng.random() < empty_fraction else int(rng.integers(1, max_objects + 1))
    for inst in range(1, count + 1):
        kind = int(rng.integers(len(CLASS_NAMES)))
        for _ in range(20):  # a placement overlapping the others too much is drawn again
            r = rng.uniform(*radius) * size
            center = tuple(rng.uniform(r * 0.8, size - r * 0.8, size=2))
            shape = _shape_mask(rng, kind + 1, size, center, r, rng.uniform(0, 2 * np.pi))
            area = int(shape.sum())
            if area < 16:
                continue
            overlap = shape & (instances > 0)
            if overlap.sum() > max_overlap * area:
                continue
            others = np.unique(instances[overlap])
            if any(overlap[instances == o].sum() > max_overlap * (instances == o).sum()
                   for o in others if o):
                continue
            break
        else:
            continue
        paint(rng, image, shape, texture_strength)
        instances[shape] = inst
        classes[shape] = kind
    return np.clip(image, 0, 255).astype(np.float32), instances, classes


def generate(count, size=96, seed=0, max_objects=4, empty_fraction=0.1,
             max_boxes=DEFAULT_MAX_BOXES):
    """``count`` examples as numpy arrays (images (count, size, size, 3), boxes (count,
    max_boxes, 5)); same arguments, same data."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, size, size, 3), np.float32)
    boxes = np.zeros((count, int(max_boxes), 5), np.float32)
    for i in range(count):
        images[i], instances, classes = render_detection_example(rng, size, max_objects,
                                                                 empty_fraction)
        where = f"shapes_detection example {i} (seed {seed})"
        rows = [pixel_box(*box, size, size, cls, len(CLASS_NAMES), where)
                for box, cls in boxes_from_mask(instances, classes)]
        boxes[i] = pad_boxes(rows, max_boxes, where)
    return images, boxes


@register_source("shapes_detection", task="detection")
def load_shapes_detection(image_size=96, num_train=600, num_val=100, num_test=200, seed=0,
                          max_objects=4, empty_fraction=0.1, max_boxes=DEFAULT_MAX_BOXES):
    """Drawn circles, rectangles and triangles on real-photo backgrounds, with exact boxes
    (see the module docstring); deterministic, fixed splits."""
    import tensorflow as tf

    if int(image_size) < 32:
        raise DataError(f"shapes_detection: image_size must be at least 32, got {image_size!r}")
    for arg, n in (("num_train", num_train), ("num_val", num_val), ("num_test", num_test),
                   ("max_objects", max_objects), ("max_boxes", max_boxes)):
        if int(n) < 1:
            raise DataError(f"shapes_detection: {arg} must be a positive int, got {n!r}")
    if int(max_objects) > int(max_boxes):
        raise DataError(f"shapes_detection: max_objects={max_objects} is more than "
                        f"max_boxes={max_boxes}")
    if not 0 <= float(empty_fraction) < 1:
        raise DataError(f"shapes_detection: empty_fraction must be in [0, 1), got "
                        f"{empty_fraction!r}")
    splits, counts = {}, {}
    for offset, (split, count) in enumerate((("train", num_train), ("val", num_val),
                                             ("test", num_test))):
        images, boxes = generate(int(count), int(image_size), seed * 1000 + offset,
                                 int(max_objects), float(empty_fraction), int(max_boxes))
        splits[split] = tf.data.Dataset.from_tensor_slices((images, boxes))
        objects = boxes[..., 4] >= 0
        counts[split] = {"objects": int(objects.sum()),
                         "background_images": int((~objects.any(-1)).sum())}
    size = int(image_size)
    return DatasetSplits(
        name="shapes_detection", task="detection", train=splits["train"], val=splits["val"],
        test=splits["test"], image_shape=(size, size, 3), num_classes=len(CLASS_NAMES),
        class_names=list(CLASS_NAMES),
        sizes={"train": int(num_train), "val": int(num_val), "test": int(num_test)},
        info={"max_boxes": int(max_boxes), "box_format": "rel_yxyx", "objects": counts})
