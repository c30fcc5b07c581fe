"""Shared body of the segmentation recipes: train on a dataset (default the embedded
``shapes``), evaluate on the test split (mean IoU, per-class IoU, pixel accuracy, boundary F1),
write prediction figures, optionally export (SavedModel + TFLite) with mIoU verification.

Everything here calls public library functions (``kerascv_apps.experiment``, the Task).
"""

import argparse
import json
import os
import time

from kerascv_apps.data.pipeline import take_images
from kerascv_apps.experiment import deployable, evaluate_model, export_run, train_model
from kerascv_apps.io import atomic_write_text
from kerascv_apps.tasks.segmentation import format_report


def run(model_name, run_dir, *, epochs, batch_size=16, learning_rate=2e-3, model_kwargs=None,
        dataset="shapes", dataset_kwargs=None, augment="none", loss="ce", border_weights=False,
        export=False, export_formats=("float32", "int8"), max_quality_drop=0.01, seed=0,
        verbose=2, overwrite=False, num_figures=4):
    """Trains ``model_name`` and returns a summary dict (also written to summary.json)."""
    start = time.time()
    dataset_kwargs = dict(dataset_kwargs or {})
    if border_weights:
        dataset_kwargs["instances"] = True
    trained = train_model(model_name, dataset, run_dir, epochs=epochs, batch_size=batch_size,
                          augment=augment, learning_rate=learning_rate, schedule="cosine",
                          seed=seed, model_kwargs=model_kwargs, dataset_kwargs=dataset_kwargs,
                          task_kwargs={"loss_spec": loss, "border_weights": border_weights},
                          overwrite=overwrite, verbose=verbose, jit_compile="auto")
    train_seconds = time.time() - start
    model, task, splits = deployable(trained.model), trained.task, trained.splits
    results = evaluate_model(model, task, splits, out_dir=run_dir, history=trained.result.history)
    images = take_images(splits.test, num_figures)
    figures = task.save_predictions(images, model.predict(images, verbose=0),
                                    os.path.join(run_dir, "predictions"), limit=num_figures)
    summary = {"model": model_name, "dataset": splits.name, "epochs": epochs,
               "batch_size": batch_size, "train_examples": splits.sizes.get("train"),
               "model_kwargs": model_kwargs or {}, "loss": loss, "border_weights": border_weights,
               "augment": augment, "params": int(model.count_params()),
               "train_seconds": round(train_seconds, 1),
               "test": {k: results[k] for k in ("miou", "pixel_accuracy", "boundary_f1",
                                                "boundary_tolerance", "per_class")},
               "figures": figures}
    if export:
        report = export_run(model, task, splits, os.path.join(run_dir, "export"), model_name,
                            formats=export_formats, max_quality_drop=max_quality_drop,
                            overwrite=overwrite)
        summary["export"] = {"keras_miou": report["keras"]["value"], "passed": report["passed"],
                             **{m: {"miou": f["value"], "drop": f["quality_drop"],
                                    "size_bytes": f["size_bytes"]}
                                for m, f in report["formats"].items() if m != "savedmodel"}}
    summary["total_seconds"] = round(time.time() - start, 1)
    atomic_write_text(os.path.join(run_dir, "summary.json"),
                      json.dumps(summary, indent=2, default=float))
    atomic_write_text(os.path.join(run_dir, "evaluation.txt"), format_report(results) + "\n")
    return summary


def summary_line(s):
    t = s["test"]
    line = (f"{s['model']} on {s['dataset']}: test mIoU {t['miou']:.4f}, pixel acc "
            f"{t['pixel_accuracy']:.4f}, boundary F1 {t['boundary_f1']:.4f} "
            f"(tol {t['boundary_tolerance']} px); {s['epochs']} epochs, {s['params']:,} params, "
            f"train {s['train_seconds']:.0f} s")
    if "export" in s:
        e = s["export"]
        parts = [f"{m} {v['miou']:.4f} ({v['drop']:+.4f})" for m, v in e.items()
                 if isinstance(v, dict)]
        line += f"; TFLite mIoU (drop vs Keras {e['keras_miou']:.4f}): " + ", ".join(parts)
    return line


def main(model_name, defaults, description, argv=None):
    """Command-line entry shared by the recipes; ``defaults`` are the recipe's budgets."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", default=defaults.pop("run_dir"))
    p.add_argument("--epochs", type=int, default=defaults.pop("epochs"))
    p.add_argument("--batch-size", type=int, default=defaults.pop("batch_size", 16))
    p.add_argument("--learning-rate", type=float, default=defaults.pop("learning_rate", 2e-3))
    p.add_argument("--num-train", type=int, default=defaults.pop("num_train", 800))
    p.add_argument("--augment", default=defaults.pop("augment", "none"),
                   choices=["none", "tf", "albumentations"])
    p.add_argument("--loss", default=defaults.pop("loss", "ce"),
                   help="ce, dice, focal or sums like ce+dice")
    p.add_argument("--export", action="store_true", default=defaults.pop("export", False))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace a finished run in --run-dir")
    a = p.parse_args(argv)
    s = run(model_name, a.run_dir, epochs=a.epochs, batch_size=a.batch_size,
            learning_rate=a.learning_rate, augment=a.augment, loss=a.loss, export=a.export,
            seed=a.seed, dataset_kwargs={"num_train": a.num_train}, overwrite=a.overwrite,
            **defaults)
    print(summary_line(s))
    return s
