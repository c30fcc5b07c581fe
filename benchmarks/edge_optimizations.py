"""Phone-export figures: PTQ vs QAT vs pruning vs clustering on LeNet-5/digits, and the
MobileNetV2 224x224 int8/float32 latency and size ratios per conversion path.

    python benchmarks/edge_optimizations.py lenet [--seeds 0,1,2]   # QAT vs PTQ per seed, prune/cluster
    python benchmarks/edge_optimizations.py mobilenet-small [--seeds 0 --size 32 --alpha 0.5]
    python benchmarks/edge_optimizations.py mobilenet    # 224x224 latency/size per path
    python benchmarks/edge_optimizations.py matrix       # PTQ matrix, one model per task

QAT vs PTQ rows (accuracy on the test split): the float model, post-training int8, QAT int8
(ranges started from the calibration images), QAT int8 with tfmot's [-6, 6] starting ranges,
and for equal effort the float model fine-tuned as long as QAT then post-training int8.

Latency: LiteRT + XNNPACK, 1 thread, median of 50 runs after 5 warm-up runs.
"""

import gzip
import json
import sys

import numpy as np


def _arrays(ds):
    xs, ys = zip(*ds.as_numpy_iterator())
    return np.stack(xs).astype("float32"), np.stack(ys)


def _int8_check(data):
    """What makes a file full-integer: I/O dtypes and how many float32 tensors remain."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=bytes(data))
    dtypes = [np.dtype(t["dtype"]).name for t in interp.get_tensor_details()]
    return {"input": np.dtype(interp.get_input_details()[0]["dtype"]).name,
            "output": np.dtype(interp.get_output_details()[0]["dtype"]).name,
            "float32_tensors": dtypes.count("float32"), "int8_tensors": dtypes.count("int8")}


def qat_vs_ptq(name, model_kwargs, splits, seed, train_epochs, finetune_epochs=2, lr=1e-4,
               train_lr=3e-3, batch_size=32, calibration_images=256, bn_momentum=None,
               uncalibrated=True):
    """One seed: train the float model, then on the same test split and the same
    ``calibration_images`` training images: post-training int8, QAT int8 (``finetune_epochs``
    of Adam at ``lr`` from the trained model, ranges started from the calibration images),
    QAT with tfmot's own [-6, 6] starting ranges (``uncalibrated``), and, for equal effort,
    the float model fine-tuned for the same epochs/LR/batches and then post-training int8.
    Returns the row and the trained float model."""
    import time

    import keras

    from kerascv_apps import build_model
    from kerascv_apps.export.tflite import TFLiteRunner, convert_to_tflite
    from kerascv_apps.optimize.tfmot_ops import optimize

    started = time.time()
    keras.utils.set_random_seed(seed)
    model = build_model(name, **model_kwargs)
    if bn_momentum is not None:  # 0.999 (ImageNet's) never settles in a few hundred steps
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = bn_momentum
    model.compile(keras.optimizers.Adam(train_lr), "sparse_categorical_crossentropy")
    model.fit(splits.train.shuffle(4096, seed=seed).batch(batch_size), epochs=train_epochs,
              verbose=0)
    images, labels = _arrays(splits.test)
    rep = _arrays(splits.train.shuffle(4096, seed=100).take(calibration_images))[0]

    def acc(data):
        return float(np.mean(TFLiteRunner(data).predict(images).argmax(-1) == labels))

    def keras_acc(m):
        return float(np.mean(m.predict(images, verbose=0).argmax(-1) == labels))

    row = {"seed": seed, "float": keras_acc(model)}
    ptq = convert_to_tflite(model, "int8", [rep], num_calibration_batches=len(rep))
    row["ptq_int8"], row["ptq_file"] = acc(ptq), _int8_check(ptq)
    finetune = splits.train.shuffle(4096, seed=seed + 1).batch(batch_size)
    loss = "sparse_categorical_crossentropy"
    data, info = optimize(model, "qat", finetune, loss, images[:8], epochs=finetune_epochs,
                          learning_rate=lr, representative_images=rep)
    row["qat_int8"], row["qat_file"] = acc(data), _int8_check(data)
    row["qat_not_quantized"] = info["not_quantized"]
    if uncalibrated:
        data, _ = optimize(model, "qat", finetune, loss, images[:8], epochs=finetune_epochs,
                           learning_rate=lr, representative_images=rep, calibrate=False)
        row["qat_int8_tfmot_ranges"] = acc(data)
    tuned = keras.models.clone_model(model)
    tuned.set_weights(model.get_weights())
    tuned.compile(keras.optimizers.Adam(lr), loss)
    tuned.fit(finetune, epochs=finetune_epochs, verbose=0)
    row["finetuned_float"] = keras_acc(tuned)
    row["finetuned_ptq_int8"] = acc(convert_to_tflite(tuned, "int8", [rep],
                                                       num_calibration_batches=len(rep)))
    row["seconds"] = round(time.time() - started, 1)
    return row, model


QAT_COLUMNS = ("seed", "float", "ptq_int8", "qat_int8", "qat_int8_tfmot_ranges",
               "finetuned_float", "finetuned_ptq_int8")


def qat_table(rows):
    """Markdown table of ``qat_vs_ptq`` rows (accuracy on the test split)."""
    cols = [c for c in QAT_COLUMNS if any(c in r for r in rows)]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(
            str(r[c]) if c == "seed" else f"{r[c]:.4f}" if c in r else "" for c in cols) + " |")
    if len(rows) > 1:
        lines.append("| mean | " + " | ".join(
            f"{np.mean([r[c] for r in rows]):.4f}" for c in cols[1:]) + " |")
    return "\n".join(lines)


def lenet(seeds=(0, 1, 2), epochs=20, finetune_epochs=2):
    """LeNet-5/digits: QAT vs PTQ per seed, then pruning and clustering of the first seed's
    model (the dense float32 file is the reference for size)."""
    from kerascv_apps.data import load_dataset
    from kerascv_apps.export.tflite import TFLiteRunner, convert_to_tflite
    from kerascv_apps.optimize.tfmot_ops import optimize

    splits = load_dataset("digits")
    rows, models = zip(*(qat_vs_ptq("lenet5", {}, splits, seed, epochs, finetune_epochs)
                         for seed in seeds))
    rows, model = list(rows), models[0]
    images, labels = _arrays(splits.test)

    def acc(data):
        return float(np.mean(TFLiteRunner(data).predict(images).argmax(-1) == labels))

    dense = convert_to_tflite(model, "float32")
    other = {"float32": {"accuracy": acc(dense), "bytes": len(dense),
                         "gzip_bytes": len(gzip.compress(dense, 9))}}
    train = splits.train.shuffle(4096, seed=seeds[0] + 1).batch(32)
    for kind in ("prune", "cluster"):
        data, info = optimize(model, kind, train, "sparse_categorical_crossentropy", images[:8],
                              epochs=finetune_epochs, learning_rate=1e-4)
        info.pop("model")
        other[kind] = {"accuracy": acc(data), "bytes": len(data),
                       "gzip_bytes": len(gzip.compress(data, 9)), **info}
    return {"qat_vs_ptq": rows, "table": qat_table(rows), "prune_cluster_seed0": other}


def mobilenet_small(seeds=(0,), size=32, alpha=0.5, epochs=15, finetune_epochs=2,
                    uncalibrated=False):
    """MobileNetV2 (width ``alpha``) on digits at ``size``x``size`` (1 channel), QAT vs PTQ.

    BatchNorm momentum 0.9 instead of the builder's 0.999: with ~80 steps an epoch the
    0.999 moving statistics stay near their initial values and the float model predicts one
    class at inference (measured: 10% test accuracy after 15 epochs)."""
    from kerascv_apps.data import load_dataset

    name = {1.0: "mobilenet_v2", 0.5: "mobilenet_v2_050"}[alpha]
    splits = load_dataset("digits", image_size=size)
    rows = [qat_vs_ptq(name, dict(input_shape=(size, size, 1), num_classes=10), splits, seed,
                       epochs, finetune_epochs, train_lr=1e-3, batch_size=16, bn_momentum=0.9,
                       uncalibrated=uncalibrated)[0]
            for seed in seeds]
    return {"model": f"{name} {size}x{size}x1", "qat_vs_ptq": rows, "table": qat_table(rows)}


def mobilenet(runs=50):
    from kerascv_apps import build_model
    from kerascv_apps.export.tflite import TFLiteRunner, convert_to_tflite
    from kerascv_apps.export.litert_quantizer import quantize_tflite
    from kerascv_apps.export.verify import measure_latency

    model = build_model("mobilenet_v2", input_shape=(224, 224, 3), num_classes=1000)
    rng = np.random.default_rng(0)
    rep = rng.uniform(0, 255, (16, 224, 224, 3)).astype("float32")
    x = rep[:1]
    rows = {}
    float_data = convert_to_tflite(model, "float32")
    variants = [(m, lambda m=m, kw=kw: convert_to_tflite(model, m.split("_")[0],
                                                        representative_data=[rep], **kw))
                for m, kw in (("float32", {}), ("int8", {}), ("int8_int8io", {"integer_io": "int8"}),
                              ("dynamic", {}), ("float16", {}), ("int16x8", {}))]
    variants += [(f"litert_{r}", lambda r=r: quantize_tflite(float_data, r, rep))
                 for r in ("static_wi8_ai8", "static_wi8_ai16", "dynamic_wi8_afp32")]
    for mode, make in variants:
        try:
            data = make()
            runner = TFLiteRunner(data, num_threads=1)
            median, p90 = measure_latency(runner, x, runs=runs)
        except Exception as e:  # noqa: BLE001 - a path that fails is a row of the table
            rows[mode] = {"error": str(e)[-300:]}
            continue
        rows[mode] = {"bytes": len(data), "latency_ms_median": median, "latency_ms_p90": p90,
                      "delegate": runner.delegate}
    for mode, r in rows.items():
        if "error" in r:
            continue
        r["size_vs_float32"] = r["bytes"] / rows["float32"]["bytes"]
        r["latency_vs_float32"] = r["latency_ms_median"] / rows["float32"]["latency_ms_median"]
    return rows


def matrix(limit=60):
    """The PTQ matrix (export report) of one small model per task, trained briefly."""
    import tempfile

    import keras

    from kerascv_apps import build_model
    from kerascv_apps.data import load_dataset
    from kerascv_apps.export.pipeline import export_model, markdown_export_report
    from kerascv_apps.tasks import get_task

    formats = ("float32", "float16", "dynamic", "int8", "int16x8", "litert_int8")
    keras.utils.set_random_seed(0)
    out = []
    digits = load_dataset("digits")
    shapes = load_dataset("shapes", image_size=32, num_train=128, num_val=2, num_test=12)
    cases = [("lenet5", digits, {}, "classification", dict(num_classes=10), None),
             ("unet_same", shapes, dict(input_shape=(32, 32, 3), num_classes=4, base_filters=8,
                                        depth=2), "segmentation", dict(num_classes=4), None)]
    for name, splits, kwargs, task_name, task_kwargs, shape in cases:
        task = get_task(task_name, class_names=splits.class_names, **task_kwargs)
        model = build_model(name, **kwargs)
        model.compile(keras.optimizers.Adam(3e-3), task.loss(model))
        model.fit(splits.train.batch(8), epochs=6, verbose=0)
        with tempfile.TemporaryDirectory() as tmp:
            report = export_model(model, task, splits, f"{tmp}/x", name, formats=formats,
                                  max_quality_drop=1.0, limit=limit, latency_runs=20,
                                  tflite_input_shape=shape, progress=lambda *a: None)
        out.append(markdown_export_report(report))
    # Super-resolution: the espcn_x2 defaults on the embedded photos, a short schedule; the
    # dynamic-size file is verified on the held-out photos at their own sizes.
    from kerascv_apps.experiment import train_model

    with tempfile.TemporaryDirectory() as tmp:
        run = train_model("espcn_x2", "photos", f"{tmp}/run", epochs=2, steps_per_epoch=50,
                          dataset_kwargs={"scale": 2}, verbose=0)
        report = export_model(run.model, run.task, run.splits, f"{tmp}/x", "espcn_x2",
                              formats=formats, max_quality_drop=1.0, limit=limit,
                              latency_runs=20, tflite_input_shape=(1, None, None, 3),
                              progress=lambda *a: None)
    out.append(markdown_export_report(report))
    return "\n".join(out)


def _main(argv):
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("which", nargs="?", default="lenet",
                   choices=["lenet", "mobilenet", "mobilenet-small", "matrix"])
    p.add_argument("--seeds", default=None, help="comma-separated seeds (lenet: 0,1,2; "
                                                  "mobilenet-small: 0)")
    p.add_argument("--size", type=int, default=32, help="mobilenet-small input side")
    p.add_argument("--alpha", type=float, default=0.5, choices=[0.5, 1.0],
                   help="mobilenet-small width multiplier")
    p.add_argument("--tfmot-ranges", action="store_true",
                   help="mobilenet-small: also QAT from tfmot's [-6, 6] ranges (lenet always)")
    args = p.parse_args(argv)
    seeds = None if args.seeds is None else tuple(int(s) for s in args.seeds.split(","))
    if args.which == "matrix":
        print(matrix())
        return 0
    if args.which == "lenet":
        result = lenet(**({"seeds": seeds} if seeds else {}))
    elif args.which == "mobilenet-small":
        result = mobilenet_small(size=args.size, alpha=args.alpha,
                                 uncalibrated=args.tfmot_ranges, **({"seeds": seeds} if seeds else {}))
    else:
        result = mobilenet()
    print(json.dumps(result, indent=2))
    if "table" in result:
        print(result["table"])
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
