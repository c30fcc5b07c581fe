"""``kerascv-apps``: a thin command line over the library (every command calls public functions
that the tests also call).

Exit codes: 0 = success; 2 = the command was refused before any work (bad arguments or input
data, a missing file, a destination that holds results or is in use by another process);
1 = a failure during the work (training diverged, the int8 quality gate failed, an image
failed in ``predict``, or an unexpected error).
"""

import argparse
import contextlib
import functools
import json
import math
import os
import sys

from kerascv_apps.runs import run_dir_of, run_info, task_from_run


class UsageError(ValueError):
    """Bad command-line input found after parsing (exit code 2)."""


class _Formatter(argparse.HelpFormatter):
    """Shows every option's default (also for options without a help text); texts that already
    say what happens by default ("default: ...") are left as they are."""

    def _format_action(self, action):
        if (action.option_strings and action.default not in (None, argparse.SUPPRESS, [], False)
                and "default" not in (action.help or "")):
            action.help = ((action.help + " ") if action.help else "") + "(default: %(default)s)"
        return super()._format_action(action)


_INT_MAX = 2 ** 31 - 1  # counts (epochs, steps, batch sizes) end up in 32-bit TF and numpy


def _number(kind, minimum, strict):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not math.isfinite(value) or value < minimum or (strict and value == minimum):
            bound = f"{'>' if strict else '>='} {minimum}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        if kind is int and value > _INT_MAX:
            raise argparse.ArgumentTypeError(f"must be at most {_INT_MAX} (a 32-bit count), "
                                             f"got {text}")
        return value
    parse.__name__ = kind.__name__
    return parse


_positive_int = _number(int, 0, strict=True)
_positive_float = _number(float, 0.0, strict=True)
_non_negative_float = _number(float, 0.0, strict=False)
_non_negative_int = _number(int, 0, strict=False)


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


def _add_data_args(p, default_help="the one in the run's run.json"):
    p.add_argument("--dataset", default=None,
                   help="dataset name (see list-models --datasets), tfds:<name> or folder:<path>"
                        f"; default: {default_help}")
    p.add_argument("--dataset-arg", type=_kv, action="append", default=[], metavar="KEY=VALUE",
                   help="extra argument of the dataset loader (repeatable)")
    p.add_argument("--cache", metavar="DIR", default=None,
                   help="cache decoded examples of streamed sources (folders, tfrecord) in DIR "
                        "(same as --dataset-arg cache=DIR; default: no cache)")


def _add_task_args(p):
    from kerascv_apps.tasks.options import options_help

    p.add_argument("--task-arg", type=_kv, action="append", default=[], metavar="KEY=VALUE",
                   help="option of the model's task (repeatable; wins over --task-args-file), "
                        "e.g. loss=ce+dice, class_weights=median_frequency. Accepted: "
                        + options_help())
    p.add_argument("--task-args-file", metavar="FILE.json", default=None,
                   help="JSON object of task options, e.g. {\"loss\": \"dice\"}")


def _task_args(args):
    from kerascv_apps.tasks.options import merge_task_args

    return merge_task_args(args.task_args_file, args.task_arg)


def _version():
    from kerascv_apps import __version__

    return __version__


def args_list_models(p):
    p.add_argument("--task", help="only this task's models (a registered task: classification, "
                                  "segmentation, super_resolution, ...)")
    p.add_argument("--datasets", action="store_true", help="list datasets instead")


