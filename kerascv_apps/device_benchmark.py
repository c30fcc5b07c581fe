"""``kerascv-apps benchmark``: one run on the current device, one table.

Measures (every figure is images/s over the median of timed steps, after untimed warm-up):

- training images/s of our models and of their ``keras.applications`` twins (ratio ours/twin),
  for every XLA setting and precision policy asked for;
- input pipeline images/s: the digits in-memory pipeline, a streamed JPEG folder with the
  ``tf`` and the ``albumentations`` augmentation, and the same folder prepared as TFRecords,
  all resized to the model's input size; the pipeline/model ratio says whether the input
  pipeline can keep the model busy (>= 1; aim for >= 2);
- TFLite float32 latency (one image, median ms);
- what ``--xla auto`` and ``--precision auto`` pick on this device (``training.device``), and
  which measured setting was fastest.

The JPEG folder is generated into a temporary folder from the photos shipped with
scikit-image (random crops), unless ``folder`` is given; nothing is downloaded.
"""

import os
import shutil
import statistics
import tempfile
import time

TWINS = {
    "mobilenet_v2": "MobileNetV2",
    "resnet50": "ResNet50",
    "efficientnet_b0": "EfficientNetB0",
    "vgg16": "VGG16",
}


def _median_rate(step, batch, steps, warmup):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


def training_rate(build, image_size, batch, steps, warmup=2, xla=False, precision="float32",
                  classes=10, task="classification"):
    """Training images/s of the model ``build(input_shape, classes)`` on random data: raw
    pixels and random targets of its ``task`` (``Task.benchmark_targets``), trained as the
    task trains it (``Task.training_model``, ``Task.loss``: e.g. a detector through its
    head's loss)."""
    import keras
    import numpy as np

    from kerascv_apps.tasks import get_task

    task = get_task(task, num_classes=classes)
    keras.config.set_dtype_policy(precision)
    try:
        model = build((image_size, image_size, 3), classes)
    finally:
        keras.config.set_dtype_policy("float32")
    trainer = task.training_model(model)
    trainer.compile(optimizer=keras.optimizers.SGD(1e-3, momentum=0.9), loss=task.loss(model),
                    jit_compile=bool(xla))
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch, image_size, image_size, 3)).astype("float32")
    y = task.benchmark_targets(model, batch, rng)
    model = trainer

    def step():
        float(model.train_on_batch(x, y, return_dict=True)["loss"])

    rate = _median_rate(step, batch, steps, warmup)
    del model
    keras.backend.clear_session()
    return rate


def _ours(name):
    from kerascv_apps.registry import build_model

    return lambda shape, classes: build_model(name, input_shape=shape, num_classes=classes)


def _twin(name):
    import keras

    cls = getattr(keras.applications, TWINS[name])
    return lambda shape, classes: cls(weights=None, input_shape=shape, classes=classes)


def make_jpeg_folder(root, n=96, size=256, classes=2, seed=0):
    """``n`` JPEGs (``size`` x ``size``, random crops of scikit-image's photos) in
    ``root/class_<k>/``."""
    import numpy as np
    from PIL import Image
    from skimage import data

    photos = [np.asarray(getattr(data, name)()) for name in ("astronaut", "coffee", "chelsea")]
    rng = np.random.default_rng(seed)
    for i in range(n):
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        crop = min(h, w, size * 2)
        top, left = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
        image = Image.fromarray(photo[top:top + crop, left:left + crop]).resize((size, size))
        folder = os.path.join(root, f"class_{i % classes}")
        os.makedirs(folder, exist_ok=True)
        image.save(os.path.join(folder, f"{i:05d}.jpg"), quality=90)
    return root


def pipeline_rate(splits, augment, image_size, batch, steps, warmup=2):
    """images/s of the training pipeline ``train_model`` builds (shuffle, decode, augment,
    batch, prefetch), consumed as fast as possible."""
    from kerascv_apps.experiment import pipelines, task_for

    task = task_for("mobilenet_v2", splits)
    train_ds, _, _ = pipelines(task, splits, batch, augment, seed=0, repeat=True, cache=False)
    iterator = iter(train_ds)

    def step():
        x, _ = next(iterator)
        assert x.shape[1] == image_size, x.shape

    return _median_rate(step, batch, steps, warmup)


