"""The phone detector (``ssd_mobilenet_v2_tiny``: MobileNetV2 + FPN-lite, focal loss) on the
embedded ``shapes_detection`` set, then its int8 TFLite file (ending in DETECTION_POSTPROCESS)
checked three ways on the test split: COCO mAP (pycocotools) of Keras and of the int8 file run by
LiteRT, and MediaPipe's ObjectDetector against LiteRT on the same file.

    nice -n 5 python recipes/detection/train_phone_detector.py --out runs/detection/phone \
        [--image-size 128] [--epochs 40] [--batch-size 16] [--num-train 600] [--bn-momentum 0.9] \
        [--clipnorm 10] [--overwrite]

Writes ``report.json`` (figures, CPU and wall times, the command), the model
(``model.keras``) and ``phone_int8.tflite`` / ``phone_float32.tflite`` into ``--out``.

It trains through the package's driver (``kerascv_apps.experiment.train_model``, evaluated
on the test split while it holds ``--out``, as ``kerascv-apps train`` does): Adam, cosine
schedule, each weight's gradient clipped to norm 10 (TrainConfig ``clipnorm``), horizontal
flips only (the detection task's ``box_augment=flip``), float32. Its own lines come after:
the int8 / float32 files with DETECTION_POSTPROCESS, and the three-way check of the same file
(Keras, LiteRT, MediaPipe), beyond what the driver's export verification compares. Every COCO
figure is the detection task's evaluation (pycocotools).

Measured here with the defaults (2 shared CPU cores, heavily loaded; ``nice -n 10``): test
mAP@0.5 Keras 0.9457 (mAP@[.5:.95] 0.8115), float32 file 0.9457 (0.8082), int8 file 0.9481
(0.8079, 878,584 bytes); MediaPipe's ObjectDetector matched LiteRT on 100% of the boxes of
both files (1,595 / 1,595 and 1,597 / 1,597 at IoU >= 0.95, same class, label names as
labels.txt). 598 s of process CPU time to train and evaluate (XLA off, the package's CPU
policy), 625 s in all, 31 min wall. Before it trained through the driver (own ``fit``, XLA
on): Keras 0.9435 (0.7958), int8 0.9404, MediaPipe vs LiteRT 100%, about 350 s CPU.
"""

import json
import os
import sys
import time

import numpy as np

from kerascv_apps.config import config_from_args, recipe_parser

FLAGS = ("epochs", "batch_size", "learning_rate", "clipnorm", "seed")  # TrainConfig keys
CONFIG = {"epochs": 40, "batch_size": 16, "learning_rate": 3e-3, "clipnorm": 10.0, "seed": 0}
FIXED = {"dataset": "shapes_detection", "optimizer": "adam", "schedule": "cosine",
         "augment": "tf", "task_kwargs": {"box_augment": "flip"}, "precision": "float32"}
OWN_FLAGS = {
    "out": ("runs/detection/phone", "output folder (the run directory)"),
    "image_size": (128, "image side (pixels)"),
    "num_train": (600, "training images"),
    "num_test": (200, "test images"),
    "bn_momentum": (0.9, "backbone batch-norm momentum (MobileNetV2's 0.999 leaves the "
                         "moving statistics far from the batch ones after a short run)"),
}
COCO = ("map_50_95", "map_50", "map_75")


def packed(detections, k=100):
    """One image's detections (dicts of rel_yxyx ``boxes``, ``classes``, ``scores``, as
    ``run_litert`` returns them) as the task's packed (k, 6) rows."""
    from kerascv_apps.tasks.detection import pack_numpy

    n = min(len(detections["scores"]), k)
    boxes, classes, scores = (np.zeros((1, k) + tail, np.float32) for tail in ((4,), (), ()))
    boxes[0, :n] = detections["boxes"][:n]
    classes[0, :n] = detections["classes"][:n]
    scores[0, :n] = detections["scores"][:n]
    return pack_numpy(boxes, classes, scores, [n])[0]


def main(argv=None):
    args = recipe_parser(__doc__, None, FLAGS, CONFIG, OWN_FLAGS).parse_args(argv)
    config = config_from_args(
        args, FLAGS, "ssd_mobilenet_v2_tiny", **CONFIG, **FIXED,
        dataset_kwargs={"image_size": args.image_size, "num_train": args.num_train,
                        "num_test": args.num_test, "seed": args.seed},
        model_kwargs={"bn_momentum": args.bn_momentum})

    from kerascv_apps.experiment import train_model
    from kerascv_apps.export import detection_tflite as dt
    from kerascv_apps.io import atomic_write_bytes, atomic_write_text

    cpu0, wall0 = time.process_time(), time.time()
    trained = train_model(**config.train_kwargs(), run_dir=args.out, overwrite=args.overwrite,
                          verbose=2, evaluate=True)
    model, task, splits = trained.model, trained.task, trained.splits
    history = trained.result.history
    report = {"command": " ".join([os.path.basename(sys.executable)] + sys.argv),
              "args": vars(args), "config": config.to_dict(),
              "train_and_eval_cpu_s": time.process_time() - cpu0,
              "epochs_run": len(trained.result.epochs_run),
              "loss_first_last": [history["loss"][0], history["loss"][-1]],
              "val_loss_last": history["val_loss"][-1],
              "keras": {k: trained.evaluation[k] for k in COCO}}
    print("keras", report["keras"], flush=True)

    x_test, y_test = (np.stack(a) for a in zip(*splits.test.as_numpy_iterator()))
    calibration = [x[None] for x, _ in splits.train.take(200).as_numpy_iterator()]
    images = np.clip(np.round(x_test), 0, 255).astype(np.uint8)
    for mode in ("float32", "int8"):
        data = dt.export_detector_tflite(model, splits.class_names, mode=mode,
                                         representative_data=calibration, max_detections=100,
                                         score_threshold=0.05, iou_threshold=0.5,
                                         use_regular_nms=True, detections_per_class=100)
        atomic_write_bytes(os.path.join(args.out, f"phone_{mode}.tflite"), data)
        litert = dt.run_litert(data, images)
        coco = task.coco(list(y_test), [packed(d) for d in litert])
        figures = {k: coco[k] for k in COCO}
        mediapipe = dt.run_mediapipe(data, images)
        matched, total = dt.match_detections(
            dt.in_mediapipe_pixels(litert, args.image_size, args.image_size), mediapipe, 0.95)
        names_ok = all(r["names"] == [splits.class_names[c] for c in r["classes"]]
                       for r in mediapipe)
        agreement = matched / total if total else 1.0
        figures.update(size_bytes=len(data), mediapipe_matched=matched,
                       mediapipe_total=total, mediapipe_agreement=agreement,
                       mediapipe_names_match_labels=names_ok)
        report[f"tflite_{mode}"] = figures
        print(mode, figures, flush=True)
        print(f"{mode}: MediaPipe ObjectDetector vs LiteRT on the same file: {matched}/{total} "
              f"= {100 * agreement:.2f}% of boxes matched at IoU >= 0.95 with the same class "
              f"({'meets' if agreement >= 0.99 else 'BELOW'} the 99% gate); label names match "
              f"labels.txt: {names_ok}", flush=True)
    report["total_cpu_s"] = time.process_time() - cpu0
    report["total_wall_s"] = time.time() - wall0
    atomic_write_text(os.path.join(args.out, "report.json"), json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
