"""``train``: Keras ``fit`` with everything a real run needs, writing into one run directory.

Run directory layout::

    run_dir/
      .lock                                           (one writer: OS lock; owner PID, host)
      checkpoints/last.keras, best.keras, best.json   (atomic; good epochs only)
      checkpoints/guard.json                          (reference loss of the divergence guard)
      backup/                                         (last good epoch: resume after a kill
                                                       or a divergence)
      logs/                                           (TensorBoard)
      history.csv                                     (one row per good epoch)
      model.keras                                     (final model, atomic)
      train_config.json
"""

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile

import numpy as np

from kerascv_apps.io import (RUN_FILES, RUN_SET_ASIDE, atomic_write_text, clean_stale,
                            restore_run_backup, run_dir_lock, save_model_atomic, staging_name,
                            test_hook)
from kerascv_apps.training.callbacks import (DivergenceGuard, EpochCounter, GoodEpochBackup,
                                             backup_epoch,
                                             standard_callbacks, trim_history)
from kerascv_apps.training.device import resolve_jit_compile
from kerascv_apps.training.distribute import (WorkerBackup, check_in_scope, describe, is_chief,
                                              keras_multiworker_fixes, lost_worker_errors,
                                              worker_name)
from kerascv_apps.training.optimizers import build_optimizer, build_schedule


class TrainingDivergedError(RuntimeError):
    pass


class RunDirError(RuntimeError):
    """The run directory cannot take this run (finished, or holds another run)."""


def _positive(name, value, kind=float, allow_none=False, allow_zero=False):
    if value is None and allow_none:
        return
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    try:
        ok = ok and bool(np.isfinite(float(value))) and (value >= 0 if allow_zero else value > 0)
    except OverflowError:  # an int too large for a float
        ok = False
    if ok and kind is int:
        ok = float(value) == int(value) and int(value) <= 2 ** 31 - 1
    if not ok:
        what = "an integer" if kind is int else "a finite number"
        limit = " and at most 2147483647" if kind is int else ""
        raise ValueError(f"{name} must be {what} {'>= 0' if allow_zero else '> 0'}{limit}, "
                         f"got {value!r}")


def check_training_args(epochs, learning_rate=None, batch_size=None, steps_per_epoch=None,
                        warmup_epochs=0, weight_decay=0.0, momentum=0.0, divergence_factor=100.0,
                        clipnorm=None):
    """Refuses non-positive or non-finite training numbers before anything runs.

    Messages name the command-line flag (``--lr`` for ``learning_rate``)."""
    _positive("--epochs", epochs, int)
    if learning_rate is not None and not callable(learning_rate):
        _positive("--lr", learning_rate)
    _positive("--batch-size", batch_size, int, allow_none=True)
    _positive("--steps-per-epoch", steps_per_epoch, int, allow_none=True)
    _positive("--warmup-epochs", warmup_epochs, allow_zero=True)
    _positive("--weight-decay", weight_decay, allow_zero=True)
    _positive("--momentum", momentum, allow_zero=True)
    _positive("--divergence-factor", divergence_factor, allow_zero=True)
    _positive("--clipnorm", clipnorm, allow_none=True)


def run_dir_state(run_dir):
    """``new`` (absent or empty), ``finished`` (model.keras, no backup), ``resumable`` (a backup
    of a good epoch) or ``started`` (files of a run that has no good epoch yet)."""
    if not os.path.isdir(run_dir) or not [n for n in os.listdir(run_dir) if n != ".lock"]:
        return "new"
    if backup_epoch(os.path.join(run_dir, "backup")):
        return "resumable"
    if os.path.exists(os.path.join(run_dir, "model.keras")):
        return "finished"
    return "started"


@dataclasses.dataclass(frozen=True)
class RunDirCheck:
    """What one look at a run directory found: its ``state`` (``run_dir_state``) and the
    ``recorded`` run.json of an unfinished run (empty otherwise). ``decide`` refuses or accepts
    this run from it without reading the directory again."""

    run_dir: str
    state: str
    overwrite: bool = False
    recorded: dict = dataclasses.field(default_factory=dict)
    lock_seen: bool = False  # a lock file was there: another writer, or a killed one

    def differing(self, expect):
        """``{key: (recorded, now)}`` of the ``expect`` keys an unfinished run recorded
        otherwise."""
        return {k: (self.recorded[k], v) for k, v in (expect or {}).items()
                if k in self.recorded and self.recorded[k] != v}

    def decide(self, expect=None):
        """``state``, or ``replace`` when ``overwrite`` lets this run replace the old one;
        raises ``RunDirError`` for an unfinished run of another ``expect`` (keys of run.json
        such as ``model`` and ``dataset``) without ``overwrite``."""
        if self.state == "finished":
            return "replace"  # (without overwrite, inspect_run_dir refused it)
        differ = self.differing(expect)
        if differ and self.overwrite:
            return "replace"
        if differ:
            what = ", ".join(f"{k} {old!r} (now {new!r})" for k, (old, new) in differ.items())
            raise RunDirError(f"run directory {self.run_dir} holds an unfinished run with {what}; "
                              f"resume it with the same arguments, choose another --run-dir, or "
                              f"pass --overwrite to start over")
        return self.state


