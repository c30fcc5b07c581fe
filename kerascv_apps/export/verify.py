"""Verification of exported models: quality on the test split, size and latency.

The test split is run in batches where the model allows it (the Keras model always; a batch-1
``.tflite`` file when resizing its batch dimension gives the same outputs as one image at a
time, checked on the first batch), with a progress bar on stderr.
"""

import os
import sys
import time

import numpy as np

from kerascv_apps.config import ExportConfig

DEFAULT_BATCH_SIZE = ExportConfig.batch_size  # the export config's default, in one place


class ProgressBar:
    """A one-line progress bar on ``stream`` (stderr): ``label [#####.....] 120/360 images``.

    Shown only when ``enabled`` is true; ``None`` means: when ``stream`` is a terminal (so logs
    and pipes stay clean). Redrawn at most every 0.1 s, and once more on ``close``.
    """

    def __init__(self, label, total=None, enabled=None, stream=None, width=30):
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(isatty and isatty()) if enabled is None else bool(enabled)
        self.label, self.total, self.width = label, total, width
        self.count, self._start, self._drawn = 0, time.perf_counter(), 0.0

    def update(self, n=1):
        self.count += n
        now = time.perf_counter()
        if self.enabled and now - self._drawn >= 0.1:
            self._draw(now)

    def close(self):
        if self.enabled:
            self._draw(time.perf_counter())
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, now):
        self._drawn = now
        if self.total:
            done = int(self.width * min(self.count, self.total) / self.total)
            bar = f"[{'#' * done}{'.' * (self.width - done)}] {self.count}/{self.total}"
        else:
            bar = f"{self.count}"
        self.stream.write(f"\r{self.label} {bar} images {now - self._start:.1f} s")
        self.stream.flush()


def _total(dataset, limit):
    try:
        cardinality = int(dataset.cardinality())
    except (AttributeError, TypeError):
        cardinality = -2
    if cardinality < 0:
        return limit
    return cardinality if limit is None else min(limit, cardinality)


def _first(outputs):
    return outputs[0] if isinstance(outputs, (list, tuple)) else outputs


def predict_split(predict_fn, dataset, limit=None, batch_size=1, progress=None,
                  show_progress=None, stream=None):
    """Runs ``predict_fn`` over an unbatched (image, target) dataset, ``batch_size`` images at
    a time (consecutive images of equal shape share a batch; SR test images differ in size).

    Args:
        predict_fn: float image batch -> output batch (the first output of a list is used).
        limit: at most this many examples.
        progress: the progress bar's label (None: no bar); ``show_progress``: ``True``/``False``
            or ``None`` (shown when stderr is a terminal); ``stream``: where it goes (stderr).

    Returns:
        ``(targets, predictions)``: numpy arrays when all examples share a shape, else lists.
    """
    bar = ProgressBar(progress or "", _total(dataset, limit),
                      enabled=False if progress is None else show_progress, stream=stream)
    targets, preds, pending = [], [], []

    def flush():
        if pending:
            out = np.asarray(_first(predict_fn(np.stack(pending))))
            preds.extend(out)
            bar.update(len(pending))
            pending.clear()

    for i, (image, target) in enumerate(dataset.as_numpy_iterator()):
        if limit is not None and i >= limit:
            break
        image = np.asarray(image, np.float32)
        if pending and (len(pending) >= batch_size or pending[0].shape != image.shape):
            flush()
        pending.append(image)
        targets.append(np.asarray(target))
    flush()
    bar.close()
    return _stack(targets), _stack(preds)


def _stack(items):
    if items and all(np.shape(x) == np.shape(items[0]) for x in items):
        return np.stack(items)
    return items


def tflite_batch_size(runner, images, batch_size):
    """``batch_size`` when the runner gives the same outputs for a batch as for its images
    one at a time (checked on ``images``), else 1 (e.g. a reshape that hard-codes batch 1)."""
    images = np.asarray(images, np.float32)[:batch_size]
    if batch_size <= 1 or len(images) < 2:
        return 1
    singles = np.concatenate([np.asarray(_first(runner(im[None]))) for im in images])
    try:
        batched = np.asarray(_first(runner(images)))
    except (RuntimeError, ValueError):
        batched = None
    ok = batched is not None and batched.shape == singles.shape and np.allclose(
        batched, singles, rtol=1e-5, atol=1e-5)
    runner(images[:1])  # back to the batch-1 allocation either way
    return batch_size if ok else 1


# CPU features that decide how fast int8 and float kernels are (XNNPACK picks kernels by them)
CPU_FLAGS = {"x86": ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw",
                     "avx512_vnni", "avx_vnni", "amx_int8"),
             "arm": ("asimd", "asimddp", "i8mm", "fphp", "asimdhp", "sve")}


