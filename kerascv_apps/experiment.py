"""Train / evaluate / export workflows: what the CLI and the recipes call.

Everything task-specific comes from the Task (``kerascv_apps.tasks``); everything
model-specific from the registry. A model with auxiliary outputs (GoogLeNet, PSPNet) marks
them with ``AuxiliaryOutput`` (loss weights: ``models.outputs.output_loss_weights``); they
train with the same target and are dropped for evaluation and export
(``models.outputs.inference_model``).
"""

import contextlib
import dataclasses
import json
import math
import os
import re
import time

import numpy as np

from kerascv_apps.data import load_dataset, make_pipeline
from kerascv_apps.data.streaming import stream_of
from kerascv_apps.arguments import call_checked, check_arguments
from kerascv_apps.io import atomic_write_text
from kerascv_apps.models.outputs import inference_model, output_loss_weights
from kerascv_apps.registry import get_entry
from kerascv_apps.tasks import get_task
from kerascv_apps.tasks.base import get_task_class
from kerascv_apps.tasks.options import jsonable
from kerascv_apps.training.trainer import (check_training_args, fit_in_run_dir, fit_plan,
                                           holding_run_dir, replacing_run)
from kerascv_apps.training.device import configure_precision, resolve_policy
from kerascv_apps.training.distribute import (describe, global_batch_size, is_chief,
                                              make_strategy, shard)
from kerascv_apps.training.transfer import freeze_for_transfer


@dataclasses.dataclass
class Run:
    model: object
    task: object
    splits: object
    result: object
    run_dir: str
    policy: dict
    evaluation: dict = None  # test-split results when train_model(..., evaluate=True)
    evaluation_seconds: float = None  # how long that evaluation took


def _targets_for(model):
    names = list(model.output_names)
    if len(names) == 1:
        return None, None
    return names, output_loss_weights(model)


def task_for(model_name, splits=None, task_kwargs=None):
    """The Task of ``model_name`` for ``splits``, built with ``task_kwargs`` (its declared
    options, see ``tasks/options.py``; check them first with ``check_task_kwargs``)."""
    return _task_of(get_entry(model_name), splits, task_kwargs)


def _task_of(entry, splits=None, task_kwargs=None):
    if splits is not None and not get_task_class(entry.task).accepts_data(splits.task):
        raise ValueError(f"model {entry.name!r} is a {entry.task} model but dataset "
                         f"{splits.name!r} is a {splits.task} dataset")
    return get_task(entry.task, splits=splits, **(task_kwargs or {}))


def check_task_kwargs(model_name, task_kwargs, flag="--task-arg"):
    """The validated options of ``model_name``'s task; undeclared keys and bad values are a
    ``ValueError`` naming the accepted ones."""
    from kerascv_apps.tasks.options import check_task_kwargs as check

    return check(get_entry(model_name).task, task_kwargs, flag)


def build_for_data(model_name, splits, task, **model_kwargs):
    return _build_for_data(get_entry(model_name), splits, task, model_kwargs)


def _build_for_data(entry, splits, task, model_kwargs):
    kwargs = task.model_kwargs(splits)
    kwargs.update(model_kwargs)
    return call_checked(entry.builder, kwargs, "--model-arg", entry.name)


def check_model_kwargs(model_name, model_kwargs):
    """Refuses ``--model-arg`` keys the builder of ``model_name`` does not accept."""
    check_arguments(get_entry(model_name).builder, model_kwargs or {}, "--model-arg", model_name)


def check_dataset_kwargs(spec, dataset_kwargs):
    """Refuses ``--dataset-arg`` keys the loader of dataset ``spec`` does not accept."""
    from kerascv_apps.data.sources.base import get_source

    if not dataset_kwargs:
        return
    kind, _, arg = spec.partition(":")
    try:
        loader = get_source(arg if kind == "tfds" else kind).loader
    except Exception:  # noqa: BLE001  (unknown names are reported by load_dataset)
        return
    check_arguments(loader, dataset_kwargs, "--dataset-arg", f"dataset {spec!r}")


class DataCorruptedError(RuntimeError):
    """A data file changed or broke while it was read (exit code 1, the file named)."""