def inspect_run_dir(run_dir, overwrite=False):
    """The one look at a run directory a run takes: refuses a file, and a finished run unless
    ``overwrite`` (``--overwrite``); returns a :class:`RunDirCheck` whose ``decide(expect)``
    refuses an unfinished run of another model or dataset (resuming it would mix two runs),
    again unless ``overwrite``. An unfinished run of the same model resumes, also with
    ``overwrite``: nothing is thrown away that the same command can continue."""
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise RunDirError(f"--run-dir {run_dir} is a file, not a folder; choose a folder (new "
                          f"or holding a run)")
    state = run_dir_state(run_dir)
    if state == "finished" and not overwrite:
        raise RunDirError(f"run directory {run_dir} already holds a finished run (model.keras); "
                          f"choose another --run-dir or pass --overwrite to replace it")
    recorded = {}
    info_path = os.path.join(run_dir, "run.json")
    if state == "resumable" and os.path.exists(info_path):
        with open(info_path) as f:
            recorded = json.load(f)
    lock_seen = os.path.exists(os.path.join(run_dir, ".lock"))
    return RunDirCheck(run_dir, state, overwrite, recorded, lock_seen)


@contextlib.contextmanager
def holding_run_dir(run_dir, overwrite=False):
    """Looks at ``run_dir`` once (``inspect_run_dir``: a finished run is refused before even a
    lock file is written), takes its lock once (``locked_run_dir``), removes what a killed
    run left (``clean_stale``: a run replaced by a killed ``--overwrite`` comes back) and
    yields the :class:`RunDirCheck` the run decides with.

    The look is repeated under the lock only when the directory could have changed since:
    a lock file was there (another writer, or a killed one) or ``clean_stale`` acted."""
    held = inspect_run_dir(run_dir, overwrite)
    with locked_run_dir(run_dir):
        if clean_stale([run_dir], temp_dir=False) or held.lock_seen:
            held = inspect_run_dir(run_dir, overwrite)
        yield held


def check_run_dir(run_dir, overwrite=False, expect=None):
    """Refuses, before anything is written, a run directory that cannot take this run
    (``inspect_run_dir(run_dir, overwrite).decide(expect)``).

    Returns ``run_dir_state``, or ``replace`` when ``overwrite`` lets this run replace the
    old one (the caller clears it with ``clear_run_dir`` once every check passed).
    """
    return inspect_run_dir(run_dir, overwrite).decide(expect)


