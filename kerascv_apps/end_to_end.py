"""One model end to end per task, as the recipes in ``recipes/``, the demo and the tests run
it (each takes the run's :class:`~kerascv_apps.config.TrainConfig`, or a model name with
TrainConfig keys over the task's recipe defaults): ``train_model(..., evaluate=True)`` (trains, then evaluates while it still holds the run
directory, as ``kerascv-apps train`` does) -> figures -> ``export_run`` -> ``summary.json``
(``report.json`` for the classification quickstart).

Every task goes through the same workflow functions (``kerascv_apps.experiment``); these add
only the task's summary and its one-line report.
"""

import json
import os
import time

from kerascv_apps.config import TrainConfig, config_from_args, recipe_config, recipe_parser
from kerascv_apps.experiment import export_run, train_model
from kerascv_apps.export.pipeline import format_export_report
from kerascv_apps.models.outputs import inference_model
from kerascv_apps.io import atomic_write_text


# the segmentation recipes' training settings unless a recipe says otherwise
SEGMENTATION_DEFAULTS = {"dataset": "shapes", "batch_size": 16, "learning_rate": 2e-3,
                         "augment": "none", "schedule": "cosine", "jit_compile": "auto"}


def run_segmentation(config, run_dir, *, loss="ce", border_weights=False, export=False,
                     export_formats=("float32", "int8"), max_quality_drop=0.01, verbose=2,
                     overwrite=False, num_figures=4, **settings):
    """Trains ``config`` (a TrainConfig, or a model name with TrainConfig keys in
    ``settings`` over ``SEGMENTATION_DEFAULTS``) and returns a summary dict (also written to
    summary.json). ``loss`` / ``border_weights``: the segmentation task's options."""
    start = time.time()
    config = recipe_config(config, SEGMENTATION_DEFAULTS, settings)
    dataset_kwargs = dict(config.dataset_kwargs)
    if border_weights:
        dataset_kwargs["instances"] = True
    config = config.replace(dataset_kwargs=dataset_kwargs, task_kwargs={
        **config.task_kwargs, "loss": loss, "border_weights": border_weights})
    trained = train_model(**config.train_kwargs(), run_dir=run_dir, overwrite=overwrite,
                          verbose=verbose, evaluate=True)
    model_name, epochs, batch_size = config.model, config.epochs, config.batch_size
    model_kwargs, augment = config.model_kwargs, config.augment
    train_seconds = time.time() - start - trained.evaluation_seconds
    model, task, splits = inference_model(trained.model), trained.task, trained.splits
    results = trained.evaluation
    from kerascv_apps.data.pipeline import take_images
    from kerascv_apps.tasks.segmentation import format_report

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
        summary["export"] = _export(model, task, splits, run_dir, model_name, export_formats,
                                    max_quality_drop, overwrite)
    _write_summary(run_dir, summary, start)
    atomic_write_text(os.path.join(run_dir, "evaluation.txt"), format_report(results) + "\n")
    return summary


def _export(model, task, splits, run_dir, model_name, formats, max_quality_drop, overwrite,
            **options):
    """Exports into ``run_dir/export`` (``export_run``; ``options``: ExportConfig keys) and
    returns the summary's ``export`` entry, in the task's quality metric."""
    report = export_run(model, task, splits, os.path.join(run_dir, "export"), model_name,
                        formats=formats, max_quality_drop=max_quality_drop, overwrite=overwrite,
                        **options)
    return export_summary(report, task.quality_metric)


def export_summary(report, metric):
    """The export report as a summary entry: the Keras value of ``metric`` and, per TFLite
    variant, its value, drop and size."""
    return {f"keras_{metric}": report["keras"]["value"], "passed": report["passed"],
            **{m: ({"refused": f["refused"]} if "refused" in f else
                   {metric: f["value"], "drop": f["quality_drop"], "size_bytes": f["size_bytes"]})
               for m, f in report["formats"].items() if m != "savedmodel"}}


def _write_summary(run_dir, summary, start):
    summary["total_seconds"] = round(time.time() - start, 1)
    atomic_write_text(os.path.join(run_dir, "summary.json"),
                      json.dumps(summary, indent=2, default=float))


def segmentation_summary_line(s):
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


# the SR recipes' training settings unless a recipe says otherwise
SR_DEFAULTS = {"dataset": "photos", "epochs": 10, "steps_per_epoch": 100, "batch_size": 16,
               "learning_rate": 1e-3, "schedule": "cosine", "jit_compile": "off"}


