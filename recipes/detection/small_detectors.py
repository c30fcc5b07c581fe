"""Train a small two-stage or one-stage detector on the embedded ``shapes_detection`` set and
report COCO figures (pycocotools, the detection task's evaluation) on its test split.

    python recipes/detection/small_detectors.py --model faster_rcnn_small --epochs 30
    python recipes/detection/small_detectors.py --model yolo_v1_small --epochs 50

The model trains through its family's detection head (``DetectionTask.training_model``: the
head's loss in the compiled train step), Adam with a cosine schedule, random horizontal flips
(boxes mirrored with the pixels). Prints one JSON line: mAP@0.5, mAP@[.5:.95], per-class AP,
training seconds and images/s, evaluation time per image.

Measured here (2 shared CPU cores, load average above 15, so wall times are long):
``--model faster_rcnn_small --epochs 25``: test mAP@0.5 0.870, mAP@[.5:.95] 0.456 (200 test
images), 227 s of process CPU time, 973 s wall, 0.067 s per image to detect.
``--model yolo_v1_small --epochs 50 --learning-rate 1e-3 --model-arg width=0.25
--model-arg fc_units=512 --model-arg dropout=0.0`` (today's yolo_v1_small defaults): test
mAP@0.5 0.136, mAP@[.5:.95] 0.035, final training loss 1.03 (587 s CPU, 1,688 s wall): far
below Faster R-CNN's; with filters x 1/8, a 256-unit FC and dropout 0.5 (30 epochs, lr 5e-4)
it was 0.024.
Those runs sat at the mean prediction (loss ~3.3, mAP@0.5 0.009 on the training images after
20 epochs): with batch norm at Keras' momentum 0.99 the inference-mode network lagged the
trained one, and without batch norm the Glorot-initialized stack did not learn at all (see
``YOLOv1``'s ``bn_momentum`` and ``kernel_initializer``). With yolo_v1_small's momentum 0.9,
the task's box-aware augmentation and 3x the images:
``--model yolo_v1_small --epochs 30 --num-train 1800 --augment tf --eval-train 200``: test
mAP@0.5 0.335 (circle .372, rectangle .314, triangle .319), mAP@[.5:.95] 0.134, training
images 0.406, final loss 1.82 (still falling: under-fitted, not over-fitted), 930 s CPU,
1,334 s wall (load average 8-9).
At 128 px (S = 4, 32 px cells; 3 of 452 test objects share a cell) with 2400 images:
``--model yolo_v1_small --image-size 128 --epochs 30 --num-train 2400 --augment tf
--eval-train 200``: test mAP@0.5 0.530 (circle .601, rectangle .481, triangle .507),
mAP@[.5:.95] 0.230, training images 0.551, final loss 1.39 (still falling), 796 s CPU,
1,091 s wall. Still under the issue's 0.70: more steps (it is under-fitted) are the next lever.

The detectors train with this recipe's own ``fit``, not the package's ``train_model``: its
default ``--augment flip`` (horizontal flips only) is not one of the detection task's
augmentations, and the figures above were measured with this loop.
"""

import json
import os
import sys
import time

from kerascv_apps.config import recipe_parser

DEFAULTS = {"faster_rcnn_small": dict(image_size=128, lr=1e-3),
            "yolo_v1_small": dict(image_size=160, lr=1e-3)}
FLAGS = ("epochs", "batch_size", "learning_rate")  # TrainConfig keys with a flag
CONFIG = {"epochs": 30, "batch_size": 16, "learning_rate": None}  # None: the model's (DEFAULTS)
OWN_FLAGS = {
    "model": ("faster_rcnn_small", "the detector", tuple(sorted(DEFAULTS))),
    "image_size": {"default": None, "type": int,
                   "help": "image side (pixels; default: the model's, DEFAULTS)"},
    "num_train": (600, "training images"),
    "num_test": (200, "test images"),
    "model_arg": {"default": [], "metavar": "KEY=JSON",
                  "help": "builder argument overriding the variant's (repeatable)"},
    "augment": ("flip", "'flip': random horizontal flips only; 'tf' / 'albumentations': the "
                        "detection task's box-aware augmentation (scale-crop, flip, "
                        "brightness/contrast)", ("flip", "tf", "albumentations")),
    "eval_train": {"default": 0, "metavar": "N",
                   "help": "also report mAP@0.5 on the first N training images (the gap to "
                           "the test split shows over-fitting)"},
    "save": (None, "write the trained model (.keras) here"),
}


