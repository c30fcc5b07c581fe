"""Hyperparameter search with KerasTuner over the registry's builders.

The search space covers what the lectures name as the knobs that matter: optimizer (SGD with
momentum, Adam, AdamW), learning rate (log scale), weight decay, and per model what its
builder takes of dropout and width/depth multipliers, the loss mix for segmentation, and
optionally the augmentation per trial. Every trial is a ``train_model`` run (the driver the
CLI and the recipes use: its TrainConfig, pipelines, run-directory lock and checks, in
``<run_dir>/trials/<id>``) of the model KerasTuner built; the objective is the task's
``tuning_objective`` on the validation split (validation accuracy for classification; COCO
AP50 of the trial's model for detection, whose tuned focal/box losses make losses of
different trials incomparable; the test split is not looked at). A workflow beside ``experiment.py``, not part of ``training/``, so imports keep
pointing down.
"""

import hashlib
import json
import os

from kerascv_apps.experiment import build_for_data, pipelines, task_for, train_model
from kerascv_apps.io import atomic_write_text

DEFAULT_SPACE = {
    "optimizer": ["sgd", "adam", "adamw"],
    "learning_rate": (1e-4, 1e-1),
    "weight_decay": [0.0, 1e-5, 1e-4],
    "dropout": [0.0, 0.2, 0.4],
    # width / depth multipliers: tuned for the builders that take them (MobileNet's alpha...)
    "alpha": [0.5, 0.75, 1.0],
    "width_multiplier": [0.5, 1.0],
    "depth_multiplier": [1, 2],
    # + the task's own (``Task.tuning_space``: segmentation's loss mix ce + w * dice) and its
    # families' builder arguments (``Task.tuning_model_space``: detection's focal loss, box
    # loss, anchors, RoI pooling), tuned where the model's builder takes them
    # augmentation kinds per trial (e.g. ["none", "tf", "albumentations"]); None: --augment
    "augment": None,
}
ARCHITECTURE_KEYS = ("dropout", "alpha", "width_multiplier", "depth_multiplier")


TUNERS = ("random", "hyperband", "bayesian")


def make_tuner(kind, build, objective, max_trials, epochs, seed, directory):
    """KerasTuner's RandomSearch, Hyperband (``epochs`` is its ``max_epochs``; ``max_trials``
    is ignored: Hyperband's brackets decide how many models it trains) or
    BayesianOptimization.

    Distributed search is KerasTuner's own: start the same command in every process with
    ``KERASTUNER_TUNER_ID`` (``chief`` for the oracle, ``tuner0``, ``tuner1``... for the
    workers), ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT`` set; the chief hands out
    trials and the workers train them.
    """
    import keras_tuner

    common = dict(objective=objective, seed=seed, directory=directory, project_name="search",
                  overwrite=False)
    if kind == "random":
        return keras_tuner.RandomSearch(build, max_trials=max_trials, **common)
    if kind == "bayesian":
        return keras_tuner.BayesianOptimization(build, max_trials=max_trials, **common)
    if kind == "hyperband":
        return keras_tuner.Hyperband(build, max_epochs=max(2, int(epochs)), factor=3, **common)
    raise ValueError(f"--tuner must be one of {', '.join(TUNERS)}, got {kind!r}")


