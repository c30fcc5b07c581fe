"""Training throughput of this project's ResNet-50 / MobileNetV2 vs keras.applications', and
float32 vs int8 TFLite latency and size of this project's models.

Both implementations are built in the same process with the same input size, batch size,
optimizer, loss and precision (float32, no XLA); random weights (``weights=None``, nothing is
downloaded). After ``--warmup`` untimed steps each, single training steps of the two models
alternate (``--repeats`` rounds of ``--steps`` steps each, swapping which goes first every
step); images/s is the batch size over the median step time, and the ratio is ours over
keras.applications' (>= 1 means ours is not slower).

Usage::

    python benchmarks/classification_throughput.py                # defaults below
    python benchmarks/classification_throughput.py --repeats 3 --steps 10 --json out.json
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kerascv_apps import build_model  # noqa: E402
from kerascv_apps.export.tflite import TFLiteRunner, convert_to_tflite  # noqa: E402

REFERENCES = {
    "resnet50": lambda shape, classes: keras.applications.ResNet50(
        weights=None, input_shape=shape, classes=classes),
    "mobilenet_v2": lambda shape, classes: keras.applications.MobileNetV2(
        weights=None, input_shape=shape, classes=classes),
    "efficientnet_b0": lambda shape, classes: keras.applications.EfficientNetB0(
        weights=None, input_shape=shape, classes=classes),
}
DEFAULT_MODELS = ("mobilenet_v2", "resnet50")


def _compiled(model, optimizer, learning_rate):
    opt = (keras.optimizers.SGD(learning_rate, momentum=0.9) if optimizer == "sgd"
           else keras.optimizers.Adam(learning_rate))
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", jit_compile=False)
    return model


def _step_seconds(model, x, y):
    """Wall-clock and process CPU seconds of one training step."""
    wall, cpu = time.perf_counter(), time.process_time()
    logs = model.train_on_batch(x, y, return_dict=True)
    float(logs["loss"])  # the step has finished
    return time.perf_counter() - wall, time.process_time() - cpu


def training_throughput(name, args):
    """Alternates single training steps of the two models (swapping which goes first every
    step) so that load changes on a shared machine hit both alike; images/s is the batch size
    over the median wall-clock step time. The CPU-time ratio (process CPU seconds per step,
    all threads) is also reported: it is less sensitive to other processes on the machine."""
    shape = (args.size, args.size, 3)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (args.batch_size,) + shape).astype("float32")
    y = rng.integers(0, args.classes, args.batch_size).astype("int32")
    models = {
        "ours": _compiled(build_model(name, input_shape=shape, num_classes=args.classes),
                          args.optimizer, args.learning_rate),
        "keras": _compiled(REFERENCES[name](shape, args.classes), args.optimizer,
                           args.learning_rate),
    }
    params = {k: m.count_params() for k, m in models.items()}
    for model in models.values():
        for _ in range(args.warmup):
            model.train_on_batch(x, y)
    times = {"ours": [], "keras": []}
    cpu = {"ours": [], "keras": []}
    ratios = []
    for _ in range(args.repeats):
        round_times = {"ours": [], "keras": []}
        for step in range(args.steps):
            order = ("ours", "keras") if step % 2 == 0 else ("keras", "ours")
            for key in order:
                wall, cpu_seconds = _step_seconds(models[key], x, y)
                round_times[key].append(wall)
                cpu[key].append(cpu_seconds)
        for key in times:
            times[key].extend(round_times[key])
        ratios.append(statistics.median(round_times["keras"])
                      / statistics.median(round_times["ours"]))
    medians = {k: args.batch_size / statistics.median(v) for k, v in times.items()}
    cpu_ratio = statistics.median(cpu["keras"]) / statistics.median(cpu["ours"])
    return {"model": name, "params": params, "step_seconds": times, "step_cpu_seconds": cpu,
            "median_images_per_s": medians, "ratio_per_repeat": ratios,
            "ratio": medians["ours"] / medians["keras"], "cpu_time_ratio": cpu_ratio}


def tflite_latency(name, args):
    shape = (args.size, args.size, 3)
    model = build_model(name, input_shape=shape, num_classes=args.classes)
    rng = np.random.default_rng(1)
    calibration = rng.uniform(0, 255, (args.calibration_images,) + shape).astype("float32")
    image = calibration[:1]
    result = {"model": name}
    for mode in ("float32", "int8"):
        data = convert_to_tflite(model, mode, representative_data=[calibration]
                                 if mode == "int8" else None)
        with tempfile.NamedTemporaryFile(suffix=".tflite") as f:
            f.write(data)
            f.flush()
            size = os.path.getsize(f.name)
        runner = TFLiteRunner(data, num_threads=args.tflite_threads)
        for _ in range(args.warmup):
            runner(image)
        times = []
        for _ in range(args.tflite_runs):
            start = time.perf_counter()
            runner(image)
            times.append(time.perf_counter() - start)
        result[mode] = {"size_bytes": size, "median_ms": 1000 * statistics.median(times)}
    result["int8_speedup"] = result["float32"]["median_ms"] / result["int8"]["median_ms"]
    result["int8_size_ratio"] = result["int8"]["size_bytes"] / result["float32"]["size_bytes"]
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS),
                        choices=sorted(REFERENCES))
    parser.add_argument("--size", type=int, default=96, help="input height and width")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps / runs per model")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per model and round")
    parser.add_argument("--repeats", type=int, default=3, help="timing rounds")
    parser.add_argument("--tflite-runs", type=int, default=50)
    parser.add_argument("--tflite-threads", type=int, default=None)
    parser.add_argument("--calibration-images", type=int, default=16)
    parser.add_argument("--skip-tflite", action="store_true")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    keras.config.set_dtype_policy("float32")

    report = {"config": vars(args), "cpu_count": os.cpu_count(),
              "load_average_start": os.getloadavg(), "training": [], "tflite": []}
    print(f"training throughput, {args.size}x{args.size}, batch {args.batch_size}, float32, "
          f"{args.optimizer}, {args.repeats} x {args.steps} alternating steps (load avg "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    for name in args.models:
        r = training_throughput(name, args)
        report["training"].append(r)
        runs = " ".join(f"{v:.3f}" for v in r["ratio_per_repeat"])
        print(f"  {name:13s} ours {r['median_images_per_s']['ours']:7.1f} img/s  "
              f"keras.applications {r['median_images_per_s']['keras']:7.1f} img/s  "
              f"ratio {r['ratio']:.3f}  (per repeat: {runs}; CPU-time ratio "
              f"{r['cpu_time_ratio']:.3f}; params "
              f"{r['params']['ours']:,} vs {r['params']['keras']:,})", flush=True)
        keras.utils.clear_session()
    if not args.skip_tflite:
        print(f"TFLite latency, batch 1, median of {args.tflite_runs} runs")
        for name in args.models:
            r = tflite_latency(name, args)
            report["tflite"].append(r)
            print(f"  {name:13s} float32 {r['float32']['median_ms']:7.2f} ms "
                  f"{r['float32']['size_bytes'] / 2**20:6.2f} MiB | int8 "
                  f"{r['int8']['median_ms']:7.2f} ms {r['int8']['size_bytes'] / 2**20:6.2f} MiB"
                  f" | int8 speed-up x{r['int8_speedup']:.2f}, size x{r['int8_size_ratio']:.2f}",
                  flush=True)
            keras.utils.clear_session()
    report["load_average_end"] = os.getloadavg()
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