def args_train(p):
    from kerascv_apps.config import DEFAULTS as D

    p.add_argument("--config", metavar="FILE",
                   help="train this config: a JSON/YAML file of TrainConfig keys or a finished "
                        "run's run.json (reproduces that run); flags given beside it override "
                        "the file")
    p.add_argument("--model", help="registered model name (required unless --config)")
    _add_data_args(p, "the task's bundled dataset (digits, shapes, photos)")
    p.add_argument("--run-dir", required=True, help="output folder (checkpoints, logs, history)")
    p.add_argument("--epochs", type=_positive_int, default=D["epochs"], help="total epochs")
    p.add_argument("--batch-size", type=_positive_int, default=D["batch_size"])
    p.add_argument("--steps-per-epoch", type=_positive_int, default=D["steps_per_epoch"],
                   help="repeat the training split and run this many steps per epoch "
                        "(default: the task's choice; one pass for classification; 100 for "
                        "super-resolution, whose epochs are random crops: 24x24 LR, L1 loss, LR "
                        "from TF bicubic with or without antialias)")
    p.add_argument("--optimizer", default=D["optimizer"],
                   choices=["sgd", "adam", "adamw", "rmsprop"])
    p.add_argument("--lr", type=_positive_float, default=D["learning_rate"],
                   help="peak learning rate")
    p.add_argument("--momentum", type=_non_negative_float, default=D["momentum"],
                   help="SGD momentum")
    p.add_argument("--weight-decay", type=_non_negative_float, default=D["weight_decay"])
    p.add_argument("--clipnorm", type=_positive_float, default=D["clipnorm"], metavar="NORM",
                   help="clip each weight's gradient to this norm (default: no clipping)")
    p.add_argument("--schedule", default=D["schedule"],
                   choices=["constant", "cosine", "step", "exponential"])
    p.add_argument("--warmup-epochs", type=_non_negative_float, default=D["warmup_epochs"])
    p.add_argument("--augment", default=D["augment"], choices=["none", "tf", "albumentations"])
    p.add_argument("--early-stopping", type=_positive_int, default=D["early_stopping_patience"],
                   metavar="PATIENCE",
                   help="stop after this many epochs without improvement (default: off)")
    p.add_argument("--divergence-factor", type=_non_negative_float,
                   default=D["divergence_factor"],
                   help="stop when an epoch's loss exceeds this many times the first batch's "
                        "loss (0: stop on NaN/inf only)")
    p.add_argument("--xla", default=D["jit_compile"], choices=["auto", "on", "off"])
    p.add_argument("--precision", default=D["precision"],
                   choices=["auto", "float32", "mixed_float16", "mixed_bfloat16"])
    p.add_argument("--seed", type=int, default=D["seed"])
    p.add_argument("--model-arg", type=_kv, action="append", default=[], metavar="KEY=VALUE",
                   help="extra builder argument, e.g. dropout=0.3 (repeatable)")
    _add_task_args(p)
    p.add_argument("--overwrite", action="store_true",
                   help="replace a finished run (or an unfinished run of another model or "
                        "dataset) in --run-dir; an unfinished run of the same model resumes")
    p.add_argument("--strategy", default="default",
                   choices=["default", "mirrored", "multiworker", "tpu"],
                   help="tf.distribute strategy; --batch-size is per replica (multiworker: "
                        "start the same command in every process with TF_CONFIG set)")
    p.add_argument("--weights", metavar="PATH", default=None,
                   help="start from a weights file (e.g. keras.applications' ImageNet .h5) with "
                        "a new class layer; only the head and the last block train")


def args_evaluate(p):
    p.add_argument("--model-path", required=True, help=".keras file")
    p.add_argument("--model-name", help="registered name (default: from run.json beside it)")
    _add_data_args(p)
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--out", help="folder for evaluation.json and plots")


def args_export(p):
    from kerascv_apps.config import ExportConfig

    d = ExportConfig()
    p.add_argument("--config", metavar="FILE",
                   help="export with this config: a JSON/YAML file of ExportConfig keys "
                        "(formats, max_quality_drop, limit, num_calibration, integer_io, "
                        "tflite_input_shape, rgb_input, version, description, batch_size, "
                        "latency_runs) or an earlier export_report.json; flags given beside it "
                        "override the file")
    p.add_argument("--model-path", required=True, help=".keras file")
    p.add_argument("--model-name", help="registered name (default: from run.json beside it)")
    _add_data_args(p)
    p.add_argument("--out", required=True,
                   help="export folder (must not exist; must not contain or lie inside the "
                        "model's run directory)")
    p.add_argument("--name", help="artifact name (default: the model name)")
    p.add_argument("--formats", default=None,
                   help="comma-separated export formats: savedmodel, float32, float16, dynamic, "
                        "int8, int16x8, litert_int8, litert_int16x8 (LiteRT Quantizer), onnx, "
                        "onnx_int8 (ONNX float32 / QDQ int8, verified by onnxruntime; needs "
                        "the 'onnx' extra); default: the task's formats ("
                        f"{','.join(d.formats)}; a generation model: no int8)")
    p.add_argument("--max-int8-drop", type=_non_negative_float, default=d.max_quality_drop,
                   help="largest allowed int8 drop of the task's quality metric (0.01 = 1 point)")
    p.add_argument("--limit", type=_positive_int, metavar="N", default=d.limit,
                   help="verify the Keras model and each TFLite file on at most N test examples "
                        "(batched where the file allows it; a progress bar per run on stderr "
                        "when it is a terminal)")
    p.add_argument("--no-progress", action="store_true",
                   help="no verification progress bars (stage lines are still printed)")
    p.add_argument("--calibration-images", type=_positive_int, default=d.num_calibration,
                   metavar="N", help="representative training images for full-integer "
                                     "calibration")
    p.add_argument("--int8-io", action="store_true",
                   help="int8 input/output for the int8 file (default uint8, as MediaPipe needs)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")


