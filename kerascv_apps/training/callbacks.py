"""Callbacks: a divergence guard, checkpoints/backups/history of good epochs only, and the
standard set."""

import json
import math
import os

import keras
import numpy as np

from kerascv_apps.io import atomic_write_text, save_model_atomic


class DivergenceGuard(keras.callbacks.Callback):
    """Decides whether each epoch is good, and stops training at the first bad one.

    An epoch is bad when a batch loss is non-finite, the epoch loss or validation loss is
    non-finite, the weights hold a non-finite value, or the epoch loss exploded: more than
    ``factor`` times the loss of the very first training batch of the run (kept in
    ``state_path`` so a resumed run compares against the same reference; ``factor=0`` turns
    the explosion check off). The other callbacks of ``standard_callbacks`` save checkpoints,
    backups and history rows only for good epochs.
    """

    def __init__(self, factor=100.0, state_path=None):
        super().__init__()
        if factor is None or not np.isfinite(factor) or factor < 0:
            raise ValueError(f"divergence factor must be a finite number >= 0, got {factor!r}")
        self.factor = float(factor)
        self.state_path = state_path
        self.reference = None
        self.epoch = 0
        self.epoch_ok = True
        self.diverged_at = None
        self.last_good_epoch = None  # 1-based number of the last good epoch of this fit

    def on_train_begin(self, logs=None):
        if self.state_path and os.path.exists(self.state_path):
            with open(self.state_path) as f:
                self.reference = json.load(f).get("reference_loss")

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.epoch_ok = True

    def _stop(self, **where):
        self.epoch_ok = False
        self.diverged_at = dict(epoch=self.epoch + 1, **where)
        self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or self.diverged_at is not None:
            return
        loss = float(loss)
        if not np.isfinite(loss):
            self._stop(batch=batch + 1, loss=loss, reason=f"loss became {loss}")
            print(f"\nloss became {loss} at epoch {self.epoch + 1}, batch {batch + 1}; "
                  f"training stopped.")
        elif self.reference is None:
            self.reference = loss

    def on_epoch_end(self, epoch, logs=None):
        if not self.epoch_ok:
            return
        logs = logs or {}
        loss = logs.get("loss")
        bad = {k: float(v) for k, v in logs.items()
               if k in ("loss", "val_loss") and not np.isfinite(float(v))}
        if bad:
            key, value = next(iter(bad.items()))
            self._stop(loss=value, reason=f"{key} became {value}")
        elif (loss is not None and self.factor and self.reference and self.reference > 0
              and float(loss) > self.factor * self.reference):
            self._stop(loss=float(loss), reason=(
                f"loss exploded to {float(loss):.4g}, more than {self.factor:g}x the first "
                f"batch's {self.reference:.4g} (divergence factor)"))
        elif not all(np.isfinite(w).all() for w in self.model.get_weights()):
            self._stop(loss=float(loss) if loss is not None else None,
                       reason="the weights hold non-finite values")
        if not self.epoch_ok:
            print(f"\nepoch {epoch + 1} diverged ({self.diverged_at['reason']}); training stopped.")
            return
        self.last_good_epoch = epoch + 1
        if self.state_path and not os.path.exists(self.state_path) and self.reference is not None:
            atomic_write_text(self.state_path, json.dumps({"reference_loss": self.reference}))


def _good(guard):
    return guard is None or guard.epoch_ok


class AtomicCheckpoint(keras.callbacks.Callback):
    """Saves ``last.keras`` every good epoch and ``best.keras`` on improvement, atomically.

    The best value is kept in ``best.json`` so a resumed run keeps comparing against it. With a
    ``guard`` (``DivergenceGuard``), epochs it judged bad are never saved.
    """

    def __init__(self, directory, monitor="val_loss", mode="min", guard=None):
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.directory = directory
        self.monitor = monitor
        self.mode = mode
        self.guard = guard
        self.best = math.inf if mode == "min" else -math.inf
        self.last_path = os.path.join(directory, "last.keras")
        self.best_path = os.path.join(directory, "best.keras")
        self._meta = os.path.join(directory, "best.json")

    def on_train_begin(self, logs=None):
        os.makedirs(self.directory, exist_ok=True)
        if os.path.exists(self._meta):
            with open(self._meta) as f:
                self.best = json.load(f)["best"]

    def _improved(self, value):
        return value < self.best if self.mode == "min" else value > self.best

    def on_epoch_end(self, epoch, logs=None):
        if not _good(self.guard):
            return
        logs = logs or {}
        save_model_atomic(self.model, self.last_path)
        value = logs.get(self.monitor)
        if value is None or not np.isfinite(value):
            return
        if self._improved(float(value)):
            self.best = float(value)
            save_model_atomic(self.model, self.best_path)
            atomic_write_text(self._meta, json.dumps(
                {"best": self.best, "epoch": epoch + 1, "monitor": self.monitor}))