def flip(image, boxes):
    """Random horizontal flip of one example (rel_yxyx boxes mirrored, padding kept)."""
    import tensorflow as tf

    do = tf.random.uniform(()) < 0.5
    mirrored = tf.stack([boxes[:, 0], 1.0 - boxes[:, 3], boxes[:, 2], 1.0 - boxes[:, 1],
                         boxes[:, 4]], axis=-1)
    mirrored = tf.where(boxes[:, 4:5] >= 0, mirrored, boxes)
    return tf.cond(do, lambda: (image[:, ::-1], mirrored), lambda: (image, boxes))


def main(argv=None):
    args = recipe_parser(__doc__, None, FLAGS, CONFIG, OWN_FLAGS,
                         overwrite=False).parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf

    from kerascv_apps import build_model
    from kerascv_apps.data.sources.base import load_dataset
    from kerascv_apps.tasks.base import get_task

    defaults = DEFAULTS[args.model]
    size = args.image_size or defaults["image_size"]
    keras.utils.set_random_seed(0)
    splits = load_dataset("shapes_detection", image_size=size, num_train=args.num_train,
                          num_val=8, num_test=args.num_test)
    task = get_task("detection", num_classes=splits.num_classes,
                    class_names=splits.class_names)
    task.image_size = (size, size)
    model_args = {k: json.loads(v) for k, _, v in (a.partition("=") for a in args.model_arg)}
    model = build_model(args.model, **dict(dict(input_shape=(size, size, 3),
                                                num_classes=splits.num_classes), **model_args))
    train = task.training_model(model)
    steps = -(-args.num_train // args.batch_size) * args.epochs
    schedule = keras.optimizers.schedules.CosineDecay(args.learning_rate or defaults["lr"],
                                                      steps)
    train.compile(optimizer=keras.optimizers.Adam(schedule))
    data = splits.train.shuffle(args.num_train, seed=0, reshuffle_each_iteration=True)
    if args.augment == "flip":
        data = data.map(flip)
    else:  # the task's box-aware augmentation, one stateless seed per example
        augment = task.augmentation(args.augment, splits)
        seeds = tf.data.Dataset.random(seed=0, rerandomize_each_iteration=True).batch(2)
        data = tf.data.Dataset.zip((data, seeds)).map(
            lambda example, seed: augment(example[0], example[1], seed))
    data = data.batch(args.batch_size, drop_remainder=True).prefetch(2)
    start = time.process_time(), time.time()
    history = train.fit(data, epochs=args.epochs, verbose=2)
    train_cpu, train_wall = time.process_time() - start[0], time.time() - start[1]
    predictor = task.prediction_model(train)
    images, targets = zip(*list(splits.test.as_numpy_iterator()))
    images, targets = np.stack(images), np.stack(targets)
    predictor.predict(images[:2], verbose=0)  # trace once
    t0 = time.time()
    predictions = predictor.predict(images, batch_size=16, verbose=0)
    per_image = (time.time() - t0) / len(images)
    results = task.evaluate(list(targets), list(task.prediction_outputs(predictions)))
    train_map = None
    if args.eval_train:
        seen = list(splits.train.take(args.eval_train).as_numpy_iterator())
        train_pred = predictor.predict(np.stack([x for x, _ in seen]), batch_size=16, verbose=0)
        train_map = task.evaluate([y for _, y in seen],
                                  list(task.prediction_outputs(train_pred)))["map_50"]
    if args.save:
        train.save(args.save)
    summary = {
        "model": args.model, "model_args": model_args, "image_size": size, "epochs": args.epochs,
        "num_train": args.num_train, "num_test": len(images),
        "map_50": results["map_50"], "map_50_95": results["map_50_95"],
        "augment": args.augment, "learning_rate": args.learning_rate or defaults["lr"],
        "batch_size": args.batch_size, "train_map_50": train_map,
        "per_class_ap50": {r["class"]: r["ap_50"] for r in results["per_class"]},
        "final_loss": float(history.history["loss"][-1]),
        "train_cpu_s": round(train_cpu, 1), "train_wall_s": round(train_wall, 1),
        "train_images_per_s": round(args.num_train * args.epochs / train_wall, 2),
        "eval_s_per_image": round(per_image, 4), "cpu_count": os.cpu_count(),
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