@contextlib.contextmanager
def locked_run_dir(run_dir):
    """Holds the run directory's lock (the one lock a run takes); a directory this call
    created is removed again when the block fails before writing anything but the lock (a
    refused command leaves nothing)."""
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise RunDirError(f"--run-dir {run_dir} is a file, not a folder; choose a folder (new "
                          f"or holding a run)")
    created = not os.path.exists(run_dir)
    try:
        with run_dir_lock(run_dir):
            yield
    except BaseException:
        if created and os.path.isdir(run_dir) and not os.listdir(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def clear_run_dir(run_dir):
    """Removes everything of an old run that would mix with a new one (after ``check_run_dir``
    returned ``replace``). ``train`` does not call this: it keeps the old run as a backup
    until the new one finishes (``replacing_run``)."""
    for name in RUN_FILES:
        path = os.path.join(run_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


@contextlib.contextmanager
def replacing_run(run_dir, replace):
    """``--overwrite`` without losing the old run before the new one exists.

    With ``replace`` (``check_run_dir`` returned ``replace``, i.e. every check passed) the
    old run's files move into a named backup inside ``run_dir``
    (``.previous-run.kcv-old-<pid>-*``); the block then trains the new run. When it finishes
    the backup is removed; when it fails before its first good epoch, the new run's files
    are removed and the old run is put back as it was. A kill leaves the backup, which the
    next ``train`` or ``clean`` restores (no good epoch of the new run) or removes (the new
    run has one, and resumes).
    """
    if not replace:
        yield
        return
    backup = staging_name(os.path.join(run_dir, "previous-run"), "old")
    os.mkdir(backup)
    for name in RUN_FILES:
        if os.path.lexists(os.path.join(run_dir, name)):
            os.replace(os.path.join(run_dir, name), os.path.join(backup, name))
            test_hook("train.moved_aside")
    with open(os.path.join(backup, RUN_SET_ASIDE), "w"):
        pass
    test_hook("train.set_aside")
    try:
        yield
    except BaseException:
        if run_dir_state(run_dir) in ("new", "started"):
            restore_run_backup(run_dir, backup)
        raise
    shutil.rmtree(backup, ignore_errors=True)


@dataclasses.dataclass
class TrainResult:
    model: object
    run_dir: str
    history: dict
    epochs_run: list
    model_path: str
    best_path: str
    jit_compile: bool

    def final(self, key):
        values = self.history.get(key)
        return float(values[-1]) if values else None


def _steps(dataset, steps_per_epoch):
    if steps_per_epoch:
        return int(steps_per_epoch)
    import tensorflow as tf

    n = int(dataset.cardinality())
    if n in (int(tf.data.INFINITE_CARDINALITY), int(tf.data.UNKNOWN_CARDINALITY)):
        return None
    return n


@dataclasses.dataclass(frozen=True)
class FitPlan:
    """What ``train`` hands its fit step (one object instead of 25 positional arguments)."""

    train_data: object
    val_data: object
    run_dir: str
    final_path: str
    epochs: int
    loss: object
    metrics: object
    loss_weights: object
    optimizer: object
    learning_rate: object
    weight_decay: float
    momentum: float
    clipnorm: object
    schedule: str
    warmup_epochs: float
    monitor: str
    monitor_mode: str
    early_stopping_patience: object
    jit_compile: object
    steps_per_epoch: object
    callbacks: tuple
    verbose: object
    compile: bool
    tensorboard: bool
    divergence_factor: float
    strategy: object


def fit_plan(train_data, val_data=None, *, run_dir, epochs, loss, metrics=None,
             loss_weights=None, optimizer="adam", learning_rate=1e-3, weight_decay=0.0,
             momentum=0.9, schedule="constant", warmup_epochs=0, monitor="val_loss",
             monitor_mode="min", early_stopping_patience=None, jit_compile="auto",
             steps_per_epoch=None, callbacks=(), verbose="auto", compile=True,
             tensorboard=True, divergence_factor=100.0, strategy=None, clipnorm=None):
    """The :class:`FitPlan` of ``train``'s arguments (checked by ``check_training_args``
    before; see ``train`` for what each means)."""
    run_dir = os.path.abspath(run_dir)
    return FitPlan(
        train_data=train_data, val_data=val_data, run_dir=run_dir,
        final_path=os.path.join(run_dir, "model.keras"), epochs=epochs, loss=loss,
        metrics=metrics, loss_weights=loss_weights, optimizer=optimizer,
        learning_rate=learning_rate, weight_decay=weight_decay, momentum=momentum,
        clipnorm=clipnorm, schedule=schedule, warmup_epochs=warmup_epochs, monitor=monitor,
        monitor_mode=monitor_mode, early_stopping_patience=early_stopping_patience,
        jit_compile=jit_compile, steps_per_epoch=steps_per_epoch, callbacks=tuple(callbacks),
        verbose=verbose, compile=compile, tensorboard=tensorboard,
        divergence_factor=divergence_factor, strategy=strategy)


def train(model, train_data, val_data=None, *, run_dir, epochs, loss, metrics=None,
          loss_weights=None, optimizer="adam", learning_rate=1e-3, weight_decay=0.0,
          momentum=0.9, schedule="constant", warmup_epochs=0, monitor="val_loss",
          monitor_mode="min", early_stopping_patience=None, jit_compile="auto",
          steps_per_epoch=None, callbacks=(), verbose="auto", overwrite=False, compile=True,
          tensorboard=True, divergence_factor=100.0, strategy=None, clipnorm=None):
    """Compiles and fits ``model`` with checkpoints, resume, logs and a divergence guard.

    Args:
        model: an uncompiled (or, with ``compile=False``, already compiled) Keras model, or a
            function without arguments that builds it (called inside ``strategy.scope()``).
            With a strategy, a model passed as an object must have been built in its scope.
        train_data / val_data: batched ``tf.data.Dataset`` (see ``make_pipeline``).
        run_dir: where everything is written. Re-running the same command after a kill
            resumes from the last finished epoch (BackupAndRestore). A run directory that
            holds a finished run is refused unless ``overwrite`` (which replaces it).
        epochs: total epochs (including those done before a resume).
        loss / metrics / loss_weights: as for ``compile``.
        optimizer: ``sgd`` (with ``momentum``), ``adam``, ``adamw``, ``rmsprop`` or an instance.
        learning_rate / weight_decay / schedule / warmup_epochs: see ``optimizers``.
        clipnorm: clip each weight's gradient to this norm (Keras' ``clipnorm``; None: no
            clipping; an optimizer passed as an instance keeps its own setting).
        monitor / monitor_mode: what best.keras and early stopping watch.
        early_stopping_patience: epochs without improvement before stopping (None = off).
        jit_compile: ``auto`` (XLA on GPU only), ``on``/``off`` or a bool.
        steps_per_epoch: for repeated datasets.
        callbacks: extra callbacks.
        divergence_factor: an epoch whose loss exceeds this many times the first batch's loss
            counts as diverged (0 = only non-finite losses do).
        strategy: a ``tf.distribute.Strategy`` (see ``training.distribute``); the datasets are
            batched with the global batch. Only the chief writes ``run_dir``; the other workers
            restore from its backup and write nothing there.

    Only one process trains into ``run_dir`` at a time (``run_dir/.lock``). Checkpoints, the
    backup and history.csv hold good epochs only: after a divergence the same command (e.g.
    with a lower learning rate) resumes from the last good epoch.

    Raises:
        TrainingDivergedError: the loss became NaN/inf or exploded (message says where, which
            epoch is kept, and what to try).
        RunDirError: ``run_dir`` holds a finished run and ``overwrite`` is False.
        LockedError: another live process trains into ``run_dir``.
    """
    check_training_args(epochs, learning_rate if isinstance(learning_rate, (int, float)) else None,
                        steps_per_epoch=steps_per_epoch, warmup_epochs=warmup_epochs,
                        weight_decay=weight_decay, momentum=momentum,
                        divergence_factor=divergence_factor, clipnorm=clipnorm)
    plan = fit_plan(train_data, val_data, run_dir=run_dir, epochs=epochs, loss=loss,
                    metrics=metrics, loss_weights=loss_weights, optimizer=optimizer,
                    learning_rate=learning_rate, weight_decay=weight_decay, momentum=momentum,
                    schedule=schedule, warmup_epochs=warmup_epochs, monitor=monitor,
                    monitor_mode=monitor_mode, early_stopping_patience=early_stopping_patience,
                    jit_compile=jit_compile, steps_per_epoch=steps_per_epoch,
                    callbacks=callbacks, verbose=verbose, compile=compile,
                    tensorboard=tensorboard, divergence_factor=divergence_factor,
                    strategy=strategy, clipnorm=clipnorm)
    run_dir = plan.run_dir
    if not is_chief(strategy):  # a non-chief worker: nothing is checked or written in run_dir
        return _fit(model, plan)
    with holding_run_dir(run_dir, overwrite) as held:
        with replacing_run(run_dir, held.decide() == "replace"):
            return fit_in_run_dir(model, plan)


def fit_in_run_dir(model, plan):
    """``train``'s fit once the caller holds ``plan.run_dir`` (its lock) and has decided it can
    take this run (``inspect_run_dir``), inside ``replacing_run``: nothing here checks or locks
    the directory again. ``kerascv_apps.experiment.train_model`` calls this directly."""
    if is_chief(plan.strategy):
        trim_history(os.path.join(plan.run_dir, "history.csv"),
                     backup_epoch(os.path.join(plan.run_dir, "backup")))
    return _fit(model, plan)


def _fit(model, plan):
    strategy = plan.strategy
    with (strategy.scope() if strategy is not None else contextlib.nullcontext()):
        if callable(model) and not hasattr(model, "fit"):
            model = model()
        check_in_scope(model, strategy)
        if is_chief(strategy):
            return _fit_in_scope(model, plan)
        scratch = tempfile.mkdtemp(prefix=f"kerascv-apps-{worker_name(strategy).replace(' ', '')}-")
        try:
            return _fit_in_scope(model, plan, write_dir=scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _fit_in_scope(model, p, write_dir=None):
    """Compiles and fits as ``p`` (a :class:`FitPlan`) says; ``write_dir``: a non-chief
    worker's scratch folder (its callbacks write there)."""
    jit = resolve_jit_compile(p.jit_compile)
    chief = write_dir is None
    write_dir = write_dir or p.run_dir

    steps = _steps(p.train_data, p.steps_per_epoch)
    optimizer = p.optimizer
    if p.compile:
        if isinstance(optimizer, str):
            total = steps * int(p.epochs) if steps else None
            lr = build_schedule(p.schedule, p.learning_rate, total_steps=total,
                                warmup_steps=int(p.warmup_epochs * steps) if steps else 0)
            optimizer = build_optimizer(optimizer, lr, momentum=p.momentum,
                                        weight_decay=p.weight_decay, clipnorm=p.clipnorm)
        model.compile(optimizer=optimizer, loss=p.loss, metrics=p.metrics,
                      loss_weights=p.loss_weights, jit_compile=jit)
    monitor = p.monitor
    if p.val_data is None and monitor.startswith("val_"):
        monitor = monitor[4:]
    counter = EpochCounter()
    cbs = standard_callbacks(write_dir, monitor, p.monitor_mode, p.early_stopping_patience,
                             tensorboard=p.tensorboard, divergence_factor=p.divergence_factor)
    if not chief:  # restore from the chief's backup, like the chief, so all resume together
        cbs = [WorkerBackup(os.path.join(p.run_dir, "backup"), c.backup_dir)
               if isinstance(c, GoodEpochBackup) else c for c in cbs]
    cbs = cbs + [counter] + list(p.callbacks)
    atomic_write_text(os.path.join(write_dir, "train_config.json"), json.dumps({
        "model": model.name, "epochs": int(p.epochs),
        "optimizer": str(getattr(optimizer, "name", optimizer)),
        "learning_rate": float(p.learning_rate), "weight_decay": float(p.weight_decay),
        "schedule": p.schedule, "jit_compile": jit, "steps_per_epoch": p.steps_per_epoch,
        "momentum": float(p.momentum), "warmup_epochs": float(p.warmup_epochs),
        "early_stopping_patience": p.early_stopping_patience,
        "divergence_factor": float(p.divergence_factor), "monitor": monitor,
        "clipnorm": None if p.clipnorm is None else float(p.clipnorm),
        "dtype_policy": str(model.dtype_policy.name), **describe(p.strategy)}, indent=2))

    # the datasets are shuffled by make_pipeline; fit's shuffle would be ignored (and warned about)
    with lost_worker_errors(p.strategy), keras_multiworker_fixes(model, p.train_data, p.strategy):
        history = model.fit(p.train_data, validation_data=p.val_data, epochs=int(p.epochs),
                            steps_per_epoch=p.steps_per_epoch, callbacks=cbs, verbose=p.verbose,
                            shuffle=False)
    test_hook("train.fitted")
    guard = next(c for c in cbs if isinstance(c, DivergenceGuard))
    if guard.diverged_at is not None:
        at = guard.diverged_at
        where = f"at epoch {at['epoch']}" + (f", batch {at['batch']}" if "batch" in at else "")
        good = backup_epoch(os.path.join(p.run_dir, "backup"))
        kept = (f"Epochs 1-{good} are kept (checkpoints/last.keras, backup/); running the same "
                f"command again, e.g. with a lower --lr, resumes after epoch {good}."
                if good else "No epoch finished cleanly, so nothing was kept; a new run starts "
                             "from scratch.")
        raise TrainingDivergedError(
            f"training diverged: {at['reason']} {where}. Try a lower learning rate (was "
            f"{p.learning_rate}), gradient clipping, or float32 precision. {kept}")
    # every worker saves (a collective read of the variables); only the chief's copy is kept
    save_model_atomic(model, p.final_path if chief else os.path.join(write_dir, "model.keras"))
    if chief:
        shutil.rmtree(os.path.join(p.run_dir, "backup"), ignore_errors=True)  # now a finished run
    best = os.path.join(p.run_dir, "checkpoints", "best.keras")
    return TrainResult(model=model, run_dir=p.run_dir,
                       history={k: [float(v) for v in vals] for k, vals in history.history.items()},
                       epochs_run=list(counter.epochs), model_path=p.final_path,
                       best_path=best if os.path.exists(best) else p.final_path, jit_compile=jit)


def read_history(run_dir):
    """history.csv as a dict of column -> list of floats (the whole run, resumes included)."""
    import csv

    path = os.path.join(run_dir, "history.csv")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: is {run_dir!r} a training run directory?")
    with open(path) as f:
        rows = list(csv.DictReader(f))
    cols = rows[0].keys() if rows else []
    def num(text):
        return float("nan") if text in ("", "NA") else float(text)

    return {c: np.array([num(r[c]) for r in rows]) for c in cols}