def _digits_at(image_size):
    """The digits dataset, resized to ``image_size`` and made RGB (an in-memory source)."""
    import tensorflow as tf

    from kerascv_apps.data import load_dataset

    splits = load_dataset("digits")

    def resize(x, y):
        x = tf.image.resize(tf.cast(x, tf.float32), (image_size, image_size), method="nearest")
        return tf.image.grayscale_to_rgb(x) if x.shape[-1] == 1 else x, y

    splits.train = splits.train.map(resize)
    return splits


def input_pipeline_rows(image_size, batch, steps, folder=None, images=96, log=print):
    from kerascv_apps.data import load_dataset
    from kerascv_apps.data.tfrecord import prepare_tfrecords

    rows = []
    tmp = tempfile.mkdtemp(prefix="kerascv-apps-benchmark-")
    try:
        splits = _digits_at(image_size)
        rows.append({"kind": "pipeline", "name": "digits in memory", "augment": "tf",
                     "images_per_s": pipeline_rate(splits, "tf", image_size, batch, steps)})
        log(f"  pipeline digits: {rows[-1]['images_per_s']:.1f} images/s")
        folder = folder or make_jpeg_folder(os.path.join(tmp, "folder"), n=images)
        spec = f"folder:{folder}"
        streamed = load_dataset(spec, image_size=image_size)
        for augment in ("tf", "albumentations"):
            rows.append({"kind": "pipeline", "name": "streamed JPEG folder", "augment": augment,
                         "images_per_s": pipeline_rate(streamed, augment, image_size, batch,
                                                       steps)})
            log(f"  pipeline folder ({augment}): {rows[-1]['images_per_s']:.1f} images/s")
        records = os.path.join(tmp, "records")
        prepare_tfrecords(streamed, records, log=lambda message: None)
        tfr = load_dataset(f"tfrecord:{records}", image_size=image_size)
        rows.append({"kind": "pipeline", "name": "TFRecords (prepare)", "augment": "tf",
                     "images_per_s": pipeline_rate(tfr, "tf", image_size, batch, steps)})
        log(f"  pipeline tfrecord: {rows[-1]['images_per_s']:.1f} images/s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def _task_of(name):
    from kerascv_apps.registry import get_entry

    return get_entry(name).task


def tflite_latency_ms(name, image_size, runs=20, warmup=3):
    """Median ms per image of the float32 TFLite file the export makes for the registered
    model ``name`` (its task's own conversion where it has one: a detector's file ends in
    DETECTION_POSTPROCESS); raises ``TFLiteConversionError`` when no file is made."""
    import numpy as np

    from kerascv_apps.export.tflite import TFLiteRunner, convert_to_tflite
    from kerascv_apps.tasks import get_task

    model = _ours(name)((image_size, image_size, 3), 10)
    task = get_task(_task_of(name), num_classes=10)
    data = task.convert_tflite(model, "float32", None, (image_size, image_size, 3), None)
    runner = TFLiteRunner(data if data is not None else convert_to_tflite(model, "float32"))
    image = np.random.default_rng(0).uniform(0, 255, (1, image_size, image_size, 3))
    image = image.astype("float32")

    def step():
        runner(image)

    return 1000.0 / _median_rate(step, 1, runs, warmup)


def run_benchmark(models=("mobilenet_v2",), image_size=224, batch=16, steps=5, warmup=2,
                  xla=("off",), precisions=("float32",), twins=True, pipeline=True,
                  tflite=True, folder=None, images=96, log=print):
    """Runs everything asked for; returns a JSON-ready dict (``rows``, ``auto``, ``fastest``,
    ``pipeline_to_model``)."""
    from kerascv_apps.training.device import detect_device, resolve_policy

    device = detect_device()
    rows = []
    for name in models:
        for jit in xla:
            for precision in precisions:
                for impl in (("ours", "twin") if twins and name in TWINS else ("ours",)):
                    build = _ours(name) if impl == "ours" else _twin(name)
                    log(f"  training {name} ({impl}, xla {jit}, {precision})...")
                    rate = training_rate(build, image_size, batch, steps, warmup,
                                         xla=jit == "on", precision=precision,
                                         task=_task_of(name) if impl == "ours"
                                         else "classification")
                    rows.append({"kind": "train", "name": name, "impl": impl, "xla": jit,
                                 "precision": precision, "images_per_s": rate})
    for row in rows:
        if row["impl"] == "ours":
            twin = [r for r in rows if r["impl"] == "twin" and r["name"] == row["name"]
                    and r["xla"] == row["xla"] and r["precision"] == row["precision"]]
            if twin:
                row["ratio_to_twin"] = row["images_per_s"] / twin[0]["images_per_s"]
    ours = [r for r in rows if r["impl"] == "ours"]
    if pipeline:
        rows += input_pipeline_rows(image_size, batch, steps, folder=folder, images=images,
                                    log=log)
    if tflite:
        from kerascv_apps.export.tflite import TFLiteConversionError

        for name in models:
            row = {"kind": "tflite", "name": name, "precision": "float32"}
            try:
                row["latency_ms"] = tflite_latency_ms(name, image_size)
            except TFLiteConversionError as e:  # e.g. a detector without anchors
                row["not_made"] = str(e)
                log(f"  tflite {name}: not made ({e})")
            rows.append(row)
    policy = resolve_policy("auto", "auto")
    result = {"device": device, "image_size": image_size, "batch": batch, "steps": steps,
              "rows": rows, "auto": {"xla": "on" if policy.jit_compile else "off",
                                     "precision": policy.precision}}
    if device == "cpu":  # what a training run's ``auto`` picks from these very rates, per model
        from kerascv_apps.training.precision_choice import pick

        per_model = {}
        for name in models:
            rates = {r["precision"]: r["images_per_s"] for r in ours
                     if r["name"] == name and r["xla"] == "off"}
            if "float32" in rates and len(rates) > 1:
                per_model[name] = pick(rates)
        if per_model:
            result["auto"]["precision_per_model"] = per_model
    if ours:
        best = max(ours, key=lambda r: r["images_per_s"])
        result["fastest"] = {"xla": best["xla"], "precision": best["precision"]}
        pipes = [r for r in rows if r["kind"] == "pipeline"]
        slowest_model = min(r["images_per_s"] for r in ours)
        result["pipeline_to_model"] = {f"{r['name']} ({r['augment']})":
                                       r["images_per_s"] / slowest_model for r in pipes}
    return result


def format_table(result):
    lines = [f"device: {result['device']}, {result['image_size']}x{result['image_size']}, "
             f"batch {result['batch']}, median of {result['steps']} timed steps",
             f"{'what':<44} {'images/s':>10} {'ratio':>8}"]
    for r in result["rows"]:
        if r["kind"] == "train":
            what = f"train {r['name']} {r['impl']} xla={r['xla']} {r['precision']}"
            ratio = f"{r['ratio_to_twin']:.2f}" if "ratio_to_twin" in r else ""
            lines.append(f"{what:<44} {r['images_per_s']:>10.1f} {ratio:>8}")
        elif r["kind"] == "pipeline":
            what = f"input {r['name']} ({r['augment']})"
            ratio = result.get("pipeline_to_model", {}).get(f"{r['name']} ({r['augment']})")
            lines.append(f"{what:<44} {r['images_per_s']:>10.1f} "
                         f"{'' if ratio is None else f'{ratio:.1f}':>8}")
        elif "latency_ms" in r:
            lines.append(f"{'tflite ' + r['name'] + ' float32 latency (ms)':<44} "
                         f"{r['latency_ms']:>10.2f}")
        else:
            lines.append(f"tflite {r['name']} float32: not made ({r['not_made']})")
    lines.append("ratio: train rows ours/keras.applications; input rows pipeline/slowest "
                 "model step")
    per_model = result["auto"].get("precision_per_model")
    auto_precision = (", ".join(f"{n} {p}" for n, p in per_model.items()) + " (measured)"
                      if per_model else result["auto"]["precision"])
    lines.append(f"--xla auto -> {result['auto']['xla']}, --precision auto -> "
                 f"{auto_precision} on this device"
                 + (f"; fastest measured: xla {result['fastest']['xla']}, "
                    f"{result['fastest']['precision']}" if "fastest" in result else ""))
    return "\n".join(lines)