@contextlib.contextmanager
def naming_corrupt_shards(splits):
    """Turns TensorFlow's "corrupted record at N" during training into an error that names
    the shards of a prepared folder that no longer match its manifest, and a decoding error
    of a folder source into one that names the files the training decoder cannot read."""
    import tensorflow as tf

    try:
        yield
    except tf.errors.InvalidArgumentError as e:
        first = (e.message or str(e)).strip().splitlines()
        if not any(re.search(r"decod|jpeg|png|gif|bmp|Uncompress|pixel budget", line, re.I)
                   for line in first):
            raise
        files = [p for split in (splits.train, splits.val)
                 for p in getattr(stream_of(split), "files", {}).get("image", [])]
        if not files:
            raise
        from kerascv_apps.data.validate import undecodable

        bad = undecodable(files, int(splits.image_shape[-1]))
        if not bad:
            raise
        raise DataCorruptedError("training stopped: an image could not be decoded; files "
                                 "that fail now (changed since the folder was checked?):\n  "
                                 + "\n  ".join(bad)) from e
    except tf.errors.DataLossError as e:
        first = (e.message or str(e)).strip().splitlines()[0][:200]
        source = splits.info.get("source") if splits.info.get("prepared_from") else None
        if not source:
            raise DataCorruptedError(f"{splits.name}: a data file is corrupted ({first})") from e
        from kerascv_apps.data.tfrecord import read_manifest

        try:
            read_manifest(source, verify=True)
            which = "every shard still matches manifest.json, so it changed and changed back"
        except Exception as check:  # noqa: BLE001  (the manifest check names the shards)
            which = str(check)
        raise DataCorruptedError(f"training stopped at a corrupted record ({first}) in "
                                 f"{source}: {which}") from e


def pipelines(task, splits, batch_size, augment="none", seed=0, cache=True, output_names=None,
              repeat=False):
    """Batched train/val/test datasets for ``fit``; targets duplicated per output if needed.

    With ``repeat`` the training split repeats forever (use with ``steps_per_epoch``).
    """
    aug = task.augmentation(augment, splits)
    fn = task.pipeline_map_fn()
    eval_batch = task.eval_batch_size or batch_size
    out = []
    for split, training in ((splits.train, True), (splits.val, False), (splits.test, False)):
        ds = make_pipeline(split, batch_size if training else eval_batch, training=training,
                           augment=aug, seed=seed, cache=cache, map_fn=fn,
                           repeat=training and repeat, drop_remainder=training and repeat)
        if output_names:
            ds = ds.map(lambda x, y: (x, {n: y for n in output_names}))
        out.append(ds)
    return out


