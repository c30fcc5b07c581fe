"""The lectures' baseline: detection by classification with a sliding window.

    python recipes/detection/sliding_window.py --epochs 8

1. A classifier of the package (``resnet18``, narrow, 32 x 32 input) learns K + 1 classes on
   crops of the ``shapes_detection`` training split: each object's square crop (its box's
   longer side, centred; K classes) and windows that overlap no object (IoU < 0.3 with every
   box; the background class), about three per object.
2. Each test image is scanned with square windows of several sizes (``--windows``, pixels) at
   a quarter-window stride; every window is cropped, resized to 32 x 32 and classified (one
   batched forward pass per image), a window's class scores are its detection scores, and
   per-class NMS keeps the best (``layers.box_ops.select_detections``, as the detectors'
   decode).
3. COCO figures by the detection task's evaluation (pycocotools) on the test split, and the
   time per image of step 2. Prints one JSON line.

Measured here (2 shared CPU cores, heavily loaded): ``--epochs 8``: 934 windows per image,
test mAP@0.5 0.265, mAP@[.5:.95] 0.109, 0.296 s per image (classifier: 5,510 crops, 42 s
of process CPU time).

The crop classifier trains with its own ``fit``, not the package's ``train_model``: it learns
from crops this recipe cuts in memory (objects and background windows), which no dataset
source the driver loads provides.
"""

import json
import os
import sys
import time

from kerascv_apps.config import recipe_parser

FLAGS = ("epochs",)  # the TrainConfig key this recipe lets you change (the crop classifier's)
OWN_FLAGS = {
    "image_size": (128, "image side (pixels)"),
    "windows": ("20,28,40,56", "window sizes in pixels, comma-separated"),
    "crop": (32, "the classifier's input side (pixels)"),
    "num_train": (600, "training images (their crops train the classifier)"),
    "num_test": (200, "test images scanned"),
    "iou_threshold": (0.3, "NMS IoU threshold"),
}


def square_around(box, scale=1.0):
    """The square (rel_yxyx) centred on ``box`` with side = its longer side x ``scale``."""
    y0, x0, y1, x1 = box
    side = max(y1 - y0, x1 - x0) * scale
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    return [cy - side / 2, cx - side / 2, cy + side / 2, cx + side / 2]


def windows(size, sizes):
    """Square windows (rel_yxyx) of each size in pixels at a quarter-window stride."""
    import numpy as np

    out = []
    for w in sizes:
        stride = max(w // 4, 1)
        starts = list(range(0, size - w + 1, stride))
        if starts[-1] != size - w:
            starts.append(size - w)
        for y in starts:
            for x in starts:
                out.append([y / size, x / size, (y + w) / size, (x + w) / size])
    return np.asarray(out, np.float32)


def iou_matrix(a, b):
    import numpy as np

    top = np.maximum(a[:, None, 0], b[None, :, 0])
    left = np.maximum(a[:, None, 1], b[None, :, 1])
    bottom = np.minimum(a[:, None, 2], b[None, :, 2])
    right = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(bottom - top, 0, None) * np.clip(right - left, 0, None)
    area = lambda r: (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def classifier_crops(images, targets, num_classes, crop, rng, all_windows, negatives=3):
    """(crops (N, crop, crop, 3), labels (N,)): objects and background windows."""
    import numpy as np
    import tensorflow as tf

    boxes, index, labels = [], [], []
    for i, target in enumerate(targets):
        objects = target[target[:, 4] >= 0]
        for row in objects:
            boxes.append(square_around(row[:4]))
            index.append(i)
            labels.append(int(row[4]))
        overlap = (iou_matrix(all_windows, objects[:, :4]).max(1) if len(objects)
                   else np.zeros(len(all_windows)))
        free = np.flatnonzero(overlap < 0.3)
        for j in rng.choice(free, size=min(len(free), negatives * max(len(objects), 1)),
                            replace=False):
            boxes.append(all_windows[j])
            index.append(i)
            labels.append(num_classes)
    crops = tf.image.crop_and_resize(images, np.asarray(boxes, np.float32),
                                     np.asarray(index, np.int32), (crop, crop))
    return crops.numpy(), np.asarray(labels, np.int32)


def main(argv=None):
    args = recipe_parser(__doc__, None, FLAGS, {"epochs": 8}, OWN_FLAGS,
                         overwrite=False).parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf

    from kerascv_apps import build_model
    from kerascv_apps.data.sources.base import load_dataset
    from kerascv_apps.layers.box_ops import select_detections
    from kerascv_apps.tasks.base import get_task
    from kerascv_apps.tasks.detection import pack_detections

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    size = args.image_size
    splits = load_dataset("shapes_detection", image_size=size, num_train=args.num_train,
                          num_val=8, num_test=args.num_test)
    k = splits.num_classes
    grid = windows(size, [int(w) for w in args.windows.split(",")])
    images, targets = (np.stack(a) for a in zip(*splits.train.as_numpy_iterator()))
    crops, labels = classifier_crops(images, targets, k, args.crop, rng, grid)
    classifier = build_model("resnet18", input_shape=(args.crop, args.crop, 3),
                             num_classes=k + 1, stackwise_num_filters=(16, 32, 64, 128),
                             stem_filters=16)
    classifier.compile(optimizer=keras.optimizers.Adam(1e-3),
                       loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.process_time(), time.time()
    history = classifier.fit(crops, labels, batch_size=64, epochs=args.epochs, verbose=2,
                             shuffle=True)
    train_cpu, train_wall = time.process_time() - start[0], time.time() - start[1]

    task = get_task("detection", num_classes=k, class_names=splits.class_names)
    task.image_size = (size, size)
    boxes = tf.constant(grid)

    @tf.function
    def detect(image):
        crops = tf.image.crop_and_resize(image[None], boxes, tf.zeros(len(grid), tf.int32),
                                         (args.crop, args.crop))
        probs = classifier(crops, training=False)[:, :k]
        decoded = select_detections(boxes[None], probs[None], task.max_detections,
                                    task.score_threshold, args.iou_threshold)
        return pack_detections(decoded)[0]

    test_images, test_targets = (np.stack(a) for a in zip(*splits.test.as_numpy_iterator()))
    detect(test_images[0])  # trace once
    t0 = time.time()
    predictions = [detect(image).numpy() for image in test_images]
    per_image = (time.time() - t0) / len(test_images)
    results = task.evaluate(list(test_targets), predictions)
    summary = {
        "method": "sliding_window", "image_size": size, "windows_per_image": len(grid),
        "window_sizes": args.windows, "classifier": "resnet18 (16-128 filters)",
        "classifier_crops": len(labels), "classifier_epochs": args.epochs,
        "classifier_train_accuracy": float(history.history["accuracy"][-1]),
        "map_50": results["map_50"], "map_50_95": results["map_50_95"],
        "per_class_ap50": {r["class"]: r["ap_50"] for r in results["per_class"]},
        "train_cpu_s": round(train_cpu, 1), "train_wall_s": round(train_wall, 1),
        "detect_s_per_image": round(per_image, 4), "num_test": len(test_images),
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
