"""``--precision auto`` on a CPU: measured, not assumed.

Whether mixed bfloat16 trains faster than float32 depends on the CPU (AMX / AVX-512 BF16 or
not) and on the model: on an AMX Xeon ResNet-50 trained 22 % faster in bf16 while MobileNetV2
was 27 % slower (depthwise convolutions have no fast bf16 path). So ``auto`` times a few
training steps of the run's own model at the run's batch and input size in both precisions and
keeps bf16 only when it is faster by more than the noise margin. The result is cached per CPU
model, TensorFlow version, model and shapes (``~/.cache/kerascv_apps/precision.json``, or
``$KERASCV_APPS_CACHE``), recorded in run.json, and skipped for runs too short to pay for it.
"""

import hashlib
import json
import os
import platform
import statistics
import time

CANDIDATES = ("float32", "mixed_bfloat16")
NOISE_MARGIN = 0.05  # bf16 must beat float32 by more than this to be chosen
MIN_RUN_STEPS = 200  # a run of fewer training steps keeps float32 without measuring
MEASURE_WARMUP, MEASURE_STEPS = 2, 5


def cpu_model():
    """The CPU's model name and its bf16/AMX flags (what decides the bf16 kernels)."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    name = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    marks = sorted(f for f in flags if "bf16" in f or f.startswith("amx"))
    return f"{name} [{' '.join(marks) or 'no bf16'}]"


def cache_file():
    root = os.environ.get("KERASCV_APPS_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "kerascv_apps")
    return os.path.join(root, "precision.json")


def cache_key(model_name, input_shape, batch_size, model_kwargs=None):
    import tensorflow as tf

    what = json.dumps([cpu_model(), tf.__version__, model_name, list(input_shape),
                       int(batch_size), model_kwargs or {}], sort_keys=True, default=str)
    return hashlib.sha256(what.encode()).hexdigest()[:24]


def pick(rates, margin=NOISE_MARGIN):
    """The precision to train with from measured images/s ``{precision: rate}``: float32 unless
    another is faster by more than ``margin``."""
    base = rates["float32"]
    best = max(rates, key=rates.get)
    return best if rates[best] > base * (1.0 + margin) else "float32"


def training_rate(build, input_shape, batch_size, precision, steps=MEASURE_STEPS,
                  warmup=MEASURE_WARMUP):
    """Training images/s of ``build()`` (called under ``precision``) on random data: SGD on a
    mean squared error against zeros of each output (the loss costs nothing beside the model)."""
    import keras
    import numpy as np

    keras.config.set_dtype_policy(precision)
    try:
        model = build()
    finally:
        keras.config.set_dtype_policy("float32")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch_size, *input_shape)).astype("float32")
    outputs = keras.tree.flatten(model(x[:1], training=False))
    y = [np.zeros((batch_size, *o.shape[1:]), "float32") for o in outputs]
    model.compile(optimizer=keras.optimizers.SGD(1e-4), loss=["mse"] * len(y))
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        model.train_on_batch(x, y if len(y) > 1 else y[0])
        if i >= warmup:
            times.append(time.perf_counter() - start)
    del model
    return batch_size / statistics.median(times)


def choose_cpu_precision(model_name, build, input_shape, batch_size, planned_steps,
                         model_kwargs=None, progress=print, min_run_steps=None):
    """``{"precision", "reason", "images_per_s"}`` for ``--precision auto`` on this CPU."""
    min_run_steps = MIN_RUN_STEPS if min_run_steps is None else min_run_steps
    if planned_steps is not None and planned_steps < min_run_steps:
        return {"precision": "float32", "images_per_s": None,
                "reason": f"run of {planned_steps} steps (< {min_run_steps}): not worth measuring"}
    if any(d is None for d in input_shape):
        return {"precision": "float32", "images_per_s": None,
                "reason": f"input size {tuple(input_shape)} not fixed: nothing to measure"}
    key = cache_key(model_name, input_shape, batch_size, model_kwargs)
    path = cache_file()
    try:
        with open(path) as f:
            cached = json.load(f).get(key)
    except (OSError, ValueError):
        cached = None
    if cached:
        return {**cached, "reason": f"measured earlier on this CPU ({path})"}
    progress(f"precision auto: timing {MEASURE_STEPS} training steps of {model_name} in "
             f"{' and '.join(CANDIDATES)} on {cpu_model()}...")
    rates = {p: training_rate(build, input_shape, batch_size, p) for p in CANDIDATES}
    choice = {"precision": pick(rates), "images_per_s": {p: round(r, 2) for p, r in rates.items()},
              "cpu": cpu_model()}
    _store(path, key, choice)
    progress(f"precision auto: {choice['precision']} "
             f"({', '.join(f'{p} {r:.1f} img/s' for p, r in rates.items())})")
    return {**choice, "reason": f"measured now (bf16 kept only if > {NOISE_MARGIN:.0%} faster)"}


def _store(path, key, choice):
    from kerascv_apps.io import atomic_write_text

    try:
        with open(path) as f:
            table = json.load(f)
    except (OSError, ValueError):
        table = {}
    table[key] = choice
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write_text(path, json.dumps(table, indent=1, sort_keys=True))
    except OSError:  # a read-only home: the choice still holds for this run
        pass