def train_model(model_name, dataset=None, run_dir="runs/run", *, epochs=10, batch_size=64,
                augment="tf", optimizer="adam", learning_rate=1e-3, weight_decay=0.0,
                momentum=0.9, schedule="cosine", warmup_epochs=0, seed=0, precision="auto",
                jit_compile="auto", early_stopping_patience=None, model_kwargs=None,
                dataset_kwargs=None, task_kwargs=None, overwrite=False, verbose="auto",
                callbacks=(), splits=None, steps_per_epoch=None, divergence_factor=100.0,
                evaluate=False, weights=None, trainable_blocks=1, model=None, strategy=None,
                clipnorm=None):
    """Loads data (``dataset``; default the task's bundled one), builds ``model_name`` for
    it, and trains into ``run_dir``.

    Re-running the same call after an interruption (or a divergence) resumes from the last
    good epoch. Every check that can refuse the call (numbers, builder and loader keys, run
    directory state, dataset, model/dataset compatibility) runs before anything is written;
    one process at a time holds ``run_dir`` (see ``kerascv_apps.io.run_dir_lock``). With
    ``evaluate``, the test split is evaluated into ``run_dir`` (plots, evaluation.json) while
    the run directory is still held.

    With ``weights`` (a weights file, e.g. keras.applications' ImageNet ``.h5``) the model
    starts from those weights with a new class layer, and only the head and the last
    ``trainable_blocks`` blocks train (transfer learning; the rest stays frozen).
    ``model``: an already built (e.g. pretrained) Keras model of ``model_name`` to train
    instead of a new one. The task decides what ``fit`` runs (``Task.training_model``: e.g.
    the SRGAN adversarial step around an SR generator with ``task_kwargs={"adversarial":
    True, ...}``); ``Run.model`` is always the model to evaluate and export.

    ``clipnorm``: the optimizer clips each weight's gradient to this norm (Keras'
    ``clipnorm``; None: no clipping).

    ``strategy``: ``default``, ``mirrored``, ``multiworker``, ``tpu`` or a
    ``tf.distribute.Strategy`` (see ``training.distribute``); ``batch_size`` is per replica.
    Only the chief writes ``run_dir`` and evaluates (``Run.evaluation`` stays None elsewhere).
    A ``model`` passed in must have been built in the strategy's scope.
    """
    entry = get_entry(model_name)  # the one registry lookup of the run
    if dataset is None and splits is None:
        dataset = get_task_class(entry.task).default_dataset
    check_training_args(epochs, learning_rate, batch_size, steps_per_epoch, warmup_epochs,
                        weight_decay, momentum, divergence_factor, clipnorm)
    check_arguments(entry.builder, model_kwargs or {}, "--model-arg", model_name)
    from kerascv_apps.tasks.options import check_task_kwargs as check_options

    task_kwargs = check_options(entry.task, task_kwargs)
    if weights is not None and not os.path.isfile(weights):
        raise FileNotFoundError(f"--weights {weights}: no such file (expected a .h5, "
                                f".weights.h5 or .keras weights file)")
    if splits is None:
        check_dataset_kwargs(dataset, dataset_kwargs)
    strategy_name = strategy if isinstance(strategy, str) else None
    if strategy is not None:
        # first: multiworker must start before other TensorFlow work
        strategy = make_strategy(strategy)
    request = TrainRequest(  # every argument, named
        entry=entry, model_name=model_name, dataset=dataset, run_dir=run_dir, epochs=epochs,
        batch_size=batch_size, augment=augment, optimizer=optimizer,
        learning_rate=learning_rate, weight_decay=weight_decay, momentum=momentum,
        schedule=schedule, warmup_epochs=warmup_epochs, seed=seed, precision=precision,
        jit_compile=jit_compile, early_stopping_patience=early_stopping_patience,
        model_kwargs=model_kwargs, dataset_kwargs=dataset_kwargs, task_kwargs=task_kwargs,
        overwrite=overwrite, verbose=verbose, callbacks=callbacks, splits=splits,
        steps_per_epoch=steps_per_epoch, divergence_factor=divergence_factor,
        evaluate=evaluate, weights=weights, trainable_blocks=trainable_blocks, model=model,
        clipnorm=clipnorm, strategy=strategy, strategy_name=strategy_name)
    if not is_chief(strategy):  # no lock, no writes in run_dir
        return _train_locked(request, None)
    # the one look at the run directory and its one lock: a finished run, or an unfinished run
    # of another model, is refused here, before data is loaded; the dataset is compared (with
    # what this look read) once it is loaded
    with holding_run_dir(run_dir, overwrite) as held:
        held.decide({"model": model_name})
        run = _train_locked(request, held)
        if evaluate:
            start = time.perf_counter()
            run.evaluation = evaluate_model(run.model, run.task, run.splits, run.run_dir,
                                            history=run.result.history)
            run.evaluation_seconds = time.perf_counter() - start
        return run


@dataclasses.dataclass(frozen=True)
class TrainRequest:
    """``train_model``'s arguments, named, with its registry entry (looked up once) and the
    strategy made from ``strategy_name``."""

    entry: object
    model_name: str
    dataset: object
    run_dir: str
    epochs: int
    batch_size: int
    augment: str
    optimizer: object
    learning_rate: object
    weight_decay: float
    momentum: float
    schedule: str
    warmup_epochs: float
    seed: int
    precision: str
    jit_compile: object
    early_stopping_patience: object
    model_kwargs: object
    dataset_kwargs: object
    task_kwargs: object
    overwrite: bool
    verbose: object
    callbacks: object
    splits: object
    steps_per_epoch: object
    divergence_factor: float
    evaluate: bool
    weights: object
    trainable_blocks: int
    model: object
    strategy: object
    strategy_name: object
    clipnorm: object = None