def tune(model_name, splits, run_dir, *, max_trials=8, epochs=5, batch_size=64, augment="none",
         seed=0, space=None, model_kwargs=None, verbose=1, tuner="random", dataset=None,
         dataset_kwargs=None):
    """Hyperparameter search; returns ``{"best_hyperparameters": ..., "best_score": ...,
    "trials": n, "all": [...], "train_command": ...}``.

    ``tuner``: ``random``, ``hyperband`` or ``bayesian`` (see ``make_tuner``). Results go to
    ``run_dir``: KerasTuner's trial folders, ``best_hyperparameters.json``, ``results.csv`` and
    ``results.md`` (one row per finished trial, best first) and ``best_train_command.txt``
    (``dataset``: the dataset spec to write into it, default the splits' name, with
    ``dataset_kwargs`` as its ``--dataset-arg``). Re-running with
    the same ``run_dir`` continues the search instead of starting over.
    """
    import keras
    import keras_tuner

    from kerascv_apps.arguments import accepted_arguments
    from kerascv_apps.registry import get_entry

    task = task_for(model_name, splits)
    space = {**DEFAULT_SPACE, **task.tuning_space, **task.tuning_model_space, **(space or {})}
    monitor, mode = task.tuning_objective()
    train_ds, val_ds, _ = pipelines(task, splits, batch_size, augment, seed)
    accepted = accepted_arguments(get_entry(model_name).builder) or []
    architecture = [k for k in ARCHITECTURE_KEYS + tuple(task.tuning_model_space)
                    if space.get(k) and k in accepted and k not in (model_kwargs or {})]

    from kerascv_apps.config import TrainConfig
    from kerascv_apps.tasks.base import get_task_class

    base = TrainConfig(model_name, dataset=dataset or splits.name, epochs=int(epochs),
                       batch_size=int(batch_size), augment=augment, seed=int(seed),
                       model_kwargs=dict(model_kwargs or {}))
    task_class = get_task_class(task.name)

    def build(hp):
        kwargs = dict(model_kwargs or {})
        for key in architecture:
            kwargs[key] = hp.Choice(key, space[key])
        model = build_for_data(model_name, splits, task, **kwargs)
        task.apply_hyperparameters(hp, space)  # declares the task's own hyperparameters
        low, high = space["learning_rate"]
        hp.Choice("optimizer", space["optimizer"])
        hp.Float("learning_rate", low, high, sampling="log")
        hp.Choice("weight_decay", space["weight_decay"])
        if space.get("augment"):
            hp.Choice("augment", space["augment"])
        return model  # compiled by train_model, as every run is

    def trial_config(hp, epochs):
        """The trial's TrainConfig: the search's settings with this trial's values."""
        values = _tuned(hp.values)
        task_kwargs = task_class.tuned_task_kwargs(values)
        return base.replace(
            epochs=int(epochs), optimizer=values["optimizer"],
            learning_rate=float(values["learning_rate"]),
            weight_decay=float(values["weight_decay"]),
            augment=values.get("augment", augment), task_kwargs=task_kwargs,
            model_kwargs={**base.model_kwargs,
                          **{k: values[k] for k in architecture if k in values}})

    class HyperModel(keras_tuner.HyperModel):
        """Per trial: the model (``build``), trained by ``train_model`` with the trial's
        TrainConfig in its own run directory; returns the best validation ``monitor``."""

        def build(self, hp):
            return build(hp)

        def fit(self, hp, model, *args, **kwargs):
            # Hyperband continues a trial's model (its weights loaded by KerasTuner) for
            # epochs - initial_epoch more epochs
            run_epochs = int(kwargs.get("epochs", epochs)) - int(kwargs.get("initial_epoch", 0))
            config = trial_config(hp, max(run_epochs, 1))
            trial_dir = os.path.join(run_dir, "trials", _trial_id(hp.values))
            run = train_model(**config.train_kwargs(), run_dir=trial_dir, model=model,
                              splits=splits, callbacks=kwargs.get("callbacks", ()),
                              verbose=kwargs.get("verbose", verbose), overwrite=True)
            history = run.result.history.get(monitor) or []
            if not history and monitor == f"val_{task.quality_metric}":
                return {monitor: validation_score(run, splits)}
            if not history:
                raise ValueError(f"trial {trial_dir}: no {monitor!r} in the run's history "
                                 f"({sorted(run.result.history)})")
            return {monitor: (max if mode == "max" else min)(history)}

    keras.utils.set_random_seed(seed)
    tuner = make_tuner(tuner, HyperModel(), keras_tuner.Objective(monitor, direction=mode),
                       max_trials, epochs, seed, os.path.abspath(run_dir))
    tuner.search(train_ds, validation_data=val_ds, epochs=epochs, verbose=verbose,
                 shuffle=False)  # the pipeline shuffles; fit would warn that it ignores this
    if os.environ.get("KERASTUNER_TUNER_ID", "chief") != "chief":
        return {"model": model_name, "worker": os.environ["KERASTUNER_TUNER_ID"]}
    best = tuner.get_best_hyperparameters(1)[0].values
    trials = [t for t in tuner.oracle.trials.values() if t.score is not None]
    pick = max if mode == "max" else min
    rows = sorted(({"trial": t.trial_id, "score": float(t.score), **_tuned(t.hyperparameters.values)}
                   for t in trials), key=lambda r: r["score"], reverse=mode == "max")
    command = train_command(model_name, dataset or splits.name, best, batch_size, augment,
                            model_kwargs, dataset_kwargs)
    result = {"model": model_name, "dataset": splits.name, "objective": monitor,
              "tuner": getattr(tuner, "__class__").__name__,
              "best_hyperparameters": best, "best_score": float(pick(t.score for t in trials)),
              "trials": len(trials), "train_command": command,
              "all": [{"hyperparameters": t.hyperparameters.values, "score": float(t.score)}
                      for t in trials]}
    atomic_write_text(os.path.join(run_dir, "best_hyperparameters.json"),
                      json.dumps(result, indent=2))
    write_results_table(rows, os.path.join(run_dir, "results"))
    atomic_write_text(os.path.join(run_dir, "best_train_command.txt"), command + "\n")
    return result


