"""The phone detector (``ssd_mobilenet_v2_tiny``: MobileNetV2 + FPN-lite, focal loss) on the
embedded ``shapes_detection`` set, then its int8 TFLite file (ending in DETECTION_POSTPROCESS)
checked three ways on the test split: COCO mAP (pycocotools) of Keras and of the int8 file run by
LiteRT, and MediaPipe's ObjectDetector against LiteRT on the same file.

    nice -n 5 python recipes/detection/train_phone_detector.py --out runs/detection/phone \
        [--image-size 128] [--epochs 40] [--batch-size 16] [--num-train 600] [--bn-momentum 0.9]

Writes ``report.json`` (figures, CPU and wall times, the command), the model
(``model.keras``) and ``phone_int8.tflite`` / ``phone_float32.tflite`` into ``--out``.

It trains with its own ``fit``, not the package's ``train_model``: Adam with gradients clipped
to norm 10 (the driver has no clipping option) on the whole arrays, and it checks the
exported files three ways (Keras, LiteRT, MediaPipe on the same file), beyond what the
driver's export verification compares.
"""

import json
import os
import sys
import time

import numpy as np

from kerascv_apps.config import recipe_parser

FLAGS = ("epochs", "batch_size", "learning_rate", "seed")  # TrainConfig keys with a flag
CONFIG = {"epochs": 40, "batch_size": 16, "learning_rate": 3e-3, "seed": 0}
OWN_FLAGS = {
    "out": ("runs/detection/phone", "output folder"),
    "image_size": (128, "image side (pixels)"),
    "num_train": (600, "training images"),
    "num_test": (200, "test images"),
    "bn_momentum": (0.9, "backbone batch-norm momentum (MobileNetV2's 0.999 leaves the "
                         "moving statistics far from the batch ones after a short run)"),
}


def coco_map(targets, predictions, image_size, num_classes):
    """pycocotools' COCO box AP of per-image detections (dicts of rel_yxyx ``boxes``,
    ``classes``, ``scores``) against padded targets (N, max_boxes, 5): ``map_50_95``,
    ``map_50``, ``map_75``."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    h = w = float(image_size)

    def xywh(b):
        return [float(b[1] * w), float(b[0] * h), float((b[3] - b[1]) * w),
                float((b[2] - b[0]) * h)]

    images, annotations, detections = [], [], []
    for i, (target, pred) in enumerate(zip(targets, predictions)):
        images.append({"id": i, "width": int(w), "height": int(h)})
        for row in np.asarray(target):
            if row[4] < 0:
                continue
            box = xywh(row[:4])
            annotations.append({"id": len(annotations) + 1, "image_id": i,
                                "category_id": int(row[4]) + 1, "bbox": box,
                                "area": box[2] * box[3], "iscrowd": 0})
        for box, cls, score in zip(pred["boxes"], pred["classes"], pred["scores"]):
            detections.append({"image_id": i, "category_id": int(cls) + 1,
                               "bbox": xywh(np.clip(box, 0, 1)), "score": float(score)})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": annotations,
                  "categories": [{"id": c + 1, "name": str(c)} for c in range(num_classes)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(detections) if detections else COCO()
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"map_50_95": float(ev.stats[0]), "map_50": float(ev.stats[1]),
            "map_75": float(ev.stats[2])}


def keras_detections(model, images, batch_size=32, score_threshold=0.05):
    from kerascv_apps.models.detection.ssd import SSDHead

    head = SSDHead(model)
    out = []
    for start in range(0, len(images), batch_size):
        raw = model(images[start:start + batch_size], training=False)
        d = head.decode(raw, max_detections=100, score_threshold=score_threshold,
                        iou_threshold=0.5)
        for i in range(len(d["count"])):
            n = int(d["count"][i])
            out.append({"boxes": np.asarray(d["boxes"][i, :n]),
                        "classes": np.asarray(d["classes"][i, :n]),
                        "scores": np.asarray(d["scores"][i, :n])})
    return out


def main(argv=None):
    args = recipe_parser(__doc__, None, FLAGS, CONFIG, OWN_FLAGS,
                         overwrite=False).parse_args(argv)

    import keras
    import tensorflow as tf

    from kerascv_apps.data.sources.shapes_detection import load_shapes_detection
    from kerascv_apps.export import detection_tflite as dt
    from kerascv_apps.registry import build_model
    from kerascv_apps.tasks.detection import training_graph

    cpu0, wall0 = time.process_time(), time.time()
    keras.utils.set_random_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    splits = load_shapes_detection(image_size=args.image_size, num_train=args.num_train,
                                   num_test=args.num_test, seed=args.seed)

    def arrays(ds):
        xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
        return np.stack(xs), np.stack(ys)

    x_train, y_train = arrays(splits.train)
    x_val, y_val = arrays(splits.val)
    x_test, y_test = arrays(splits.test)

    model = build_model("ssd_mobilenet_v2_tiny", num_classes=splits.num_classes,
                        input_shape=(args.image_size, args.image_size, 3),
                        bn_momentum=args.bn_momentum)
    trainer = training_graph(model)
    steps = args.epochs * int(np.ceil(len(x_train) / args.batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(args.learning_rate, steps,
                                                      warmup_target=None)
    trainer.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=10.0))

    def flip(x, y):  # horizontal flip, boxes flipped with their objects
        keep = y[..., 4:5] < 0
        flipped = tf.concat([y[..., 0:1], 1.0 - y[..., 3:4], y[..., 2:3], 1.0 - y[..., 1:2],
                             y[..., 4:5]], -1)
        flipped = tf.where(keep, y, flipped)
        return tf.image.flip_left_right(x), flipped

    def augment(x, y):
        return tf.cond(tf.random.uniform(()) < 0.5, lambda: flip(x, y), lambda: (x, y))

    train = (tf.data.Dataset.from_tensor_slices((x_train, y_train)).shuffle(len(x_train),
                                                                             seed=args.seed)
             .map(augment).batch(args.batch_size).prefetch(2))
    t_train = time.process_time()
    history = trainer.fit(train, validation_data=(x_val, y_val), epochs=args.epochs,
                          verbose=2).history
    train_cpu = time.process_time() - t_train
    model.save(os.path.join(args.out, "model.keras"))

    report = {"command": " ".join([os.path.basename(sys.executable)] + sys.argv),
              "args": vars(args), "train_cpu_s": train_cpu, "steps": steps,
              "loss_first_last": [history["loss"][0], history["loss"][-1]],
              "val_loss_last": history["val_loss"][-1]}
    report["keras"] = coco_map(y_test, keras_detections(model, x_test), args.image_size,
                               splits.num_classes)
    print("keras", report["keras"], flush=True)

    calibration = [x_train[i:i + 1] for i in range(0, min(200, len(x_train)))]
    images = np.clip(np.round(x_test), 0, 255).astype(np.uint8)
    for mode in ("float32", "int8"):
        data = dt.export_detector_tflite(model, splits.class_names, mode=mode,
                                         representative_data=calibration, max_detections=100,
                                         score_threshold=0.05, iou_threshold=0.5,
                                         use_regular_nms=True, detections_per_class=100)
        with open(os.path.join(args.out, f"phone_{mode}.tflite"), "wb") as f:
            f.write(data)
        litert = dt.run_litert(data, images)
        figures = coco_map(y_test, litert, args.image_size, splits.num_classes)
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
    with open(os.path.join(args.out, "report.json.tmp"), "w") as f:
        json.dump(report, f, indent=2)
    os.replace(os.path.join(args.out, "report.json.tmp"), os.path.join(args.out, "report.json"))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