def machine_info(cpuinfo="/proc/cpuinfo"):
    """The CPU the latency figures were measured on: model name, architecture, logical CPUs,
    which of ``CPU_FLAGS`` (for its architecture) it has, and the LiteRT version.

    Int8 speed-ups over float32 depend on int8 dot-product instructions (x86 AVX-512 VNNI /
    AVX-VNNI, Arm dotprod / i8mm); a CPU without them can run int8 no faster than float32,
    so a latency ratio is only meaningful next to these flags.
    """
    import platform

    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open(cpuinfo) as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "hardware", "cpu model") and model in (
                        platform.processor(), platform.machine(), ""):
                    model = value.strip()
                elif key in ("flags", "features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    def _version(dist):
        try:
            return version(dist)
        except PackageNotFoundError:  # not installed as a distribution
            return None

    litert = _version("ai-edge-litert")
    arch = platform.machine()
    family = "arm" if arch.lower().startswith(("arm", "aarch")) else "x86"
    return {"cpu": model, "arch": arch, "logical_cpus": os.cpu_count(),
            "cpu_flags": {flag: flag in flags for flag in CPU_FLAGS[family]} if flags else None,
            "litert_version": litert, "onnxruntime_version": _version("onnxruntime")}


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


def _first_images(dataset, count):
    images = []
    for image, _ in dataset.take(count).as_numpy_iterator():
        if images and np.shape(image) != np.shape(images[0]):
            break
        images.append(np.asarray(image, np.float32))
    return np.stack(images)


def verify_tflite(tflite, task, dataset, limit=None, latency_runs=50, num_threads=None,
                  latency_threads=(1, 2), batch_size=DEFAULT_BATCH_SIZE, label="verify tflite",
                  show_progress=None):
    """Runs a .tflite (path or bytes) over an unbatched test dataset.

    Batches of ``batch_size`` are used when the file gives the same outputs batched as one image
    at a time (:func:`tflite_batch_size`), else one image at a time. Returns a dict with the
    task's quality metric, the number of images and batch size used, the file size, median/p90
    latency (LiteRT + XNNPACK, batch 1) at each of ``latency_threads``
    (``latency_ms_median``/``p90``: the first of them), the op list and any non-builtin op
    (Flex/custom).
    """
    from kerascv_apps.export.tflite import TFLiteRunner, builtin_op_names

    data = open(tflite, "rb").read() if isinstance(tflite, (str, os.PathLike)) else bytes(tflite)
    runner = TFLiteRunner(data, num_threads=num_threads)
    probe = _first_images(dataset, min(batch_size, limit or batch_size))
    used = tflite_batch_size(runner, probe, batch_size)
    targets, predictions = predict_split(lambda x: task.prediction_outputs(runner(x)), dataset,
                                         limit=limit, batch_size=used, progress=label,
                                         show_progress=show_progress)
    first = probe[:1]
    latency = {}
    for threads in latency_threads:
        timed = TFLiteRunner(data, num_threads=threads)
        median, p90 = measure_latency(timed, first, runs=latency_runs)
        latency[str(threads)] = {"median_ms": median, "p90_ms": p90, "delegate": timed.delegate}
    ops = builtin_op_names(data)
    head = latency[str(latency_threads[0])]
    return {"metric": task.quality_metric, "value": float(task.score(targets, predictions)),
            "num_images": len(targets), "batch_size": used,
            "size_bytes": len(data), "latency_ms_median": head["median_ms"],
            "latency_ms_p90": head["p90_ms"], "latency_threads": latency,
            "input_dtype": np.dtype(runner.input_details["dtype"]).name,
            "delegate": runner.delegate, "ops": ops,
            "non_builtin_ops": [op for op in ops if op.startswith("Flex") or "CUSTOM" in op.upper()]}


def verify_keras(model, task, dataset, limit=None, latency_runs=20,
                 batch_size=DEFAULT_BATCH_SIZE, label="verify keras", show_progress=None):
    """The same figures for the Keras model (the reference the TFLite files are compared to);
    the test split runs in batches of ``batch_size``, latency at batch 1."""
    predictor = task.prediction_model(model)

    def predict(x):
        return np.asarray(task.prediction_outputs(predictor(x, training=False)))

    targets, predictions = predict_split(predict, dataset, limit=limit, batch_size=batch_size,
                                         progress=label, show_progress=show_progress)
    first = _first_images(dataset, 1)
    median, p90 = measure_latency(predict, first, runs=latency_runs)
    return {"metric": task.quality_metric, "value": float(task.score(targets, predictions)),
            "num_images": len(targets), "batch_size": batch_size,
            "latency_ms_median": median, "latency_ms_p90": p90}
