"""Phone-export figures: PTQ vs QAT vs pruning vs clustering on LeNet-5/digits, and the
MobileNetV2 224x224 int8/float32 latency and size ratios per conversion path.

    python benchmarks/edge_optimizations.py lenet        # QAT/PTQ/prune/cluster on digits
    python benchmarks/edge_optimizations.py mobilenet    # 224x224 latency/size per path

Latency: LiteRT + XNNPACK, 1 thread, median of 50 runs after 5 warm-up runs.
"""

import gzip
import json
import sys

import numpy as np


def lenet(epochs=20, finetune_epochs=2):
    import keras

    from kerascv_apps import build_model
    from kerascv_apps.data import load_dataset
    from kerascv_apps.export.tflite import TFLiteRunner, convert_to_tflite
    from kerascv_apps.optimize.tfmot_ops import optimize

    keras.utils.set_random_seed(0)
    splits = load_dataset("digits")
    model = build_model("lenet5")
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(splits.train.batch(32), epochs=epochs, verbose=0)
    images = np.stack([x for x, _ in splits.test.as_numpy_iterator()])
    labels = np.stack([y for _, y in splits.test.as_numpy_iterator()])
    rep = np.stack([x for x, _ in splits.train.take(200).as_numpy_iterator()])

    def acc(data):
        return float(np.mean(TFLiteRunner(data).predict(images).argmax(-1) == labels))

    rows = {"keras": {"accuracy": float(np.mean(model.predict(images, verbose=0).argmax(-1) == labels))}}
    dense = convert_to_tflite(model, "float32")
    rows["float32"] = {"accuracy": acc(dense), "gzip_bytes": len(gzip.compress(dense, 9))}
    ptq = convert_to_tflite(model, "int8", representative_data=[rep])
    rows["ptq_int8"] = {"accuracy": acc(ptq), "bytes": len(ptq)}
    train = splits.train.shuffle(2000, seed=0).batch(32)
    for kind in ("qat", "prune", "cluster"):
        data, info = optimize(model, kind, train, "sparse_categorical_crossentropy", images[:8],
                              epochs=finetune_epochs, learning_rate=1e-4,
                              representative_images=rep)
        info.pop("model")
        rows[kind] = {"accuracy": acc(data), "bytes": len(data),
                      "gzip_bytes": len(gzip.compress(data, 9)), **info}
    return rows


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
    return "\n".join(out)


if __name__ == "__main__":
    if sys.argv[1:] == ["matrix"]:
        print(matrix())
        sys.exit(0)
    which = sys.argv[1] if len(sys.argv) > 1 else "lenet"
    print(json.dumps({"lenet": lenet, "mobilenet": mobilenet}[which](), indent=2))
