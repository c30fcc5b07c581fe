"""Every documented ``train``, ``evaluate``, ``export`` and ``predict`` option, once per task, on
tiny data: one table of (command, option, value, task, exit code, metric, seconds).

The options come from the command-line parser itself, so a new flag without a row here is an
error (``--list`` shows the rows). Each row is the command's tiny base invocation for the task
with that one option changed; ``--fast`` runs the covering subset that ``make test`` runs
(every value of every option at least once across the tasks, several options per run).

Tasks: classification = LeNet-5 on digits; segmentation = a 2-level, 4-filter U-Net (same
padding) on 16 32x32 shapes images; super-resolution = ESPCN x2 (8, 4 filters) on the bundled
photos, 2 steps of 24x24 crops. One epoch each: the metric says the command ran and the
number is finite, not how good the model is. Metric per command: train and evaluate = the
task's quality metric on the test split (accuracy, mIoU, PSNR-Y dB); export = that metric of
the row's TFLite format (the Keras model's for savedmodel); predict = classification top-1
probability, segmentation foreground fraction, SR upscale factor.

Rows run in this process through ``kerascv_apps.cli.main`` (one TensorFlow start), except
``--strategy`` rows, which need a fresh process each. Usage::

    python benchmarks/flag_matrix.py [--fast] [--tasks segmentation,...] [--only train]
        [--work DIR] [--markdown FILE] [--json FILE]
"""

import argparse
import contextlib
import io
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

COMMANDS = ("train", "evaluate", "export", "predict")
TASKS = ("classification", "segmentation", "super_resolution")
SKIP = {"-h", "--help"}
# arguments every row of a command needs (the row's option replaces the base value)
REQUIRED = {"train": {"--model", "--run-dir"}, "evaluate": {"--model-path"},
            "export": {"--model-path", "--out"}, "predict": {"--model-path", "images"}}


