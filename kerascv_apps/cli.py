"""``kerascv-apps``: a thin command line over the library (every command calls public functions
that the tests also call)."""

import argparse
import json
import os
import sys


def _kv(text):
    """``key=value`` with a JSON value when it parses (``depth=4``, ``widths=[32,64]``)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _shape(text):
    try:
        parts = [None if p in ("None", "none", "") else int(p) for p in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected H,W,C (e.g. 224,224,3), got {text!r}")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected H,W,C (e.g. 224,224,3), got {text!r}")
    return tuple(parts)


def _add_data_args(p, default="digits"):
    p.add_argument("--dataset", default=default,
                   help="dataset name (see list-models --datasets), tfds:<name> or folder:<path>"
                        + ("" if default else "; default: the one in the run's run.json"))
    p.add_argument("--dataset-arg", type=_kv, action="append", default=[], metavar="KEY=VALUE",
                   help="extra argument of the dataset loader (repeatable)")


def build_parser():
    parser = argparse.ArgumentParser(prog="kerascv-apps", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list-models", help="list registered models (and datasets)")
    p.add_argument("--task", choices=["classification", "segmentation", "super_resolution"])
    p.add_argument("--datasets", action="store_true", help="list datasets instead")

    p = sub.add_parser("train", help="train a model into a run directory (resumes if interrupted)")
    p.add_argument("--model", required=True, help="registered model name")
    _add_data_args(p)
    p.add_argument("--run-dir", required=True, help="output folder (checkpoints, logs, history)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps-per-epoch", type=int, default=None,
                   help="repeat the training split and run this many steps per epoch "
                        "(default: the task's choice; one pass for classification)")
    p.add_argument("--optimizer", default="adam", choices=["sgd", "adam", "adamw", "rmsprop"])
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--schedule", default="cosine", choices=["constant", "cosine", "step", "exponential"])
    p.add_argument("--warmup-epochs", type=float, default=0)
    p.add_argument("--augment", default="tf", choices=["none", "tf", "albumentations"])
    p.add_argument("--early-stopping", type=int, default=None, metavar="PATIENCE")
    p.add_argument("--xla", default="auto", choices=["auto", "on", "off"])
    p.add_argument("--precision", default="auto",
                   choices=["auto", "float32", "mixed_float16", "mixed_bfloat16"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model-arg", type=_kv, action="append", default=[], metavar="KEY=VALUE",
                   help="extra builder argument, e.g. dropout=0.3 (repeatable)")
    p.add_argument("--overwrite", action="store_true", help="replace a finished run in --run-dir")

    p = sub.add_parser("evaluate", help="evaluate a saved model on a dataset split")
    p.add_argument("--model-path", required=True, help=".keras file")
    p.add_argument("--model-name", help="registered name (default: from run.json beside it)")
    _add_data_args(p, default=None)
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--out", help="folder for evaluation.json and plots")

    p = sub.add_parser("export", help="export SavedModel + TFLite variants and verify them")
    p.add_argument("--model-path", required=True, help=".keras file")
    p.add_argument("--model-name", help="registered name (default: from run.json beside it)")
    _add_data_args(p, default=None)
    p.add_argument("--out", required=True, help="export folder (must not exist)")
    p.add_argument("--name", help="artifact name (default: the model name)")
    p.add_argument("--formats", default="savedmodel,float32,float16,dynamic,int8",
                   help="comma list of savedmodel, float32, float16, dynamic, int8, int16x8, "
                        "litert_int8, litert_int16x8 (the last two: LiteRT Quantizer)")
    p.add_argument("--max-int8-drop", type=float, default=0.01,
                   help="largest allowed int8 drop of the task's quality metric (0.01 = 1 point)")
    p.add_argument("--limit", type=int, help="verify on at most N test examples")
    p.add_argument("--calibration-images", type=int, default=200, metavar="N",
                   help="representative training images for full-integer calibration")
    p.add_argument("--int8-io", action="store_true",
                   help="int8 input/output for the int8 file (default uint8, as MediaPipe needs)")
    p.add_argument("--overwrite", action="store_true")

    p = sub.add_parser("optimize", help="QAT / pruning / weight clustering through tfmot -> .tflite")
    p.add_argument("--model-path", required=True, help=".keras file")
    p.add_argument("--model-name", help="registered name (default: from run.json beside it)")
    _add_data_args(p, default=None)
    p.add_argument("--out", required=True, help="output .tflite file (must not exist)")
    kind = p.add_mutually_exclusive_group(required=True)
    kind.add_argument("--qat", action="store_true", help="quantization-aware training -> int8")
    kind.add_argument("--prune", type=float, metavar="SPARSITY", help="magnitude pruning, e.g. 0.5")
    kind.add_argument("--cluster", type=int, metavar="N", help="weight clustering, e.g. 16")
    p.add_argument("--epochs", type=int, default=1, help="fine-tuning epochs")
    p.add_argument("--limit", type=int, help="verify on at most N test examples")

    p = sub.add_parser("predict", help="run a saved model on image files")
    p.add_argument("--model-path", required=True, help=".keras file")
    p.add_argument("--model-name", help="registered name (default: from run.json beside it)")
    p.add_argument("--out", help="folder for output images (segmentation, super-resolution)")
    p.add_argument("images", nargs="+")

    p = sub.add_parser("tune", help="random hyperparameter search (KerasTuner)")
    p.add_argument("--model", required=True)
    _add_data_args(p)
    p.add_argument("--run-dir", required=True, help="search folder (re-running continues it)")
    p.add_argument("--max-trials", type=int, default=8)
    p.add_argument("--epochs", type=int, default=5, help="epochs per trial")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--augment", default="none", choices=["none", "tf", "albumentations"])
    p.add_argument("--model-arg", type=_kv, action="append", default=[], metavar="KEY=VALUE")

    p = sub.add_parser("summary", help="per-layer table: shapes, params, receptive field, FLOPs")
    p.add_argument("model", help="registered model name")
    p.add_argument("--input-shape", type=_shape, help="H,W,C")
    p.add_argument("--num-classes", type=int)
    return parser


def run_info(model_path, model_name):
    """The registered name and data of the run a .keras file came from (run.json beside it)."""
    info = {}
    folder = os.path.dirname(os.path.abspath(model_path))
    for candidate in (folder, os.path.dirname(folder)):
        path = os.path.join(candidate, "run.json")
        if os.path.exists(path):
            with open(path) as f:
                info = json.load(f)
            break
    name = model_name or info.get("model")
    if not name:
        raise SystemExit(f"error: cannot tell which model {model_path} is: no run.json beside it; "
                         f"pass --model-name")
    return name, info


def cmd_list_models(args):
    from kerascv_apps.registry import get_entry, list_models

    if args.datasets:
        from kerascv_apps.data import list_datasets

        for name in list_datasets(args.task):
            print(name)
        return 0
    for name in list_models(task=args.task):
        entry = get_entry(name)
        print(f"{name:<28} {entry.task:<17} {entry.description}")
    return 0


def cmd_train(args):
    from kerascv_apps.experiment import evaluate_model, train_model

    run = train_model(
        args.model, args.dataset, args.run_dir, epochs=args.epochs, batch_size=args.batch_size,
        augment=args.augment, optimizer=args.optimizer, learning_rate=args.lr,
        weight_decay=args.weight_decay, momentum=args.momentum, schedule=args.schedule,
        warmup_epochs=args.warmup_epochs, seed=args.seed, precision=args.precision,
        jit_compile=args.xla, early_stopping_patience=args.early_stopping,
        model_kwargs=dict(args.model_arg), dataset_kwargs=dict(args.dataset_arg),
        overwrite=args.overwrite, steps_per_epoch=args.steps_per_epoch)
    results = evaluate_model(run.model, run.task, run.splits, run.run_dir,
                             history=run.result.history)
    print(f"{run.task.quality_metric} on test: {results[run.task.quality_metric]:.4f}; "
          f"model: {run.result.model_path}")
    return 0


def _load_for(args):
    from kerascv_apps.data import load_dataset
    from kerascv_apps.experiment import task_for
    from kerascv_apps.io import load_model

    name, info = run_info(args.model_path, args.model_name)
    dataset_kwargs = dict(args.dataset_arg or info.get("dataset_kwargs", {}))
    model = load_model(args.model_path, compile=False)
    splits = load_dataset(args.dataset or info.get("dataset") or "digits", **dataset_kwargs)
    return name, model, splits, task_for(name, splits)


def cmd_evaluate(args):
    from kerascv_apps.experiment import evaluate_model

    name, model, splits, task = _load_for(args)
    results = evaluate_model(model, task, splits, args.out, split=args.split)
    printable = {k: v for k, v in results.items() if not isinstance(v, (list, dict))}
    print(json.dumps(printable, indent=2))
    return 0


def cmd_export(args):
    from kerascv_apps.experiment import export_run
    from kerascv_apps.export.pipeline import format_export_report

    name, model, splits, task = _load_for(args)
    report = export_run(model, task, splits, args.out, args.name or name,
                        formats=tuple(f.strip() for f in args.formats.split(",") if f.strip()),
                        max_quality_drop=args.max_int8_drop, overwrite=args.overwrite,
                        limit=args.limit, num_calibration=args.calibration_images,
                        integer_io="int8" if args.int8_io else "uint8")
    print(format_export_report(report))
    print(f"exported to {args.out}")
    return 0


def cmd_optimize(args):
    from kerascv_apps.experiment import deployable
    from kerascv_apps.optimize.tfmot_ops import optimize_to_file

    name, model, splits, task = _load_for(args)
    kind = "qat" if args.qat else "prune" if args.prune is not None else "cluster"
    info = optimize_to_file(deployable(model), task, splits, args.out, kind, name=name,
                            epochs=args.epochs, sparsity=args.prune or 0.5,
                            clusters=args.cluster or 16, limit=args.limit)
    print(json.dumps(info))
    return 0


def task_from_run(name, info):
    """The Task of a registered model, with the class names recorded in its run.json."""
    from kerascv_apps.registry import get_entry
    from kerascv_apps.tasks import get_task

    data = info.get("data", {})
    kwargs = {"num_classes": data["num_classes"], "class_names": data.get("class_names")} \
        if data.get("num_classes") else {}
    return get_task(get_entry(name).task, **kwargs)


def cmd_predict(args):
    from kerascv_apps.experiment import deployable
    from kerascv_apps.io import load_model

    name, info = run_info(args.model_path, args.model_name)
    task = task_from_run(name, info)
    missing = [p for p in args.images if not os.path.exists(p)]
    if missing:
        raise SystemExit(f"error: image files not found: {missing}")
    model = deployable(load_model(args.model_path, compile=False))
    for result in task.predict_files(model, args.images, args.out):
        print(json.dumps(result))
    return 0


def cmd_tune(args):
    from kerascv_apps.data import load_dataset
    from kerascv_apps.training.tuning import tune

    splits = load_dataset(args.dataset, **dict(args.dataset_arg))
    result = tune(args.model, splits, args.run_dir, max_trials=args.max_trials,
                  epochs=args.epochs, batch_size=args.batch_size, augment=args.augment,
                  model_kwargs=dict(args.model_arg))
    print(json.dumps({k: result[k] for k in ("objective", "best_score", "best_hyperparameters",
                                             "trials")}, indent=2))
    return 0


def cmd_summary(args):
    from kerascv_apps.registry import build_model

    kwargs = {}
    if args.input_shape:
        kwargs["input_shape"] = args.input_shape
    if args.num_classes:
        kwargs["num_classes"] = args.num_classes
    model = build_model(args.model, **kwargs)
    try:
        from kerascv_apps.summary import format_summary, model_summary
    except ImportError:
        model.summary()
        return 0
    print(format_summary(model_summary(model)))
    return 0


COMMANDS = {"list-models": cmd_list_models, "train": cmd_train, "evaluate": cmd_evaluate,
            "export": cmd_export, "predict": cmd_predict, "tune": cmd_tune,
            "summary": cmd_summary, "optimize": cmd_optimize}


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    from kerascv_apps.data import DataError
    from kerascv_apps.export.pipeline import ExportQualityError
    from kerascv_apps.registry import UnknownModelError
    from kerascv_apps.training.trainer import RunDirError, TrainingDivergedError

    try:
        return COMMANDS[args.command](args)
    except (UnknownModelError, DataError, ExportQualityError, RunDirError, TrainingDivergedError,
            FileExistsError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2 if isinstance(e, (UnknownModelError, DataError, ValueError)) else 1


if __name__ == "__main__":
    sys.exit(main())