def args_optimize(p):
    p.add_argument("--model-path", required=True, help=".keras file")
    p.add_argument("--model-name", help="registered name (default: from run.json beside it)")
    _add_data_args(p)
    p.add_argument("--out", required=True, help="output .tflite file (must not exist)")
    kind = p.add_mutually_exclusive_group(required=True)
    kind.add_argument("--qat", action="store_true",
                      help="quantization-aware training -> full-integer int8 (uint8 I/O); the "
                           "fake-quant ranges start from --calibration-images, not tfmot's [-6, 6]")
    kind.add_argument("--prune", type=_positive_float, metavar="SPARSITY",
                      help="magnitude pruning to this sparsity, e.g. 0.5")
    kind.add_argument("--cluster", type=_positive_int, metavar="N",
                      help="weight clustering, e.g. 16")
    p.add_argument("--epochs", type=_positive_int, default=2,
                   help="fine-tuning epochs from the trained model (default 2)")
    p.add_argument("--lr", type=_positive_float, default=1e-4,
                   help="fine-tuning learning rate (Adam, constant; default 1e-4: small, the "
                        "model is already trained)")
    p.add_argument("--calibration-images", type=_positive_int, default=200, metavar="N",
                   help="training images that set the QAT ranges and calibrate the layers QAT "
                        "leaves in float (e.g. Rescaling)")
    p.add_argument("--limit", type=_positive_int, help="verify on at most N test examples")


def args_predict(p):
    p.add_argument("--model-path", required=True, help=".keras file")
    p.add_argument("--model-name", help="registered name (default: from run.json beside it)")
    p.add_argument("--out", help="folder for output images (segmentation, super-resolution)")
    p.add_argument("--explain", choices=["gradcam", "saliency"],
                   help="also write a heat-map overlay <stem>_<method>.png into --out: Grad-CAM "
                        "on the deepest feature level, or gradient saliency (classification, "
                        "segmentation)")
    p.add_argument("--explain-class", type=int, metavar="ID",
                   help="class to explain (default: top-1; segmentation: the class most pixels "
                        "of the region are predicted as)")
    p.add_argument("--explain-layer", metavar="NAME", help="Grad-CAM layer (default: the "
                   "last declared feature level, else the deepest-stride layer)")
    p.add_argument("--explain-region", type=_box, metavar="X0,Y0,X1,Y1",
                   help="segmentation: the box of model-input pixels whose class score is "
                        "explained (default: the pixels predicted as the class)")
    p.add_argument("images", nargs="+", help="image files (each is reported on its own line)")


def args_sample(p):
    p.add_argument("--model-path", required=True, help=".keras file of a generation model")
    p.add_argument("--model-name", help="registered name (default: from run.json beside it)")
    p.add_argument("--n", type=_positive_int, default=64, help="number of samples (grid)")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="seed of the latent draws")
    p.add_argument("--out", required=True,
                   help="folder for samples.png, interpolation.png, latent_map.png (the first "
                        "two latent dimensions over N(0, 1) quantiles, the others 0) and "
                        "samples.npz")


def args_embed(p):
    p.add_argument("--model-path", required=True, help=".keras file of an autoencoder or VAE")
    p.add_argument("--model-name", help="registered name (default: from run.json beside it)")
    _add_data_args(p)
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--out", required=True,
                   help="output .npz (codes: N x code size, labels: N), written atomically")


def args_explain(p):
    p.add_argument("what", choices=["filters"],
                   help="filters: the first convolution's filters beside their closest "
                        "Gaussian-derivative fit (filters.png, filters.json), and with "
                        "--image the activations of one layer")
    p.add_argument("--model-path", required=True, help=".keras file")
    p.add_argument("--out", required=True, help="folder for the PNG and JSON files")
    p.add_argument("--image", help="image file whose activations are drawn")
    p.add_argument("--layer", help="layer (or level Pk of a model that declares feature taps) "
                                   "whose activations are drawn (default: the deepest feature "
                                   "level, as Grad-CAM uses)")


def args_tune(p):
    p.add_argument("--model", required=True)
    _add_data_args(p, "the task's bundled dataset (digits, shapes, photos)")
    p.add_argument("--run-dir", required=True, help="search folder (re-running continues it)")
    p.add_argument("--tuner", default="random", choices=["random", "hyperband", "bayesian"],
                   help="distributed: set KERASTUNER_TUNER_ID/ORACLE_IP/ORACLE_PORT")
    p.add_argument("--max-trials", type=_positive_int, default=8,
                   help="trials of random/bayesian (hyperband: --epochs decides)")
    p.add_argument("--epochs", type=_positive_int, default=5, help="epochs per trial")
    p.add_argument("--batch-size", type=_positive_int, default=64)
    p.add_argument("--augment", default="none", choices=["none", "tf", "albumentations"])
    p.add_argument("--model-arg", type=_kv, action="append", default=[], metavar="KEY=VALUE")