class Setup:
    """The tiny data and base invocations of one task under ``work``."""

    def __init__(self, task, work):
        self.task, self.work = task, os.path.join(work, task)
        os.makedirs(self.work, exist_ok=True)
        if task == "classification":
            self.model = "lenet5"
            self.data = {"--dataset": ["digits"]}
            self.train_extra = {"--batch-size": ["64"]}
        elif task == "segmentation":
            self.model = "unet_same"
            self.data = {"--dataset": ["shapes"], "--dataset-arg": [
                "image_size=32", "num_train=16", "num_val=4", "num_test=4"]}
            self.train_extra = {"--batch-size": ["8"], "--model-arg": ["base_filters=4",
                                                                        "depth=2"]}
        else:
            self.model = "espcn_x2"
            self.data = {"--dataset": ["photos"]}
            self.train_extra = {"--batch-size": ["4"], "--steps-per-epoch": ["2"],
                                "--model-arg": ["stackwise_num_filters=[8,4]"]}
        self.base_run = os.path.join(self.work, "base_run")

    def explicit_dataset_args(self):
        """The dataset arguments the base run trained with, spelled out."""
        return self.data.get("--dataset-arg") or (["image_size=32"] if self.task ==
                                                  "classification" else ["scale=2"])

    def train_base(self, run_dir):
        return {"--model": [self.model], **self.data, **self.train_extra, "--epochs": ["1"],
                "--run-dir": [run_dir]}

    @property
    def model_path(self):
        return os.path.join(self.base_run, "model.keras")

    def load_base(self):
        return {"--model-path": [self.model_path]}

    # --- inputs some rows need ---------------------------------------------------------------
    def streamed_dataset(self):
        """A streamed source of this task (for ``--cache``), or None."""
        from PIL import Image

        root = os.path.join(self.work, "streamed")
        if self.task == "super_resolution":
            return None
        if not os.path.isdir(root):
            from kerascv_apps.data import load_dataset

            rng = np.random.default_rng(0)
            if self.task == "classification":
                splits = load_dataset("digits")
                for i, (x, y) in enumerate(splits.train.take(60).as_numpy_iterator()):
                    os.makedirs(os.path.join(root, str(int(y))), exist_ok=True)
                    Image.fromarray(np.round(x[..., 0]).astype(np.uint8)).save(
                        os.path.join(root, str(int(y)), f"{i}.png"))
            else:
                from kerascv_apps.data.sources.shapes import generate

                images, masks, _ = generate(16, 32, seed=int(rng.integers(100)))
                for sub in ("images", "masks"):
                    os.makedirs(os.path.join(root, sub))
                for i in range(16):
                    Image.fromarray(images[i].astype(np.uint8)).save(
                        os.path.join(root, "images", f"{i}.png"))
                    Image.fromarray(masks[i].astype(np.uint8)).save(
                        os.path.join(root, "masks", f"{i}.png"))
        if self.task == "classification":
            return {"--dataset": [f"folder:{root}"], "--dataset-arg": ["image_size=32",
                                                                        "channels=1"]}
        return {"--dataset": [f"seg_folder:{root}"], "--dataset-arg": ["num_classes=4"]}

    def image_file(self):
        from PIL import Image

        from kerascv_apps.data import load_dataset

        path = os.path.join(self.work, "input.png")
        if not os.path.exists(path):
            kwargs = {a.split("=")[0]: json.loads(a.split("=")[1])
                      for a in self.data.get("--dataset-arg", [])}
            if self.task == "super_resolution":
                kwargs["scale"] = 2
            x, _ = next(load_dataset(self.data["--dataset"][0], **kwargs).test.as_numpy_iterator())
            x = np.clip(np.round(x), 0, 255).astype(np.uint8)
            Image.fromarray(x[..., 0] if x.shape[-1] == 1 else x).save(path)
        return path

    def task_arg_values(self):
        """(label, KEY=VALUE) rows of --task-arg: every declared option, every choice."""
        values = {
            "classification": ["top_k=3"],
            "segmentation": ["loss=ce", "loss=dice", "loss=focal", "loss=ce+dice",
                             "class_weights=median_frequency", "class_weights=[1,2,2,2]",
                             "ignore_index=254", "boundary_tolerance=1", "w0=5", "sigma=3",
                             "border_weights=false"],
            "super_resolution": ["pixel_loss=mse", "pixel_loss=l1", "pixel_loss=mse_y",
                                 "pixel_loss=l1_y", "patch_size=16",
                                 "degradations=[\"area\"]", "adversarial=false",
                                 "content_layer=block2_conv2", "allow_random_features=true",
                                 "pixel_weight=0.5", "discriminator_kwargs={}",
                                 "vgg_weights=null"],
        }[self.task]
        if self.task == "super_resolution":  # the adversarial phase, random VGG features
            values.append("adversarial=true,allow_random_features=true,"
                          "discriminator_kwargs={\"stackwise_num_filters\":[8,8],"
                          "\"dense_units\":16}")
        return values


def _parser_options(command):
    """(option, action) of every documented option of ``command``."""
    from kerascv_apps.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    out = []
    for action in sub._actions:
        names = [n for n in action.option_strings if n.startswith("--")] or [action.dest]
        if names[0] in SKIP or action.dest == "help":
            continue
        out.append((names[0], action))
    return out


