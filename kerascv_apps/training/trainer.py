"""``train``: Keras ``fit`` with everything a real run needs, writing into one run directory.

Run directory layout::

    run_dir/
      checkpoints/last.keras, best.keras, best.json   (atomic)
      backup/                                         (BackupAndRestore: resume after a kill)
      logs/                                           (TensorBoard)
      history.csv
      model.keras                                     (final model, atomic)
      train_config.json
"""

import dataclasses
import json
import os

import numpy as np

from kerascv_apps.io import atomic_write_text, save_model_atomic
from kerascv_apps.training.callbacks import EpochCounter, NaNGuard, standard_callbacks
from kerascv_apps.training.device import resolve_jit_compile
from kerascv_apps.training.optimizers import build_optimizer, build_schedule


class TrainingDivergedError(RuntimeError):
    pass


class RunDirError(RuntimeError):
    pass


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


def train(model, train_data, val_data=None, *, run_dir, epochs, loss, metrics=None,
          loss_weights=None, optimizer="adam", learning_rate=1e-3, weight_decay=0.0,
          momentum=0.9, schedule="constant", warmup_epochs=0, monitor="val_loss",
          monitor_mode="min", early_stopping_patience=None, jit_compile="auto",
          steps_per_epoch=None, callbacks=(), verbose="auto", overwrite=False, compile=True,
          tensorboard=True):
    """Compiles and fits ``model`` with checkpoints, resume, logs and a NaN guard.

    Args:
        model: an uncompiled (or, with ``compile=False``, already compiled) Keras model.
        train_data / val_data: batched ``tf.data.Dataset`` (see ``make_pipeline``).
        run_dir: where everything is written. Re-running the same command after a kill
            resumes from the last finished epoch (BackupAndRestore). A run directory that
            holds a finished run is refused unless ``overwrite``.
        epochs: total epochs (including those done before a resume).
        loss / metrics / loss_weights: as for ``compile``.
        optimizer: ``sgd`` (with ``momentum``), ``adam``, ``adamw``, ``rmsprop`` or an instance.
        learning_rate / weight_decay / schedule / warmup_epochs: see ``optimizers``.
        monitor / monitor_mode: what best.keras and early stopping watch.
        early_stopping_patience: epochs without improvement before stopping (None = off).
        jit_compile: ``auto`` (XLA on GPU only), ``on``/``off`` or a bool.
        steps_per_epoch: for repeated datasets.
        callbacks: extra callbacks.

    Raises:
        TrainingDivergedError: the loss became NaN/inf (message says where and what to try).
    """
    if epochs is None or int(epochs) < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    run_dir = os.path.abspath(run_dir)
    final_path = os.path.join(run_dir, "model.keras")
    backup_dir = os.path.join(run_dir, "backup")
    if os.path.exists(final_path) and not os.path.exists(backup_dir):
        if not overwrite:
            raise RunDirError(f"run directory {run_dir} already holds a finished run "
                              f"(model.keras); choose another run_dir or pass overwrite=True")
        for name in ("history.csv", "checkpoints/best.json"):
            path = os.path.join(run_dir, name)
            if os.path.exists(path):
                os.remove(path)
    os.makedirs(run_dir, exist_ok=True)
    jit = resolve_jit_compile(jit_compile)

    steps = _steps(train_data, steps_per_epoch)
    if compile:
        if isinstance(optimizer, str):
            total = steps * int(epochs) if steps else None
            lr = build_schedule(schedule, learning_rate, total_steps=total,
                                warmup_steps=int(warmup_epochs * steps) if steps else 0)
            optimizer = build_optimizer(optimizer, lr, momentum=momentum, weight_decay=weight_decay)
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics, loss_weights=loss_weights,
                      jit_compile=jit)
    monitor = monitor if val_data is not None or not monitor.startswith("val_") else monitor[4:]
    counter = EpochCounter()
    cbs = standard_callbacks(run_dir, monitor, monitor_mode, early_stopping_patience,
                             tensorboard=tensorboard) + [counter] + list(callbacks)
    atomic_write_text(os.path.join(run_dir, "train_config.json"), json.dumps({
        "model": model.name, "epochs": int(epochs), "optimizer": str(getattr(optimizer, "name", optimizer)),
        "learning_rate": float(learning_rate), "weight_decay": float(weight_decay),
        "schedule": schedule, "jit_compile": jit, "steps_per_epoch": steps_per_epoch,
        "monitor": monitor, "dtype_policy": str(model.dtype_policy.name)}, indent=2))

    history = model.fit(train_data, validation_data=val_data, epochs=int(epochs),
                        steps_per_epoch=steps_per_epoch, callbacks=cbs, verbose=verbose)
    guard = next(c for c in cbs if isinstance(c, NaNGuard))
    if guard.diverged_at is not None:
        at = guard.diverged_at
        raise TrainingDivergedError(
            f"training diverged: loss became {at['loss']} at epoch {at['epoch']}, batch "
            f"{at['batch']}. Try a lower learning rate (was {learning_rate}), gradient clipping, "
            f"or float32 precision. The last good checkpoint is in {run_dir}/checkpoints.")
    save_model_atomic(model, final_path)
    best = os.path.join(run_dir, "checkpoints", "best.keras")
    return TrainResult(model=model, run_dir=run_dir,
                       history={k: [float(v) for v in vals] for k, vals in history.history.items()},
                       epochs_run=list(counter.epochs), model_path=final_path,
                       best_path=best if os.path.exists(best) else final_path, jit_compile=jit)


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