def args_prepare(p):
    _add_data_args(p)
    p.add_argument("--out", required=True, help="output folder (must not exist)")
    p.add_argument("--examples-per-shard", type=_positive_int, default=1000,
                   help="examples per TFRecord shard")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")


def args_benchmark(p):
    p.add_argument("--models", default="mobilenet_v2", help="comma-separated registered names")
    p.add_argument("--image-size", type=_positive_int, default=224)
    p.add_argument("--batch-size", type=_positive_int, default=16)
    p.add_argument("--steps", type=_positive_int, default=5, help="timed steps per measurement")
    p.add_argument("--xla", default="off", help="comma-separated: off,on")
    p.add_argument("--precisions", default="float32",
                   help="comma-separated: float32,mixed_float16,mixed_bfloat16")
    p.add_argument("--folder", help="JPEG class folder for the input pipeline (default: "
                                    "generated from scikit-image's photos)")
    p.add_argument("--skip", default="", help="comma-separated: twins,pipeline,tflite")
    p.add_argument("--json", help="write the results here")


def args_summary(p):
    p.add_argument("model", help="registered model name")
    p.add_argument("--input-shape", type=_shape, help="H,W,C")
    p.add_argument("--num-classes", type=_positive_int)


def args_clean(p):
    p.add_argument("paths", nargs="*", default=["."],
                   help="folders to search, 4 levels deep (run or export dirs; never their "
                        "parents). Only names this package marks as its own (.<name>.kcv-tmp-"
                        "<pid>-*, .<name>.kcv-old-<pid>-*) whose process is gone, its lock files "
                        "and kcv_*_<pid>_* temp folders are touched; each line says why")
    p.add_argument("--dry-run", action="store_true", help="only list what would be removed")




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


# train flag (argparse dest) -> TrainConfig key
TRAIN_FLAGS = {"model": "model", "dataset": "dataset", "dataset_arg": "dataset_kwargs",
               "model_arg": "model_kwargs", "epochs": "epochs", "batch_size": "batch_size",
               "steps_per_epoch": "steps_per_epoch", "optimizer": "optimizer",
               "lr": "learning_rate", "momentum": "momentum", "weight_decay": "weight_decay",
               "clipnorm": "clipnorm", "schedule": "schedule", "warmup_epochs": "warmup_epochs", "augment": "augment",
               "early_stopping": "early_stopping_patience",
               "divergence_factor": "divergence_factor", "xla": "jit_compile",
               "precision": "precision", "seed": "seed", "strategy": "strategy",
               "weights": "weights"}


class _GivenOnly(argparse.ArgumentParser):
    """A command's parser that keeps only the flags given (no defaults, nothing required)."""

    def add_argument(self, *names, **kwargs):
        kwargs.pop("default", None)
        kwargs.pop("required", None)
        return super().add_argument(*names, **kwargs)


def given_flags(add_args, argv):
    """``{dest: value}`` of the flags given in ``argv`` (a command's own arguments)."""
    parser = _GivenOnly(argument_default=argparse.SUPPRESS, add_help=False)
    add_args(parser)
    return vars(parser.parse_args(argv))


def train_config(args):
    """The run's TrainConfig, built once: ``--config`` (a file or a run.json) with the flags
    given beside it on top, or the flags alone."""
    from kerascv_apps.config import TrainConfig, load_config

    flags = vars(args)
    if args.config:
        rest = args.argv[args.argv.index(args.command) + 1:]
        flags = given_flags(args_train, rest)
        if "cache" in flags:
            flags.setdefault("dataset_arg", []).append(("cache", flags["cache"]))
    values = {key: flags[dest] for dest, key in TRAIN_FLAGS.items() if dest in flags}
    if flags.get("task_arg") or flags.get("task_args_file"):
        values["task_kwargs"] = _task_args(argparse.Namespace(
            task_args_file=flags.get("task_args_file"), task_arg=flags.get("task_arg") or []))
    for key in ("dataset_kwargs", "model_kwargs"):
        if key in values:
            values[key] = dict(values[key])
    if values.get("strategy") == "default":
        values["strategy"] = None
    if args.config:
        base = load_config(args.config)
        for key in ("dataset_kwargs", "model_kwargs", "task_kwargs"):
            if key in values:
                values[key] = {**getattr(base, key), **values[key]}
        return base.replace(**values)
    if not values.get("model"):
        raise UsageError("train needs --model NAME (or --config FILE)")
    return TrainConfig.from_dict(values, source="the command line")