def _values(command, option, action, setup, work):
    """[(label, {option: [values]} changes)] for one option of one command on one task.

    A value of ``None`` means the row does not apply to the task (the label says why)."""
    s = setup
    explain = s.task != "super_resolution"  # SR outputs are not class scores
    if command == "predict" and option.startswith("--explain"):
        if not explain or (option == "--explain-region" and s.task != "segmentation"):
            return [("n/a: " + ("SR outputs are not class scores" if not explain else
                                "a region is for segmentation"), None)]
        base = {"--explain": ["gradcam"], "--out": [os.path.join(work, s.task, "explain")]}
        if option == "--explain":
            return [(c, {**base, "--explain": [c]}) for c in action.choices]
        value = {"--explain-class": "1", "--explain-layer": LAST_CONV,
                 "--explain-region": "0,0,16,16"}[option]
        return [(value, {**base, option: [value]})]
    if action.choices and option not in ("--model",):
        return [(c, {option: [c]}) for c in action.choices]
    if action.nargs == 0:  # store_true flags
        return [("on", {option: []})]
    run = lambda name: os.path.join(work, s.task, command, name)  # noqa: E731
    special = {
        ("train", "--model"): [("the task's model", {})],
        ("train", "--run-dir"): [("new dir", {})],
        ("train", "--dataset"): [("the task's dataset", {})],
        ("train", "--dataset-arg"): [("image_size=24" if s.task == "classification" else
                                      "(as the base run)", {"--dataset-arg": ["image_size=24"]
                                      if s.task == "classification" else
                                      s.explicit_dataset_args()})],
        ("train", "--epochs"): [("2", {"--epochs": ["2"]})],
        ("train", "--batch-size"): [("16", {"--batch-size": ["16"]})],
        ("train", "--steps-per-epoch"): [("3", {"--steps-per-epoch": ["3"]})],
        ("train", "--lr"): [("3e-3", {"--lr": ["3e-3"]})],
        ("train", "--momentum"): [("0.5", {"--momentum": ["0.5"], "--optimizer": ["sgd"]})],
        ("train", "--weight-decay"): [("1e-4", {"--weight-decay": ["1e-4"],
                                                "--optimizer": ["adamw"]})],
        ("train", "--clipnorm"): [("1.0", {"--clipnorm": ["1.0"]})],
        ("train", "--warmup-epochs"): [("0.5", {"--warmup-epochs": ["0.5"]})],
        ("train", "--early-stopping"): [("1", {"--early-stopping": ["1"], "--epochs": ["3"]})],
        ("train", "--divergence-factor"): [("0", {"--divergence-factor": ["0"]})],
        ("train", "--seed"): [("7", {"--seed": ["7"]})],
        ("train", "--model-arg"): [("(tiny model)" if s.task != "classification"
                                    else "activation=relu", {"--model-arg": s.train_extra.get(
                                        "--model-arg", []) or ["activation=\"relu\""]})],
        ("train", "--task-arg"): [(v, {"--task-arg": _split_task_args(v)})
                                  for v in s.task_arg_values()],
        ("train", "--config"): [("base run's run.json", {"--config": [os.path.join(
            os.path.dirname(s.model_path), "run.json")]})],
        ("train", "--task-args-file"): [("loss file", {"--task-args-file": [_task_file(s, work)]})],
        ("train", "--weights"): [("base run's model.keras", {"--weights": [s.model_path]})
                                 if s.task == "classification" else
                                 ("n/a: new-head transfer is for classifiers", None)],
        ("evaluate", "--model-path"): [("model.keras", {})],
        ("evaluate", "--model-name"): [("the task's model", {"--model-name": [s.model]})],
        ("evaluate", "--dataset"): [("the task's dataset", dict(s.data))],
        ("evaluate", "--dataset-arg"): [("(as trained)", {**s.data, "--dataset-arg":
                                                           s.explicit_dataset_args()})],
        ("evaluate", "--out"): [("dir", {"--out": [run("ev_out")]})],
        ("export", "--model-path"): [("model.keras", {})],
        ("export", "--model-name"): [("the task's model", {"--model-name": [s.model]})],
        ("export", "--dataset"): [("the task's dataset", dict(s.data))],
        ("export", "--dataset-arg"): [("(as trained)", {**s.data, "--dataset-arg":
                                                         s.explicit_dataset_args()})],
        ("export", "--out"): [("new dir", {})],
        ("export", "--name"): [("tiny", {"--name": ["tiny"]})],
        ("export", "--formats"): [(f, {"--formats": [f]}) for f in _formats()],
        ("export", "--max-int8-drop"): [("0.5", {"--max-int8-drop": ["0.5"],
                                                 "--formats": ["int8"]})],
        ("export", "--limit"): [("5", {"--limit": ["5"]})],
        ("export", "--config"): [("export config file (float32, limit 5)",
                                  {"--config": [_export_config_file(s, work)]})],
        ("export", "--calibration-images", ): [("8", {"--calibration-images": ["8"],
                                                       "--formats": ["int8"]})],
        ("predict", "--model-path"): [("model.keras", {})],
        ("predict", "--model-name"): [("the task's model", {"--model-name": [s.model]})],
        ("predict", "--out"): [("dir", {"--out": [run("pred_out")]})],
        ("predict", "images"): [("1 file", {})],
    }
    if option == "--cache":
        streamed = s.streamed_dataset()
        if streamed is None:
            return [("n/a: no streamed SR source", None)]
        return [("dir", {**streamed, "--cache": [run("cache")]})]
    if (command, option) in special:
        return special[(command, option)]
    if command == "export" and option == "--int8-io":
        return [("on", {"--int8-io": [], "--formats": ["int8"]})]
    raise KeyError(f"no flag-matrix value for {command} {option}: add one to "
                   f"benchmarks/flag_matrix.py")