def run_super_resolution(config, run_dir, *, patch_size=24, task_kwargs=None, model=None,
                         export=False, export_formats=("float32", "int8"), max_quality_drop=1.0,
                         verbose=2, overwrite=False, splits=None, **settings):
    """Trains an SR model (``config``: a TrainConfig, or a model name with TrainConfig keys
    in ``settings`` over ``SR_DEFAULTS``; ``task_kwargs={"adversarial": True, ...}``: SRGAN's
    step; ``model``: start from a built/pretrained generator), scores it and bicubic on the
    held-out photos, optionally exports TFLite with a dynamic input size; returns the
    summary dict."""
    config = recipe_config(config, SR_DEFAULTS, settings)
    return _run_image_to_image(config, run_dir, lambda task, splits: {"scale": task.scale},
                               patch_size, task_kwargs, model, export, export_formats,
                               max_quality_drop, verbose, overwrite, splits)


def _run_image_to_image(config, run_dir, task_fields, patch_size, task_kwargs, model, export,
                        export_formats, max_quality_drop, verbose, overwrite, splits):
    """What ``run_super_resolution`` and ``run_restoration`` share: train (crops of
    ``patch_size``) and evaluate, the summary (``task_fields(task, splits)``: the task's own
    entries), an optional export with any input size, ``summary.json``."""
    start, cpu_start = time.time(), time.process_time()
    config = config.replace(task_kwargs={**config.task_kwargs, "patch_size": patch_size,
                                         **(task_kwargs or {})})
    trained = train_model(**config.train_kwargs(), run_dir=run_dir, overwrite=overwrite,
                          verbose=verbose, model=model, splits=splits, evaluate=True)
    steps_per_epoch = config.steps_per_epoch or trained.task.steps_per_epoch
    train_seconds = time.time() - start - trained.evaluation_seconds
    cpu_seconds = time.process_time() - cpu_start
    model, task, splits = trained.model, trained.task, trained.splits
    summary = {"model": config.model, "dataset": splits.name, **task_fields(task, splits),
               "epochs": config.epochs,
               "steps": len(trained.result.epochs_run) * steps_per_epoch,
               "batch_size": config.batch_size, "patch_size": patch_size,
               "params": int(model.count_params()), "train_seconds": round(train_seconds, 1),
               "cpu_seconds_train_and_eval": round(cpu_seconds, 1),
               "model_path": trained.result.model_path,
               "test": {k: v for k, v in trained.evaluation.items() if k not in ("plots",)}}
    if export:
        summary["export"] = _export(model, task, splits, run_dir, config.model, export_formats,
                                    max_quality_drop, overwrite,
                                    tflite_input_shape=(1, None, None, 3))
    _write_summary(run_dir, summary, start)
    return summary


def sr_summary_line(s):
    t = s["test"]
    line = (f"{s['model']} x{s['scale']} on {s['dataset']} ({s['steps']} steps): held-out "
            f"PSNR-Y {t['psnr_y']:.2f} dB vs bicubic {t['bicubic_psnr_y']:.2f} dB "
            f"({t['gain_psnr_y']:+.2f} dB), SSIM-Y {t['ssim_y']:.4f} vs "
            f"{t['bicubic_ssim_y']:.4f}; train {s['train_seconds']:.0f} s")
    if "export" in s:
        e = s["export"]
        line += "; TFLite PSNR-Y " + ", ".join(
            f"{m} {v['psnr_y']:.2f} ({v['drop']:+.3f})" for m, v in e.items() if isinstance(v, dict))
    return line


# the training flags every SR recipe shares (TrainConfig keys)
SR_FLAGS = ("epochs", "steps_per_epoch", "batch_size", "learning_rate", "seed")


def sr_recipe_parser(description, *, run_dir, scale, epochs, steps_per_epoch, batch_size,
                     patch_size, learning_rate, loss="mse", flags=None):
    """The command line every SR recipe shares (``recipe_parser``), with the recipe's budget
    as defaults: its training flags from TrainConfig (``SR_FLAGS``), the SR task's and the
    run's (``--scale``, ``--patch-size``, ``--loss``, ``--no-export``), then the recipe's own
    ``flags``."""
    return recipe_parser(description, run_dir, SR_FLAGS, {
        "epochs": epochs, "steps_per_epoch": steps_per_epoch, "batch_size": batch_size,
        "learning_rate": learning_rate}, {
        "scale": (scale, "upscaling factor"),
        "patch_size": (patch_size, "LR crop size (HR = scale x this)"),
        "loss": (loss, "pixel loss on RGB, or on the luma only (_y)",
                 ("mse", "l1", "mse_y", "l1_y")),
        "export": (True, "train and evaluate only (no TFLite export)"),
        **(flags or {})})