def validation_score(run, splits):
    """The task's quality metric (``Task.score``) of a trial run's model on the validation
    split: the objective of a task whose training monitor is a loss the tuned hyperparameters
    change (detection: the focal loss' gamma)."""
    from kerascv_apps.experiment import predict_split

    return float(run.task.score(*predict_split(run.model, run.task, splits.val)))


def _trial_id(values):
    """A trial's folder name: a digest of its hyperparameter values (KerasTuner's bookkeeping
    included, so a continued Hyperband trial gets a folder of its own)."""
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _tuned(values):
    """Hyperparameters without Hyperband's bookkeeping (``tuner/epochs``...)."""
    return {k: v for k, v in values.items() if not k.startswith("tuner/")}


def write_results_table(rows, stem):
    """``stem.csv`` and ``stem.md``: one row per trial (best first)."""
    import csv
    import io

    columns = sorted({k for r in rows for k in r} - {"trial", "score"})
    columns = ["trial", "score"] + columns
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(stem + ".csv", out.getvalue())

    def cell(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v if v is not None else "")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    atomic_write_text(stem + ".md", "\n".join(lines) + "\n")


# hyperparameter -> train flag; the others become --model-arg KEY=VALUE
_FLAGS = {"optimizer": "--optimizer", "learning_rate": "--lr", "weight_decay": "--weight-decay",
          "augment": "--augment"}


def train_command(model_name, dataset, hyperparameters, batch_size, augment, model_kwargs=None,
                  dataset_kwargs=None):
    """The ``kerascv-apps train`` command line that trains the best configuration.

    Tuned task options (a segmentation loss mix) become ``--task-arg`` (``loss=ce+0.5*dice``)."""
    import shlex

    from kerascv_apps.registry import get_entry
    from kerascv_apps.tasks.base import get_task_class

    args = ["kerascv-apps", "train", "--model", model_name, "--dataset", dataset,
            "--run-dir", f"runs/{model_name}-tuned", "--batch-size", str(batch_size)]
    for key, value in (dataset_kwargs or {}).items():
        args += ["--dataset-arg", f"{key}={value}"]
    values = {"augment": augment, **_tuned(hyperparameters)}
    model_args = dict(model_kwargs or {})
    task_args = get_task_class(get_entry(model_name).task).tuned_task_kwargs(values)
    for key, value in values.items():
        if key in _FLAGS:
            args += [_FLAGS[key], f"{value:.6g}" if isinstance(value, float) else str(value)]
        else:
            model_args[key] = value
    for key, value in model_args.items():
        args += ["--model-arg", f"{key}={json.dumps(value)}"]
    for key, value in task_args.items():
        args += ["--task-arg", f"{key}={value}"]
    return " ".join(shlex.quote(a) for a in args)