class GoodEpochBackup(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` that backs up good epochs only and never deletes the backup itself:
    after a divergence the next run resumes from the last good epoch, and ``train`` removes
    the backup only once ``model.keras`` is saved (a kill in between loses nothing)."""

    def __init__(self, backup_dir, guard=None):
        super().__init__(backup_dir, double_checkpoint=True, delete_checkpoint=False)
        self.guard = guard

    def on_epoch_end(self, epoch, logs=None):
        if _good(self.guard):
            super().on_epoch_end(epoch, logs)


class GoodEpochCSVLogger(keras.callbacks.CSVLogger):
    """``CSVLogger`` writing rows of good epochs only (one row per epoch, see ``trim_history``)."""

    def __init__(self, filename, guard=None):
        super().__init__(filename, append=True)
        self.guard = guard

    def on_epoch_end(self, epoch, logs=None):
        if _good(self.guard):
            super().on_epoch_end(epoch, logs)


def backup_epoch(backup_dir):
    """Number of epochs done according to a ``BackupAndRestore`` folder (0 if none)."""
    for name in ("training_metadata.json", "training_metadata.json.bkp"):
        path = os.path.join(backup_dir, name)
        if os.path.exists(path):
            try:
                with open(path) as f:
                    return int(json.load(f)["epoch"])
            except (OSError, ValueError, KeyError):
                continue
    return 0


def trim_history(path, epochs_done):
    """Keeps one row per epoch ``< epochs_done`` in ``history.csv`` (the last one written).

    Rows of epochs after the last backup come from work a kill or divergence threw away; the
    resumed run writes them again.
    """
    import csv
    import io

    if not os.path.exists(path):
        return
    if epochs_done <= 0:
        os.remove(path)
        return
    with open(path, newline="") as f:
        text = f.read()
    reader = csv.DictReader(io.StringIO(text))
    rows = {}
    for row in reader:
        try:
            epoch = int(row["epoch"])
        except (KeyError, TypeError, ValueError):
            continue  # a torn or repeated header line
        if epoch < epochs_done:
            rows[epoch] = row
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=reader.fieldnames or ["epoch"], lineterminator="\n")
    writer.writeheader()
    for epoch in sorted(rows):
        writer.writerow(rows[epoch])
    if out.getvalue() != text:
        atomic_write_text(path, out.getvalue())


NaNGuard = DivergenceGuard  # the former name


class EpochCounter(keras.callbacks.Callback):
    """Counts the epochs this call of fit actually ran (resume tests rely on it)."""

    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(epoch)


def standard_callbacks(run_dir, monitor="val_loss", monitor_mode="min",
                       early_stopping_patience=None, tensorboard=True, divergence_factor=100.0):
    """The callbacks every training run gets, writing into ``run_dir``.

    Order matters: the divergence guard judges each epoch first; history, checkpoints and the
    backup then record good epochs only. The history row is written before the backup, and a
    resumed run trims rows past the backup (``trim_history``), so a kill between the two
    never leaves a duplicate row.
    """
    guard = DivergenceGuard(divergence_factor, os.path.join(run_dir, "checkpoints", "guard.json"))
    cbs = [
        guard,
        GoodEpochCSVLogger(os.path.join(run_dir, "history.csv"), guard),
        AtomicCheckpoint(os.path.join(run_dir, "checkpoints"), monitor, monitor_mode, guard),
        GoodEpochBackup(os.path.join(run_dir, "backup"), guard),
    ]
    if tensorboard:
        cbs.append(keras.callbacks.TensorBoard(os.path.join(run_dir, "logs"), update_freq="epoch"))
    if early_stopping_patience:
        cbs.append(keras.callbacks.EarlyStopping(monitor=monitor, mode=monitor_mode,
                                                 patience=int(early_stopping_patience),
                                                 restore_best_weights=True))
    return cbs