def run_sr_recipe(model_name, args, model_kwargs):
    """Runs an SR recipe from its parsed ``sr_recipe_parser`` options; prints the summary
    line."""
    config = config_from_args(args, SR_FLAGS, model_name, **{**SR_DEFAULTS,
                                                              "model_kwargs": model_kwargs})
    s = run_super_resolution(
        config, args.run_dir, patch_size=args.patch_size,
        task_kwargs={"pixel_loss": args.loss}, export=args.export,
        export_formats=("float32", "float16", "int8"), overwrite=args.overwrite)
    print(sr_summary_line(s))
    return s


# the quickstart (``make demo``): LeNet-5 on the embedded digits
QUICKSTART = TrainConfig("lenet5", dataset="digits", epochs=40, batch_size=32,
                         learning_rate=3e-3, augment="tf", schedule="cosine")


def run_quickstart(run_dir, model=None, dataset=None, epochs=None, batch_size=None,
                   learning_rate=None, augment=None, max_int8_drop=0.01, verbose=2,
                   print_fn=print, config=QUICKSTART):
    """Trains, evaluates and exports; writes ``report.json`` in ``run_dir`` and returns it.
    ``config``: the run's TrainConfig (default ``QUICKSTART``); the other arguments, when
    given, replace its keys."""
    start = time.perf_counter()
    config = recipe_config(config, {}, {"model": model, "dataset": dataset, "epochs": epochs,
                                        "batch_size": batch_size, "augment": augment,
                                        "learning_rate": learning_rate})
    model, dataset, epochs = config.model, config.dataset, config.epochs
    run = train_model(**config.train_kwargs(), run_dir=run_dir, verbose=verbose, evaluate=True)
    train_s = time.perf_counter() - start - run.evaluation_seconds
    evaluation = run.evaluation
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


# the restoration recipes' training settings unless a recipe says otherwise
RESTORATION_DEFAULTS = {"dataset": "restore", "epochs": 10, "steps_per_epoch": 100,
                        "batch_size": 16, "learning_rate": 1e-3, "schedule": "cosine",
                        "augment": "none", "jit_compile": "off", "precision": "float32"}


def run_restoration(config, run_dir, *, patch_size=48, task_kwargs=None, model=None,
                    export=False, export_formats=("savedmodel", "float32", "int8"),
                    max_quality_drop=0.3, verbose=2, overwrite=False, splits=None, **settings):
    """Trains a restorer (``config``: a TrainConfig, or a model name with TrainConfig keys in
    ``settings`` over ``RESTORATION_DEFAULTS``; ``model``: start from a built / pre-trained
    one, e.g. LLNet after layer-wise pre-training), scores it and the degradation's baselines
    per held-out photo, optionally exports (int8 gated by ``max_quality_drop`` dB of PSNR);
    returns the summary dict with wall and process CPU seconds of training."""
    config = recipe_config(config, RESTORATION_DEFAULTS, settings)
    return _run_image_to_image(
        config, run_dir, lambda task, splits: {"degradation": splits.info.get("degradation")},
        patch_size, task_kwargs, model, export, export_formats, max_quality_drop, verbose,
        overwrite, splits)


def restoration_table(s):
    """The per-photo table of a restoration summary: PSNR / SSIM of the model and each
    baseline, one photo per line, then the means."""
    t = s["test"]
    methods = ["model"] + [b for b in t["baselines"]]
    key = lambda m, k: k if m == "model" else f"{m}_{k}"  # noqa: E731
    head = f"{'photo':<16}" + "".join(f"{m:>16}" for m in methods)
    lines = [f"{s['model']} on {s['dataset']} ({s['degradation']}), PSNR dB / SSIM (RGB)", head]
    for row in t["per_image"] + [dict(t, image="mean")]:
        lines.append(f"{str(row['image']):<16}" + "".join(
            f"{row[key(m, 'psnr')]:>9.2f}/{row[key(m, 'ssim')]:.3f}" for m in methods))
    if "train_seconds" not in s:
        return "\n".join(lines + [""])
    line = (f"train {s['train_seconds']:.0f} s wall, {s['cpu_seconds_train_and_eval']:.0f} s "
            f"CPU (train + eval), {s['steps']} steps of {s['batch_size']} crops "
            f"{s['patch_size']}x{s['patch_size']}")
    if "export" in s:
        e = s["export"]
        line += "; TFLite PSNR " + ", ".join(
            f"{m} {v['psnr']:.2f} ({v['drop']:+.3f})" for m, v in e.items() if isinstance(v, dict)
            and "psnr" in v)
    return "\n".join(lines + [line])