def _measured_cpu_precision(s, splits, task):
    """``--precision auto`` on a CPU: float32 or mixed_bfloat16, whichever this run's model
    trains faster on this CPU (``training.precision_choice``)."""
    from kerascv_apps.training.precision_choice import choose_cpu_precision

    count = int(splits.train.cardinality())
    per_epoch = s.steps_per_epoch or task.steps_per_epoch or (
        math.ceil(count / s.batch_size) if count > 0 else None)
    planned = per_epoch * s.epochs if per_epoch else None
    shape = tuple(splits.train.element_spec[0].shape)

    def build():
        return _build_for_data(s.entry, splits, task, s.model_kwargs or {})

    if not task.image_input:  # a generator takes latent vectors: time it on its own input
        shape = tuple(build().inputs[0].shape[1:])

    choice = choose_cpu_precision(s.model_name, build, shape, s.batch_size, planned,
                                  model_kwargs=s.model_kwargs,
                                  progress=print if s.verbose else (lambda *_: None))
    return {"precision": choice["precision"], "precision_choice": choice}


def _train_locked(s, held):
    """``train_model`` once its checks passed and it holds the run directory (``s``: a
    :class:`TrainRequest`; ``held``: the :class:`~kerascv_apps.training.trainer.RunDirCheck`
    of that directory, None on a worker that is not the chief)."""
    import keras

    keras.utils.set_random_seed(s.seed)
    splits, dataset_kwargs, model = s.splits, s.dataset_kwargs, s.model
    if splits is None:
        defaults = get_task_class(s.entry.task).dataset_defaults(s.entry,
                                                                 s.model_kwargs or {}, model)
        dataset_kwargs = {**defaults, **(dataset_kwargs or {})}
        splits = load_dataset(s.dataset, **dataset_kwargs)
    task = _task_of(s.entry, splits, s.task_kwargs)
    policy = resolve_policy(s.jit_compile, s.precision)
    if s.precision == "auto" and policy.device == "cpu" and model is None:
        policy = dataclasses.replace(policy, **_measured_cpu_precision(s, splits, task))
    configure_precision(policy.precision)
    scope = s.strategy.scope() if s.strategy is not None else contextlib.nullcontext()
    try:
        scope.__enter__()
        if model is None:
            transfer = {} if s.weights is None else {"weights": s.weights, "new_head": True}
            model = _build_for_data(s.entry, splits, task, {**(s.model_kwargs or {}), **transfer})
        if s.weights is not None:
            freeze_for_transfer(model, s.trainable_blocks, family=s.entry.family)
        task.validate_model(model, splits)
        trainer = task.training_model(model)
        # a model the task wrapped computes its loss itself from the whole target (detection's
        # head loss over every raw output); otherwise one target per output
        names, loss_weights = _targets_for(model) if trainer is model else (None, None)
        model = trainer
    finally:
        scope.__exit__(None, None, None)
        keras.config.set_dtype_policy("float32")  # the built model keeps its own policy
    steps_per_epoch = s.steps_per_epoch or task.steps_per_epoch
    train_ds, val_ds, _ = pipelines(task, splits, global_batch_size(s.batch_size, s.strategy),
                                    s.augment, s.seed, output_names=names,
                                    repeat=bool(steps_per_epoch))
    if s.strategy is not None:  # per-worker shards: by file where files are read, else by data
        file_based = stream_of(splits.train) is not None
        train_ds, val_ds = shard(train_ds, file_based), shard(val_ds, file_based)
    loss = task.loss(model)
    metrics = task.metrics(model)
    if names:
        loss = {n: loss for n in names}
        metrics = {names[0]: metrics}
    monitor, mode = task.monitor()
    if names:
        monitor = monitor.replace("val_", f"val_{names[0]}_", 1)
    plan = fit_plan(train_ds, val_ds, run_dir=s.run_dir, epochs=s.epochs, loss=loss,
                    metrics=metrics, loss_weights=loss_weights, optimizer=s.optimizer,
                    learning_rate=s.learning_rate, weight_decay=s.weight_decay,
                    momentum=s.momentum, clipnorm=s.clipnorm, schedule=s.schedule,
                    warmup_epochs=s.warmup_epochs,
                    monitor=monitor, monitor_mode=mode,
                    early_stopping_patience=s.early_stopping_patience,
                    jit_compile=policy.jit_compile, callbacks=s.callbacks, verbose=s.verbose,
                    steps_per_epoch=steps_per_epoch, divergence_factor=s.divergence_factor,
                    strategy=s.strategy)
    # every check passed: only now is anything written into (or moved inside) the run directory
    replace = held is not None and held.decide(
        {"model": s.model_name, "dataset": splits.name}) == "replace"
    with replacing_run(s.run_dir, replace):  # the old run is kept until the new one finishes
        if held is not None:
            atomic_write_text(os.path.join(s.run_dir, "run.json"), json.dumps({
                "model": s.model_name, "dataset": splits.name, "task": task.name,
                "model_kwargs": s.model_kwargs or {}, "dataset_kwargs": dataset_kwargs or {},
                "weights": None if s.weights is None else os.path.abspath(s.weights),
                "task_kwargs": jsonable(s.task_kwargs), "task_options": task.option_values(),
                "batch_size": s.batch_size, "augment": s.augment, "seed": s.seed,
                "device_policy": policy.as_dict(), "data": splits.summary(),
                "distribute": describe(s.strategy), "config": run_config(s, splits)},
                indent=2, default=str))
        with naming_corrupt_shards(splits):
            result = fit_in_run_dir(model, plan)
    return Run(task.trained_model(result.model), task, splits, result,
               os.path.abspath(s.run_dir), policy.as_dict())


