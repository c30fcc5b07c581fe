"""Callbacks: atomic checkpoints, a NaN guard with a clear message, and the standard set."""

import json
import math
import os

import keras
import numpy as np

from kerascv_apps.io import atomic_write_text, save_model_atomic


class AtomicCheckpoint(keras.callbacks.Callback):
    """Saves ``last.keras`` every epoch and ``best.keras`` on improvement, each atomically.

    The best value is kept in ``best.json`` so a resumed run keeps comparing against it.
    """

    def __init__(self, directory, monitor="val_loss", mode="min"):
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.directory = directory
        self.monitor = monitor
        self.mode = mode
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


class NaNGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite loss and remembers where it happened."""

    def __init__(self):
        super().__init__()
        self.epoch = 0
        self.diverged_at = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            self.diverged_at = {"epoch": self.epoch + 1, "batch": batch + 1, "loss": float(loss)}
            print(f"\nTerminateOnNaN: loss became {loss} at epoch {self.epoch + 1}, "
                  f"batch {batch + 1}; training stopped.")
            self.model.stop_training = True


class EpochCounter(keras.callbacks.Callback):
    """Counts the epochs this call of fit actually ran (resume tests rely on it)."""

    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(epoch)


def standard_callbacks(run_dir, monitor="val_loss", monitor_mode="min",
                       early_stopping_patience=None, tensorboard=True):
    """The callbacks every training run gets, writing into ``run_dir``.

    Order matters: history is logged before the backup is written, so an interruption
    between the two repeats an epoch's row rather than losing it.
    """
    cbs = [
        keras.callbacks.CSVLogger(os.path.join(run_dir, "history.csv"), append=True),
        AtomicCheckpoint(os.path.join(run_dir, "checkpoints"), monitor, monitor_mode),
        keras.callbacks.BackupAndRestore(os.path.join(run_dir, "backup"), double_checkpoint=True),
        NaNGuard(),
    ]
    if tensorboard:
        cbs.append(keras.callbacks.TensorBoard(os.path.join(run_dir, "logs"), update_freq="epoch"))
    if early_stopping_patience:
        cbs.append(keras.callbacks.EarlyStopping(monitor=monitor, mode=monitor_mode,
                                                 patience=int(early_stopping_patience),
                                                 restore_best_weights=True))
    return cbs