LAST_CONV = "(the model's last Conv2D)"


def _resolve(argv, setup):
    """Fills placeholders that need the base run's model (a layer name)."""
    if LAST_CONV not in argv:
        return argv
    import keras

    from kerascv_apps.io import load_model

    model = load_model(setup.model_path, compile=False)
    layer = [l.name for l in model.layers if isinstance(l, keras.layers.Conv2D)][-1]
    return [layer if a == LAST_CONV else a for a in argv]


def _split_task_args(text):
    """``a=1,b={"x":[1,2]}`` -> ["a=1", 'b={"x":[1,2]}'] (commas inside JSON kept)."""
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "[{" and 1 or (ch in "]}" and -1 or 0)
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return out + [cur]


def _task_file(setup, work):
    path = os.path.join(work, setup.task, "task_args.json")
    option = {"classification": {"top_k": 2}, "segmentation": {"loss": "ce+dice"},
              "super_resolution": {"pixel_loss": "mse"}}[setup.task]
    with open(path, "w") as f:
        json.dump(option, f)
    return path


def _export_config_file(setup, work):
    """An ExportConfig file (what ``kerascv-apps export --config`` reads)."""
    path = os.path.join(work, setup.task, "export_config.json")
    with open(path, "w") as f:
        json.dump({"formats": ["float32"], "limit": 5}, f)
    return path


def _formats():
    from kerascv_apps.export.pipeline import FORMATS

    return FORMATS


def _base(command, setup, work, row_dir):
    if command == "train":
        return setup.train_base(row_dir)
    base = setup.load_base()
    if command == "export":
        base.update({"--out": [row_dir], "--formats": ["float32"], "--limit": ["20"],
                     "--calibration-images": ["20"], "--max-int8-drop": ["1.0"]})
    if command == "predict":
        base["images"] = [setup.image_file()]
    return base


def _argv(command, options):
    argv = [command]
    positional = []
    for option, values in options.items():
        if not option.startswith("--"):
            positional += values
        elif not values:
            argv.append(option)
        else:
            for v in values:
                argv += [option, v]
    return argv + positional


def rows_for(tasks, commands, work):
    """Every (command, option, label, task, changes) row; ``changes`` None = not applicable."""
    rows = []
    setups = {t: Setup(t, work) for t in tasks}
    for command in commands:
        for option, action in _parser_options(command):
            for task in tasks:
                for label, changes in _values(command, option, action, setups[task], work):
                    rows.append({"command": command, "option": option, "value": label,
                                 "task": task, "changes": changes,
                                 "items": [(option, label)]})
    return rows, setups