def run_config(s, splits):
    """The run's :class:`~kerascv_apps.config.TrainConfig` as a dict (``run.json``'s
    ``config``: ``kerascv-apps train --config run.json`` trains the same run again)."""
    from kerascv_apps.config import TrainConfig

    values = {}
    for field in dataclasses.fields(TrainConfig):
        value = getattr(s, {"model": "model_name", "strategy": "strategy_name"}.get(
            field.name, field.name))
        if field.name.endswith("_kwargs"):
            value = dict(value or {})
        values[field.name] = value
    values["dataset"] = s.dataset or splits.name
    if s.weights is not None:
        values["weights"] = os.path.abspath(s.weights)
    return values


def predict_split(model, task, dataset, batch_size=64):
    """(targets, predictions) as numpy over an unbatched split, batched where shapes allow."""
    model = inference_model(model)
    fn = task.pipeline_map_fn()
    static = all(d is not None for d in model.inputs[0].shape[1:])
    model = task.prediction_model(model)  # e.g. detection: raw outputs decoded
    if not static:
        ds = dataset.map(fn) if fn is not None else dataset
        return task.predict_batches(lambda x: model(x, training=False), ds)
    targets, preds = [], []
    # the compiled predict step, not eager calls: an eager MobileNetV2 (alpha 0.5, 224 x 224)
    # on a batch of 64 peaked 2.8 GB above the model (each op's output kept until the next op
    # ran); the compiled step 0.36 GB
    for x, y in make_pipeline(dataset, batch_size, cache=False, map_fn=fn):
        if not preds:
            task.keep_images(np.asarray(x))
        preds.append(np.asarray(task.prediction_outputs(model.predict_on_batch(x))))
        targets.append(np.asarray(y))
    return np.concatenate(targets), np.concatenate(preds)


def evaluate_model(model, task, splits, out_dir=None, split="test", history=None):
    """Every metric of the task on ``split``; with ``out_dir``, plots and ``evaluation.json``."""
    results = task.evaluate_split(model, splits, split)
    if results is None:
        targets, predictions = predict_split(model, task, getattr(splits, split))
        results = task.evaluate(targets, predictions)
    results["split"] = split
    if out_dir:
        plots_dir = os.path.join(out_dir, "plots")
        results["plots"] = list(task.plots(results, plots_dir))
        if history:
            from kerascv_apps.plots import plot_history

            results["plots"].append(plot_history(history, os.path.join(plots_dir, "training_curves.png")))
        atomic_write_text(os.path.join(out_dir, "evaluation.json"),
                          json.dumps(results, indent=2, default=_jsonable))
    return results


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def export_run(model, task, splits, out_dir, name, config=None, *, overwrite=False,
               progress=print, show_progress=None, **options):
    """``export_model`` of the inference model (auxiliary outputs dropped): ``config`` an
    :class:`~kerascv_apps.config.ExportConfig`, ``options`` its keys one by one."""
    from kerascv_apps.export.pipeline import export_model

    # a saved training pair (SRGAN, DCGAN) exports what the task trained it for
    return export_model(inference_model(task.trained_model(model)), task, splits, out_dir, name,
                        config, overwrite=overwrite, progress=progress,
                        show_progress=show_progress, **options)