def cmd_train(args):
    from kerascv_apps.experiment import train_model

    config = train_config(args)
    run = train_model(**config.train_kwargs(), run_dir=args.run_dir, overwrite=args.overwrite,
                      evaluate=True)
    results = run.evaluation
    if results is None:  # a non-chief worker of a multi-worker run
        print(f"worker done; the chief writes {run.run_dir}")
        return 0
    shown = "; ".join(name if value is None else f"{name} on test: {value:.4f}"
                      for name, value in run.task.headline(results).items())
    print(f"{shown}; model: {run.result.model_path}")
    return 0


def _load_for(args, recorded=None):
    """(name, model, splits, task) of ``--model-path``; ``recorded``: its ``run_info`` when the
    command has read it already."""
    from kerascv_apps.data import load_dataset
    from kerascv_apps.experiment import task_for
    from kerascv_apps.io import load_model
    from kerascv_apps.tasks import default_dataset_for

    name, info = recorded or run_info(args.model_path, args.model_name)
    dataset_kwargs = dict(args.dataset_arg or info.get("dataset_kwargs", {}))
    model = load_model(args.model_path, compile=False)
    splits = load_dataset(args.dataset or info.get("dataset") or default_dataset_for(name),
                          **dataset_kwargs)
    # the options the run trained with (ignore_index, boundary tolerance, ...) also evaluate it
    return name, model, splits, task_for(name, splits, info.get("task_options"))


def cmd_evaluate(args):
    from kerascv_apps.experiment import evaluate_model

    from kerascv_apps.io import run_dir_lock

    # --out may be a run directory: refused while a train (or another evaluate) writes there
    with run_dir_lock(args.out) if args.out else contextlib.nullcontext():
        name, model, splits, task = _load_for(args)
        results = evaluate_model(model, task, splits, args.out, split=args.split)
    printable = {k: v for k, v in results.items() if not isinstance(v, (list, dict))}
    print(json.dumps(printable, indent=2))
    return 0


def _read_paths(args, info):
    """Folders and files ``export`` reads: the model, its run directory, a dataset folder."""
    paths = [run_dir_of(args.model_path), args.model_path]
    spec = args.dataset or info.get("dataset") or ""
    kind, _, arg = spec.partition(":")
    if arg and kind != "tfds":
        paths.append(arg)
    root = dict(args.dataset_arg or info.get("dataset_kwargs", {})).get("root")
    if isinstance(root, str):
        paths.append(root)
    return paths


# export flag (argparse dest) -> ExportConfig key
EXPORT_FLAGS = {"formats": "formats", "max_int8_drop": "max_quality_drop", "limit": "limit",
                "calibration_images": "num_calibration", "int8_io": "integer_io"}


def export_config(args):
    """The export's ExportConfig, built once: ``--config`` (a file or an export report) with
    the flags given beside it on top, or the flags alone."""
    from kerascv_apps.config import ExportConfig, load_export_config

    flags = vars(args)
    if args.config:
        rest = args.argv[args.argv.index(args.command) + 1:]
        flags = given_flags(args_export, rest)
    values = {key: flags[dest] for dest, key in EXPORT_FLAGS.items()
              if dest in flags and flags[dest] is not None}
    if "formats" in values:
        values["formats"] = tuple(f.strip() for f in values["formats"].split(",") if f.strip())
    if "integer_io" in values:
        values["integer_io"] = "int8" if values["integer_io"] else "uint8"
    if args.config:
        return load_export_config(args.config).replace(**values)
    return ExportConfig.from_dict(values, source="the command line")


def formats_given(args):
    """Whether the export's formats were asked for (``--formats``, or a ``formats`` key in the
    ``--config`` file); if not, the task's ``export_formats`` apply."""
    if args.formats is not None:
        return True
    if not args.config:
        return False
    from kerascv_apps.config import _read_config_file

    data = _read_config_file(args.config)
    if isinstance(data, dict) and isinstance(data.get("formats"), dict):  # an export report
        data = data.get("config", {})
    return isinstance(data, dict) and "formats" in data


def cmd_export(args):
    from kerascv_apps.experiment import export_run
    from kerascv_apps.export.pipeline import format_export_report
    from kerascv_apps.io import (apply_leftovers, check_disjoint, destination_leftovers,
                                 destination_lock, find_leftovers)

    config = export_config(args)
    recorded = run_info(args.model_path, args.model_name)
    check_disjoint(args.out, _read_paths(args, recorded[1]), flag="--out")
    if os.path.exists(args.out) and not args.overwrite:
        raise FileExistsError(f"--out {args.out} already exists; choose another folder or pass "
                              f"--overwrite")
    with destination_lock(args.out):
        # only what earlier exports of this --out left beside it (nothing else in that
        # folder), and this package's kcv_*_<pid>_* temp folders of killed processes
        apply_leftovers(destination_leftovers(args.out) + find_leftovers(()))
        name, model, splits, task = _load_for(args, recorded)
        if task.export_formats and not formats_given(args):
            config = config.replace(formats=tuple(task.export_formats))
        report = export_run(model, task, splits, args.out, args.name or name, config,
                            overwrite=args.overwrite,
                            show_progress=False if args.no_progress else None)
    print(format_export_report(report))
    print(f"exported to {args.out}")
    return 0


