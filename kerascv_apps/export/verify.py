"""Verification of exported models: quality on the test split, size and latency."""

import os
import time

import numpy as np


def measure_latency(predict_fn, image, runs=50, warmup=5):
    """Median and 90th percentile wall time (ms) of ``predict_fn(image)`` over ``runs`` calls."""
    for _ in range(warmup):
        predict_fn(image)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        predict_fn(image)
        times.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(times)), float(np.percentile(times, 90))


def verify_tflite(tflite, task, dataset, limit=None, latency_runs=50, num_threads=None,
                  latency_threads=(1, 2)):
    """Runs a .tflite (path or bytes) over an unbatched test dataset, one image at a time.

    Returns a dict with the task's quality metric, the file size, median/p90 latency (LiteRT +
    XNNPACK) at each of ``latency_threads`` (``latency_ms_median``/``p90``: the first of them),
    the op list and any non-builtin op (Flex/custom).
    """
    from kerascv_apps.export.tflite import TFLiteRunner, builtin_op_names

    data = open(tflite, "rb").read() if isinstance(tflite, (str, os.PathLike)) else bytes(tflite)
    runner = TFLiteRunner(data, num_threads=num_threads)
    targets, predictions = task.predict_batches(runner, dataset, limit=limit)
    first = next(iter(dataset.take(1).as_numpy_iterator()))[0][None].astype(np.float32)
    latency = {}
    for threads in latency_threads:
        timed = TFLiteRunner(data, num_threads=threads)
        median, p90 = measure_latency(timed, first, runs=latency_runs)
        latency[str(threads)] = {"median_ms": median, "p90_ms": p90, "delegate": timed.delegate}
    ops = builtin_op_names(data)
    head = latency[str(latency_threads[0])]
    return {"metric": task.quality_metric, "value": float(task.score(targets, predictions)),
            "size_bytes": len(data), "latency_ms_median": head["median_ms"],
            "latency_ms_p90": head["p90_ms"], "latency_threads": latency,
            "input_dtype": np.dtype(runner.input_details["dtype"]).name,
            "delegate": runner.delegate, "ops": ops,
            "non_builtin_ops": [op for op in ops if op.startswith("Flex") or "CUSTOM" in op.upper()]}


def verify_keras(model, task, dataset, limit=None, latency_runs=20):
    """The same figures for the Keras model (the reference the TFLite files are compared to)."""
    predict = lambda x: model(x, training=False)  # noqa: E731
    targets, predictions = task.predict_batches(lambda x: np.asarray(_first(predict(x))), dataset,
                                                limit=limit)
    first = next(iter(dataset.take(1).as_numpy_iterator()))[0][None].astype(np.float32)
    median, p90 = measure_latency(predict, first, runs=latency_runs)
    return {"metric": task.quality_metric, "value": float(task.score(targets, predictions)),
            "latency_ms_median": median, "latency_ms_p90": p90}


def _first(outputs):
    return outputs[0] if isinstance(outputs, (list, tuple)) else outputs
