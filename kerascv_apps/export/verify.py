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


def verify_tflite(tflite, task, dataset, limit=None, latency_runs=50, num_threads=None):
    """Runs a .tflite (path or bytes) over an unbatched test dataset, one image at a time.

    Returns a dict with the task's quality metric, the file size and median/p90 latency.
    """
    from kerascv_apps.export.tflite import TFLiteRunner

    data = open(tflite, "rb").read() if isinstance(tflite, (str, os.PathLike)) else bytes(tflite)
    runner = TFLiteRunner(data, num_threads=num_threads)
    targets, predictions = task.predict_batches(runner, dataset, limit=limit)
    first = next(iter(dataset.take(1).as_numpy_iterator()))[0][None].astype(np.float32)
    median, p90 = measure_latency(runner, first, runs=latency_runs)
    return {"metric": task.quality_metric, "value": float(task.score(targets, predictions)),
            "size_bytes": len(data), "latency_ms_median": median, "latency_ms_p90": p90,
            "input_dtype": np.dtype(runner.input_details["dtype"]).name,
            "delegate": runner.delegate}


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
