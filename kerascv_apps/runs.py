"""What a saved model's run recorded: the run directory of a ``.keras`` file, its registered
model name and data (``run.json``), and the Task they make. The CLI and the export scripts
read runs through these."""

import json
import os


class RunInfoError(ValueError):
    """A model file whose run cannot be told (exit code 2 in the CLI)."""


def run_dir_of(model_path):
    """The run directory a .keras file belongs to: the folder holding run.json beside it (or one
    level up, for checkpoints/), else the file's own folder."""
    folder = os.path.dirname(os.path.abspath(model_path))
    for candidate in (folder, os.path.dirname(folder)):
        if os.path.exists(os.path.join(candidate, "run.json")):
            return candidate
    return folder


def run_info(model_path, model_name):
    """The registered name and data of the run a .keras file came from (run.json beside it)."""
    if not os.path.isfile(model_path):
        raise RunInfoError(f"--model-path {model_path}: no such file (expected a .keras model)")
    info = {}
    path = os.path.join(run_dir_of(model_path), "run.json")
    if os.path.exists(path):
        with open(path) as f:
            info = json.load(f)
    name = model_name or info.get("model")
    if not name:
        raise RunInfoError(f"cannot tell which model {model_path} is: no run.json beside it; "
                           f"pass --model-name")
    return name, info


def task_from_run(name, info):
    """The Task of a registered model, with the class names and the task options recorded in
    its run.json."""
    from kerascv_apps.registry import get_entry
    from kerascv_apps.tasks import get_task

    data = info.get("data", {})
    kwargs = {"num_classes": data["num_classes"], "class_names": data.get("class_names")} \
        if data.get("num_classes") else {}
    return get_task(get_entry(name).task, **kwargs, **info.get("task_options", {}))
