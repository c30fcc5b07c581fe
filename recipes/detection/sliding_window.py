"""The lectures' baseline: detection by classification with a sliding window.

    python recipes/detection/sliding_window.py --epochs 8 [--run-dir runs/detection/sliding_window] \
        [--overwrite]

1. A classifier of the package (``resnet18``, narrow, 32 x 32 input) learns K + 1 classes on
   crops of the ``shapes_detection`` training split (``--dataset crops:shapes_detection``,
   ``kerascv_apps/data/sources/detection_crops.py``): each object's square crop (its box's
   longer side, centred; K classes) and windows that overlap no object (IoU < 0.3 with every
   box; the background class), about three per object. It trains through the package's
   driver (``train_model``, evaluated on the test split's crops), into ``--run-dir``.
2. Each test image is scanned with square windows of several sizes (``--windows``, pixels) at
   a quarter-window stride (the crops source's ``window_grid``); every window is cropped,
   resized to 32 x 32 and classified (one batched forward pass per image), a window's class
   scores are its detection scores, and per-class NMS keeps the best
   (``layers.box_ops.select_detections``, as the detectors' decode).
3. COCO figures by the detection task's evaluation (pycocotools) on the test split, and the
   time per image of step 2. Prints one JSON line.

Measured here (2 shared CPU cores, heavily loaded; ``nice -n 10``): ``--epochs 8``: 934
windows per image, test mAP@0.5 0.288, mAP@[.5:.95] 0.115, 0.112 s per image (classifier:
5,510 training crops, the same crops as before, test-crop accuracy 0.984; loading the crops,
training and evaluating took 57 s of process CPU time, the whole recipe 80 s, 3 min 45 s
wall). With its own ``fit`` on crops cut in the recipe it measured mAP@0.5 0.265,
mAP@[.5:.95] 0.109, 0.296 s per image (42 s CPU to train); the per-image time follows the
machine's load.
"""

import json
import os
import sys
import time

from kerascv_apps.config import config_from_args, recipe_parser

FLAGS = ("epochs",)  # the TrainConfig key this recipe lets you change (the crop classifier's)
CONFIG = {"epochs": 8}
FIXED = {"batch_size": 64, "optimizer": "adam", "learning_rate": 1e-3, "schedule": "constant",
         "augment": "none", "precision": "float32", "seed": 0}
OWN_FLAGS = {
    "image_size": (128, "image side (pixels)"),
    "windows": ("20,28,40,56", "window sizes in pixels, comma-separated"),
    "crop": (32, "the classifier's input side (pixels)"),
    "num_train": (600, "training images (their crops train the classifier)"),
    "num_test": (200, "test images scanned"),
    "iou_threshold": (0.3, "NMS IoU threshold"),
}
NUM_VAL = 8  # validation images (their crops are the classifier's validation split)


def main(argv=None):
    args = recipe_parser(__doc__, "runs/detection/sliding_window", FLAGS, CONFIG,
                         OWN_FLAGS).parse_args(argv)
    size = args.image_size
    detection = {"image_size": size, "num_train": args.num_train, "num_val": NUM_VAL,
                 "num_test": args.num_test}
    config = config_from_args(
        args, FLAGS, "resnet18", **CONFIG, **FIXED, dataset="crops:shapes_detection",
        dataset_kwargs={"crop": args.crop, "windows": args.windows, "source_kwargs": detection},
        model_kwargs={"stackwise_num_filters": [16, 32, 64, 128], "stem_filters": 16})

    import numpy as np
    import tensorflow as tf

    from kerascv_apps.data.sources.base import load_dataset
    from kerascv_apps.data.sources.detection_crops import window_grid
    from kerascv_apps.experiment import train_model
    from kerascv_apps.layers.box_ops import select_detections
    from kerascv_apps.tasks.base import get_task
    from kerascv_apps.tasks.detection import pack_detections

    start = time.process_time(), time.time()
    trained = train_model(**config.train_kwargs(), run_dir=args.run_dir,
                          overwrite=args.overwrite, verbose=2, evaluate=True)
    train_cpu, train_wall = time.process_time() - start[0], time.time() - start[1]
    classifier, crop_splits = trained.model, trained.splits
    history = trained.result.history
    k = crop_splits.num_classes - 1
    splits = load_dataset("shapes_detection", **detection)  # the images the crops came from
    grid = window_grid(size, size, [int(w) for w in args.windows.split(",")])

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
        "classifier_crops": crop_splits.sizes["train"], "classifier_epochs": args.epochs,
        "classifier_train_accuracy": float(history["accuracy"][-1]),
        "classifier_test_crop_accuracy": float(trained.evaluation["accuracy"]),
        "map_50": results["map_50"], "map_50_95": results["map_50_95"],
        "per_class_ap50": {r["class"]: r["ap_50"] for r in results["per_class"]},
        "train_and_eval_cpu_s": round(train_cpu, 1),
        "train_and_eval_wall_s": round(train_wall, 1),
        "detect_s_per_image": round(per_image, 4), "num_test": len(test_images),
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
