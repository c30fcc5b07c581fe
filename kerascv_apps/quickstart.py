"""The classification quickstart end to end, as one function (recipe, demo and tests call it)."""

import json
import os
import time

from kerascv_apps.experiment import evaluate_model, export_run, train_model
from kerascv_apps.export.pipeline import format_export_report
from kerascv_apps.io import atomic_write_text


def run_quickstart(run_dir, model="lenet5", dataset="digits", epochs=40, batch_size=32,
                   learning_rate=3e-3, augment="tf", max_int8_drop=0.01, verbose=2, print_fn=print):
    """Trains, evaluates and exports; writes ``report.json`` in ``run_dir`` and returns it."""
    start = time.perf_counter()
    run = train_model(model, dataset, run_dir, epochs=epochs, batch_size=batch_size,
                      augment=augment, learning_rate=learning_rate, schedule="cosine",
                      verbose=verbose)
    train_s = time.perf_counter() - start
    evaluation = evaluate_model(run.model, run.task, run.splits, run.run_dir,
                                history=run.result.history)
    export = export_run(run.model, run.task, run.splits, os.path.join(run.run_dir, "exports"),
                        model, formats=("savedmodel", "float32", "float16", "dynamic", "int8"),
                        max_quality_drop=max_int8_drop)
    formats = export["formats"]
    report = {
        "model": model, "dataset": dataset, "run_dir": run.run_dir,
        "device_policy": run.policy, "epochs": epochs, "train_seconds": round(train_s, 1),
        "total_seconds": round(time.perf_counter() - start, 1),
        "test_accuracy": evaluation["accuracy"],
        "int8_accuracy": formats["int8"]["value"],
        "int8_size_vs_float32": formats["int8"]["size_vs_float32"],
        "evaluation": {k: v for k, v in evaluation.items() if k != "per_class"},
        "export": export,
    }
    atomic_write_text(os.path.join(run.run_dir, "report.json"), json.dumps(report, indent=2, default=str))
    print_fn("")
    print_fn(f"== {model} on {dataset}: {run.splits.sizes} images, device policy {run.policy}")
    print_fn(format_export_report(export))
    print_fn(f"Keras test accuracy {evaluation['accuracy']:.4f} | int8 TFLite accuracy "
             f"{report['int8_accuracy']:.4f} | int8 size {report['int8_size_vs_float32']:.2f}x float32 "
             f"| train {train_s:.0f}s, total {report['total_seconds']:.0f}s")
    print_fn(f"Artifacts: {run.run_dir} (model.keras, checkpoints/, logs/, plots/, exports/, report.json)")
    return report