def cmd_optimize(args):
    from kerascv_apps.models.outputs import inference_model
    from kerascv_apps.optimize.tfmot_ops import optimize_to_file

    if os.path.exists(args.out):
        raise FileExistsError(f"--out {args.out} already exists; choose another file")

    name, model, splits, task = _load_for(args)
    kind = "qat" if args.qat else "prune" if args.prune is not None else "cluster"
    info = optimize_to_file(inference_model(model), task, splits, args.out, kind, name=name,
                            epochs=args.epochs, learning_rate=args.lr,
                            sparsity=args.prune or 0.5, clusters=args.cluster or 16,
                            limit=args.limit, num_calibration=args.calibration_images)
    print(json.dumps(info))
    return 0


def _box(text):
    try:
        box = tuple(int(v) for v in text.split(","))
    except ValueError:
        box = ()
    if len(box) != 4:
        raise argparse.ArgumentTypeError(f"expected four integers X0,Y0,X1,Y1, got {text!r}")
    return box


def cmd_predict(args):
    from kerascv_apps.models.outputs import inference_model
    from kerascv_apps.io import load_model

    name, info = run_info(args.model_path, args.model_name)
    task = task_from_run(name, info)
    if args.explain and not args.out:
        raise UsageError("--explain writes overlay images: pass --out")
    if args.explain and not task.explainable:
        raise UsageError(f"--explain: a {task.name} model's outputs are not class scores; "
                         f"explanations are for classification and segmentation")
    model = inference_model(load_model(args.model_path, compile=False))
    failed = 0
    for path in args.images:  # one file at a time: a bad file does not stop the others
        try:
            if not os.path.isfile(path):
                raise FileNotFoundError("no such file")
            results = task.predict_files(model, [path], args.out)
            if args.explain:
                from kerascv_apps.explain.gradcam import explain_file

                results[0].update(explain_file(model, path, args.explain, args.out,
                                               class_id=args.explain_class,
                                               layer=args.explain_layer,
                                               box=args.explain_region))
        except Exception as e:  # noqa: BLE001  (reported per file, then the next one)
            failed += 1
            print(json.dumps({"file": str(path), "error": f"{type(e).__name__}: {e}"}), flush=True)
            text = str(e)
            print(f"error: {text}" if text.startswith(str(path)) else f"error: {path}: {text}",
                  file=sys.stderr)
            continue
        for result in results:
            print(json.dumps(result), flush=True)
    if failed:
        print(f"error: {failed} of {len(args.images)} images failed", file=sys.stderr)
        return 1
    return 0


def cmd_sample(args):
    from kerascv_apps.io import load_model

    name, info = run_info(args.model_path, args.model_name)
    task = task_from_run(name, info)
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"--out {args.out}: exists and is not a folder")
    model = load_model(args.model_path, compile=False)
    print(json.dumps(task.sample_files(model, args.n, args.out, seed=args.seed)))
    return 0


def cmd_embed(args):
    if not args.out.endswith(".npz"):
        raise UsageError(f"--out {args.out}: expected a .npz file name")
    if os.path.isdir(args.out):
        raise UsageError(f"--out {args.out}: is a folder; expected a .npz file name")
    name, model, splits, task = _load_for(args)
    print(json.dumps(task.embed_split(model, getattr(splits, args.split), args.out)))
    return 0


def cmd_explain(args):
    import tensorflow as tf

    from kerascv_apps.data.sources.image_folder import read_image
    from kerascv_apps.explain.filters import write_activations, write_filter_report
    from kerascv_apps.explain.gradcam import feature_layer
    from kerascv_apps.io import load_model
    from kerascv_apps.models.outputs import inference_model

    if not os.path.isfile(args.model_path):
        raise UsageError(f"--model-path {args.model_path}: no such file (expected a .keras model)")
    if args.image and not os.path.isfile(args.image):
        raise UsageError(f"--image {args.image}: no such file")
    model = inference_model(load_model(args.model_path, compile=False))
    report = write_filter_report(model, args.out)
    fits = report["filters"]
    print(f"{report['layer']}: {len(fits)} filters {report['kernel_shape'][:2]}, Gaussian-"
          f"derivative fit (orders 0-2) r2 mean {report['mean_r2']:.3f}, min "
          f"{min(f['r2'] for f in fits):.3f}; {os.path.join(args.out, 'filters.png')}")
    if args.image:
        height, width, channels = model.inputs[0].shape[1:]
        image = read_image(args.image, channels)
        if height is not None and image.shape[:2] != (height, width):
            image = tf.image.resize(image, (height, width), antialias=True).numpy()
        layer = args.layer or feature_layer(model)
        if layer[:1] == "P" and layer[1:].isdigit() and getattr(model, "feature_taps", None):
            from kerascv_apps.models.backbones import feature_levels

            levels = feature_levels(model)
            if layer not in levels:
                raise UsageError(f"--layer {layer}: the model's levels are {sorted(levels)}")
            layer = levels[layer].layer
        try:
            model.get_layer(layer)
        except ValueError:
            raise UsageError(f"--layer {layer!r}: the model has no such layer") from None
        print(f"activations of {layer}: {write_activations(model, image, layer, args.out)}")
    return 0