def _metric(command, task_name, options, out, row_dir):
    if command == "train":
        with open(os.path.join(row_dir, "evaluation.json")) as f:
            evaluation = json.load(f)
        with open(os.path.join(row_dir, "run.json")) as f:
            run = json.load(f)
        from kerascv_apps.tasks.base import get_task_class

        return float(evaluation[get_task_class(run["task"]).quality_metric])
    if command == "evaluate":
        data = json.loads(out[out.index("{"):])
        for key in ("accuracy", "miou", "psnr_y"):
            if key in data:
                return float(data[key])
    if command == "export":
        with open(os.path.join(row_dir, "export_report.json")) as f:
            report = json.load(f)
        formats = options["--formats"][0].split(",")
        figures = report["formats"].get(formats[-1], {})
        return float(figures.get("value", report["keras"]["value"]))
    if command == "predict":
        line = json.loads(out.strip().splitlines()[-1])
        if "top" in line:
            return float(line["top"][0]["probability"])
        if "class_pixels" in line:
            pixels = line["class_pixels"]
            total = sum(pixels.values())
            return 1.0 - list(pixels.values())[0] / total
        return float(line["scale"])
    return float("nan")


RECORDED = {  # train option -> (file, key): where run.json / train_config.json records it
    "--augment": ("run.json", "augment"), "--batch-size": ("run.json", "batch_size"),
    "--seed": ("run.json", "seed"), "--optimizer": ("train_config.json", "optimizer"),
    "--lr": ("train_config.json", "learning_rate"), "--epochs": ("train_config.json", "epochs"),
    "--schedule": ("train_config.json", "schedule"),
    "--weight-decay": ("train_config.json", "weight_decay"),
    "--momentum": ("train_config.json", "momentum"),
    "--clipnorm": ("train_config.json", "clipnorm"),
    "--warmup-epochs": ("train_config.json", "warmup_epochs"),
    "--early-stopping": ("train_config.json", "early_stopping_patience"),
    "--divergence-factor": ("train_config.json", "divergence_factor"),
    "--steps-per-epoch": ("train_config.json", "steps_per_epoch"),
    "--precision": ("train_config.json", "dtype_policy"),
    "--strategy": ("train_config.json", "strategy"),
    "--dataset-arg": ("run.json", "dataset_kwargs"), "--model-arg": ("run.json", "model_kwargs"),
    "--task-arg": ("run.json", "task_options"), "--task-args-file": ("run.json", "task_kwargs"),
    "--weights": ("run.json", "weights"),
}


def _recorded(option, value, row_dir):
    """The run's record of a train option (checked to hold the value where it can be compared)."""
    if option not in RECORDED:
        return None
    name, key = RECORDED[option]
    with open(os.path.join(row_dir, name)) as f:
        record = json.load(f)[key]
    if option == "--precision" and value != "auto":
        assert record == value, (option, value, record)
    elif option in ("--optimizer",):  # Keras names: adam_3, rm_sprop
        assert record.lower().replace("_", "").startswith(value), (option, value, record)
    elif option in ("--augment", "--schedule"):
        assert record == value, (option, value, record)
    elif option == "--strategy":  # run.json names the tf.distribute class
        names = {"default": ("default",), "mirrored": ("MirroredStrategy",),
                 "multiworker": ("CollectiveAllReduceStrategy", "MultiWorkerMirroredStrategy"),
                 "tpu": ("TPUStrategy",)}
        assert record in names[value], (option, value, record)
    elif option == "--task-arg":
        for pair in _split_task_args(value):
            key_, _, raw = pair.partition("=")
            assert key_ in record, (option, pair, record)
    elif option in ("--task-args-file", "--weights"):
        assert record, (option, value, record)
    elif _number(value) is not None:
        assert record is not None and float(record) == _number(value), (option, value, record)
    return record


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def run_row(row, setups, work, env=None):
    """Runs one row; fills exit code, metric, seconds, recorded value and any error line."""
    from kerascv_apps.cli import main

    setup = setups[row["task"]]
    row_dir = os.path.join(work, row["task"], row["command"], f"row{row['index']:03d}")
    shutil.rmtree(row_dir, ignore_errors=True)
    os.makedirs(os.path.dirname(row_dir), exist_ok=True)
    options = _base(row["command"], setup, work, row_dir)
    options.update(row["changes"])  # a row's values replace the base's (full lists)
    argv = _resolve(_argv(row["command"], options), setup)
    row["argv"] = argv
    start = time.perf_counter()
    strategy = options.get("--strategy", ["default"])[0]
    if strategy != "default":
        code, out, err = _subprocess(argv, strategy)
    else:
        buffer_out, buffer_err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(buffer_out), contextlib.redirect_stderr(buffer_err):
            try:
                code = main(argv)
            except SystemExit as e:
                code = e.code
        out, err = buffer_out.getvalue(), buffer_err.getvalue()
        import keras

        keras.backend.clear_session()
        keras.config.set_dtype_policy("float32")
    row["seconds"] = round(time.perf_counter() - start, 1)
    row["exit"] = code
    row["metric"] = float("nan")
    if code == 0:
        try:
            row["metric"] = _metric(row["command"], row["task"], options, out, row_dir)
            if row["command"] == "train":
                row["recorded"] = {o: _recorded(o, v, row_dir) for o, v in row["items"]}
        except Exception as e:  # noqa: BLE001  (reported in the table)
            row["error"] = f"metric/record: {type(e).__name__}: {e}"
    else:
        lines = [l for l in err.strip().splitlines() if l.startswith("error")] or \
            err.strip().splitlines()[-1:]
        row["error"] = lines[-1][:300] if lines else f"exit {code}"
    return row