def cmd_tune(args):
    from kerascv_apps.data import load_dataset
    from kerascv_apps.tuning import tune

    from kerascv_apps.tasks import default_dataset_for

    args.dataset = args.dataset or default_dataset_for(args.model)
    splits = load_dataset(args.dataset, **dict(args.dataset_arg))
    result = tune(args.model, splits, args.run_dir, max_trials=args.max_trials,
                  epochs=args.epochs, batch_size=args.batch_size, augment=args.augment,
                  model_kwargs=dict(args.model_arg), tuner=args.tuner, dataset=args.dataset,
                  dataset_kwargs=dict(args.dataset_arg))
    if "worker" in result:
        print(f"tuning worker {result['worker']} done")
        return 0
    print(json.dumps({k: result[k] for k in ("objective", "best_score", "best_hyperparameters",
                                             "trials")}, indent=2))
    print(f"results: {os.path.join(args.run_dir, 'results.md')}; best:\n{result['train_command']}")
    return 0


def cmd_benchmark(args):
    from kerascv_apps.device_benchmark import format_table, run_benchmark
    from kerascv_apps.io import atomic_write_text
    from kerascv_apps.registry import get_entry
    from kerascv_apps.training.device import PRECISIONS

    split = lambda text: [t.strip() for t in text.split(",") if t.strip()]  # noqa: E731
    models, xla, precisions, skip = (split(args.models), split(args.xla),
                                     split(args.precisions), set(split(args.skip)))
    for name in models:
        get_entry(name)  # unknown names are refused (exit 2) before anything runs
    for flag, values, allowed in (("--xla", xla, ("off", "on")),
                                  ("--precisions", precisions, PRECISIONS),
                                  ("--skip", skip, ("twins", "pipeline", "tflite"))):
        if set(values) - set(allowed) or (flag != "--skip" and not values):
            raise UsageError(f"{flag} {','.join(values)!r}: choose from {', '.join(allowed)}")
    result = run_benchmark(models, args.image_size, args.batch_size, args.steps, xla=xla,
                           precisions=precisions, twins="twins" not in skip,
                           pipeline="pipeline" not in skip, tflite="tflite" not in skip,
                           folder=args.folder, log=lambda m: print(m, file=sys.stderr))
    print(format_table(result))
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=2))
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


def cmd_prepare(args):
    from kerascv_apps.data import load_dataset
    from kerascv_apps.data.tfrecord import prepare_tfrecords

    from kerascv_apps.io import destination_lock

    if not args.dataset:
        raise UsageError("prepare needs --dataset")
    if os.path.exists(args.out) and not args.overwrite:
        raise UsageError(f"--out {args.out} already exists; choose another --out or pass --overwrite")
    with destination_lock(args.out):  # one writer per --out, like train and export
        if os.path.exists(args.out) and not args.overwrite:  # written meanwhile
            raise UsageError(f"--out {args.out} already exists; choose another --out or pass "
                             f"--overwrite")
        splits = load_dataset(args.dataset, **dict(args.dataset_arg))
        manifest = prepare_tfrecords(splits, args.out, args.examples_per_shard, args.overwrite)
    counts = ", ".join(f"{k} {v['count']}" for k, v in manifest["splits"].items())
    print(f"wrote {args.out} ({counts} examples); use --dataset tfrecord:{args.out}")
    return 0


def cmd_clean(args):
    from kerascv_apps.io import apply_leftovers, find_leftovers

    found = find_leftovers(args.paths)
    if not args.dry_run:
        found = apply_leftovers(found)
    for item in found:
        print(f"{item.action}\t{item.path}\t({item.reason})")
    restored = sum(item.action == "restore" for item in found)
    print(f"{'would remove' if args.dry_run else 'removed'} {len(found) - restored} leftover(s) "
          f"of killed processes" + (f"; {'would restore' if args.dry_run else 'restored'} "
                                    f"{restored} backup(s)" if restored else ""), file=sys.stderr)
    return 0