def _subprocess(argv, strategy):
    env = dict(os.environ)
    if strategy == "multiworker":
        with socket.socket() as s:
            s.bind(("localhost", 0))
            port = s.getsockname()[1]
        env["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"localhost:{port}"]},
                                       "task": {"type": "worker", "index": 0}})
    proc = subprocess.run([sys.executable, "-m", "kerascv_apps.cli", *argv], env=env,
                          capture_output=True, text=True, timeout=900)
    return proc.returncode, proc.stdout, proc.stderr


NOT_IN_FAST = {("train", "--strategy", "tpu")}  # needs a TPU: only the full table shows it


def _conflict_keys(option, changes):
    """What two rows merged into one run must not both set: each changed flag, and for
    --task-arg each task option name (loss=dice and class_weights=... combine)."""
    keys = set()
    for flag, values in changes.items():
        if flag == "--task-arg":
            keys |= {f"--task-arg {v.partition('=')[0]}" for v in values}
        elif flag != "--formats":
            keys.add(flag)
    return keys


def fast_rows(rows, tasks=TASKS):
    """The covering subset: every (command, option, value) of the full table once, packed
    several options per run where they do not set the same flag (export formats join into one
    --formats list). Values only one task has are placed first; the others fill those runs, so
    there are about as many runs as the most values any one task-specific option has."""
    chosen = {}
    for row in rows:
        key = (row["command"], row["option"], row["value"])
        if row["changes"] is None or key in NOT_IN_FAST:
            continue
        chosen.setdefault(key, []).append(row)
    order = sorted(chosen, key=lambda k: (len(chosen[k]) > 1, k[0] != "train"))
    packed, counter = [], 0
    for key in order:
        candidates = {r["task"]: r for r in chosen[key]}
        solo = key[1] == "--weights"  # replaces the model's head: its own run
        for run in packed:
            row = candidates.get(run["task"])
            if solo or run["solo"] or row is None or run["command"] != row["command"]:
                continue
            keys = _conflict_keys(row["option"], row["changes"])
            if keys & run["keys"]:
                continue
            changes = {k: list(v) for k, v in row["changes"].items()}
            for flag in ("--formats", "--task-arg"):
                if flag in changes and flag in run["changes"]:
                    joined = run["changes"][flag] + changes.pop(flag)
                    if flag == "--formats":
                        joined = [",".join(dict.fromkeys(",".join(joined).split(",")))]
                    run["changes"][flag] = joined
            run["changes"].update(changes)
            run["keys"] |= keys
            run["items"].append((row["option"], row["value"]))
            break
        else:
            row = chosen[key][counter % len(chosen[key])]
            counter += 1
            packed.append({"command": row["command"], "task": row["task"], "solo": solo,
                           "changes": {k: list(v) for k, v in row["changes"].items()},
                           "keys": _conflict_keys(row["option"], row["changes"]),
                           "items": [(row["option"], row["value"])]})
    packed.sort(key=lambda r: COMMANDS.index(r["command"]))
    for run in packed:
        run["option"] = " ".join(o for o, _ in run["items"])
        run["value"] = " ".join(v for _, v in run["items"])
    return packed