# name -> (help, function adding its arguments, function running it); a new subcommand is one
# args_* and one cmd_* function plus one line here
COMMANDS = {
    "list-models": ("list registered models (and datasets)",
                    args_list_models, cmd_list_models),
    "train": ("train a model into a run directory (resumes if interrupted)",
              args_train, cmd_train),
    "evaluate": ("evaluate a saved model on a dataset split",
                args_evaluate, cmd_evaluate),
    "export": ("export SavedModel + TFLite (+ ONNX) variants and verify them",
               args_export, cmd_export),
    "predict": ("run a saved model on image files",
                args_predict, cmd_predict),
    "sample": ("draw samples, a latent interpolation and a 2-D latent map from a generation "
               "model", args_sample, cmd_sample),
    "embed": ("write the bottleneck codes of a dataset split (autoencoder, VAE)",
              args_embed, cmd_embed),
    "explain": ("draw first-layer filters with their Gaussian-derivative fit, and activations",
                args_explain, cmd_explain),
    "tune": ("hyperparameter search: random, hyperband, bayesian (KerasTuner)",
            args_tune, cmd_tune),
    "optimize": ("QAT / pruning / weight clustering through tfmot -> verified .tflite",
                 args_optimize, cmd_optimize),
    "prepare": ("write a dataset as sharded TFRecords + manifest (read back with "
                "--dataset tfrecord:<out>)", args_prepare, cmd_prepare),
    "benchmark": ("training, input pipeline and TFLite speed on this device, one table",
                  args_benchmark, cmd_benchmark),
    "summary": ("per-layer table: shapes, params, receptive field, FLOPs",
                args_summary, cmd_summary),
    "clean": ("remove staging folders, temp folders and lock files of killed processes",
               args_clean, cmd_clean),
}


def build_parser():
    parser = argparse.ArgumentParser(prog="kerascv-apps", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--max-pixels", type=_positive_int, metavar="N",
                        help="pixel budget: images with more pixels (from their headers) are "
                             "refused before decoding by every command and by an exported "
                             "SavedModel's serving_bytes (default 89,478,485, PIL's "
                             "decompression-bomb threshold; also KERASCV_APPS_MAX_PIXELS)")
    sub = parser.add_subparsers(dest="command", required=True,
                                parser_class=functools.partial(argparse.ArgumentParser,
                                                               formatter_class=_Formatter))
    for name, (help_text, add_args, _) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text))
    return parser


def _refusals():
    """Exceptions meaning "refused before any work" (exit code 2)."""
    from kerascv_apps.config import ConfigError
    from kerascv_apps.data import DataError
    from kerascv_apps.io import LockedError
    from kerascv_apps.registry import UnknownModelError
    from kerascv_apps.training.trainer import RunDirError

    return (UsageError, ConfigError, UnknownModelError, DataError, ValueError, RunDirError,
            LockedError, FileExistsError, FileNotFoundError, NotADirectoryError,
            IsADirectoryError)


def main(argv=None):
    """Runs one command; returns the exit code (see the module docstring)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    if getattr(args, "cache", None):
        args.dataset_arg.append(("cache", args.cache))
    refusals = _refusals()
    budget_before = os.environ.get("KERASCV_APPS_MAX_PIXELS")
    if args.max_pixels:
        os.environ["KERASCV_APPS_MAX_PIXELS"] = str(args.max_pixels)
    from kerascv_apps.io import private_temp_dir

    # every command but clean (which searches the temp directory) works in a temp folder of
    # its own, removed when it ends: no TensorFlow/AutoGraph files left in $TMPDIR
    private = private_temp_dir() if args.command != "clean" else contextlib.nullcontext()
    try:
        with private:
            return COMMANDS[args.command][2](args)
    except refusals as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001  (divergence, int8 gate, unexpected failures)
        if os.environ.get("KERASCV_APPS_TRACEBACK"):
            raise
        print(f"error: {type(e).__name__}: {e}" if not _expected_failure(e) else f"error: {e}",
              file=sys.stderr)
        if not _expected_failure(e):
            print("(set KERASCV_APPS_TRACEBACK=1 to see the traceback)", file=sys.stderr)
        return 1
    finally:
        if args.max_pixels:
            if budget_before is None:
                os.environ.pop("KERASCV_APPS_MAX_PIXELS", None)
            else:
                os.environ["KERASCV_APPS_MAX_PIXELS"] = budget_before


def _expected_failure(e):
    from kerascv_apps.experiment import DataCorruptedError
    from kerascv_apps.export.pipeline import ExportQualityError
    from kerascv_apps.training.trainer import TrainingDivergedError

    return isinstance(e, (ExportQualityError, TrainingDivergedError, DataCorruptedError))


if __name__ == "__main__":
    sys.exit(main())