def prepare_base_runs(setups, work, log):
    from kerascv_apps.cli import main

    for setup in setups.values():
        if os.path.exists(setup.model_path):
            continue
        argv = _argv("train", setup.train_base(setup.base_run))
        log(f"[matrix] base run {setup.task}: {' '.join(argv)}")
        with contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
        if code != 0:
            raise SystemExit(f"base run of {setup.task} failed (exit {code})")


def format_table(rows, markdown=True):
    head = ["command", "option", "value", "task", "exit", "metric", "seconds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] if markdown else []
    for r in rows:
        if r["changes"] is None:
            cells = [r["command"], f"`{r['option']}`", r["value"], r["task"], "-", "-", "-"]
        else:
            metric = "nan" if not math.isfinite(r["metric"]) else f"{r['metric']:.4g}"
            cells = [r["command"], f"`{r['option']}`", f"`{r['value']}`", r["task"],
                     str(r["exit"]), metric, f"{r['seconds']:.1f}"]
            if r.get("error"):
                cells[5] += f" ({r['error']})"
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def run_matrix(tasks=TASKS, commands=COMMANDS, work=None, fast=False, log=print,
               after_row=None):
    """Runs the rows; returns them (each with exit, metric, seconds). ``after_row(rows)`` is
    called after each row (e.g. to save the table so far)."""
    work = work or tempfile.mkdtemp(prefix="flag_matrix_")
    rows, setups = rows_for(tasks, commands, work)
    if fast:
        rows = fast_rows(rows, tasks)
    for i, row in enumerate(rows):
        row["index"] = i
    prepare_base_runs({t: setups[t] for t in {r["task"] for r in rows}}, work, log)
    for i, row in enumerate(rows):
        if row["changes"] is None:
            continue
        run_row(row, setups, work)
        log(f"[matrix] {i + 1}/{len(rows)} {row['command']} {row['option']} {row['value']} "
            f"{row['task']}: exit {row['exit']}, metric {row['metric']:.4g}, "
            f"{row['seconds']}s" + (f" {row['error']}" if row.get("error") else ""))
        if after_row is not None:
            after_row(rows)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fast", action="store_true", help="the covering subset make test runs")
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--only", default=",".join(COMMANDS), help="commands to run")
    p.add_argument("--work", help="scratch folder (default: a new temp folder)")
    p.add_argument("--list", action="store_true", help="list the rows without running them")
    p.add_argument("--markdown", help="write the table here")
    p.add_argument("--json", help="write the rows here")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tasks = [t for t in args.tasks.split(",") if t]
    commands = [c for c in args.only.split(",") if c]
    if args.list:
        work = args.work or tempfile.mkdtemp(prefix="flag_matrix_")
        rows, _ = rows_for(tasks, commands, work)
        for r in (fast_rows(rows) if args.fast else rows):
            print(r["command"], r["option"], r["value"], r["task"],
                  "n/a" if r["changes"] is None else "")
        return 0
    def save(rows):
        done = [r for r in rows if "exit" in r or r["changes"] is None]
        for path, text in ((args.markdown, lambda: format_table(done) + "\n"),
                           (args.json, lambda: json.dumps(
                               [{k: v for k, v in r.items() if k != "changes"} for r in done],
                               indent=1, default=str))):
            if path:
                with open(path + ".tmp", "w") as f:
                    f.write(text())
                os.replace(path + ".tmp", path)

    rows = run_matrix(tasks, commands, args.work, args.fast,
                      log=lambda m: print(m, file=sys.stderr, flush=True), after_row=save)
    save(rows)
    print(format_table(rows))
    bad = [r for r in rows if r["changes"] is not None and (r["exit"] != 0 or
                                                             not math.isfinite(r["metric"]))]
    print(f"{len(bad)} of {sum(r['changes'] is not None for r in rows)} rows failed or gave "
          f"no finite metric", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
