import csv
import os
import re
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_apps.io import load_model
from kerascv_apps.training import TrainingDivergedError, train
from kerascv_apps.training.device import resolve_jit_compile, resolve_policy, resolve_precision
from kerascv_apps.training.optimizers import build_optimizer, build_schedule
from kerascv_apps.training.trainer import RunDirError, read_history


def _toy_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, (n, 8, 8, 1)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 127.5).astype("int32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(16)


def _toy_model():
    from kerascv_apps import build_model

    return build_model("mlp", input_shape=(8, 8, 1), num_classes=2, hidden_units=(16,), dropout=0.0)


def test_train_writes_run_directory(tmp_path):
    data = _toy_data()
    result = train(_toy_model(), data, data, run_dir=tmp_path, epochs=3,
                   loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                   monitor="val_accuracy", monitor_mode="max", verbose=0)
    for name in ("model.keras", "history.csv", "train_config.json", "checkpoints/last.keras",
                 "checkpoints/best.keras"):
        assert (tmp_path / name).exists(), name
    assert not (tmp_path / "backup").exists()  # removed once training finished
    assert os.listdir(tmp_path / "logs")
    assert len(read_history(tmp_path)["loss"]) == 3
    assert result.epochs_run == [0, 1, 2]
    reloaded = load_model(result.model_path)
    x = next(iter(data))[0]
    np.testing.assert_allclose(reloaded(x), result.model(x), atol=1e-6)
    # no partial files left beside the atomic writes
    assert not [f for f in os.listdir(tmp_path / "checkpoints") if ".tmp-" in f]


def test_clipnorm_bounds_each_weight_step_and_is_recorded(tmp_path):
    """``clipnorm`` reaches the optimizer the trainer builds: with plain SGD (lr 1, no
    momentum) one step moves each weight by at most ``clipnorm``; unclipped it moves more."""
    import json

    data = _toy_data(n=16)  # one batch: one step

    def step(run_dir, clipnorm):
        keras.utils.set_random_seed(0)
        model = _toy_model()
        before = [w.numpy().copy() for w in model.trainable_weights]
        train(model, data, run_dir=run_dir, epochs=1, loss="sparse_categorical_crossentropy",
              optimizer="sgd", learning_rate=1.0, momentum=0.0, verbose=0, clipnorm=clipnorm)
        return [float(np.linalg.norm(w.numpy() - b))
                for w, b in zip(model.trainable_weights, before)]

    clipped = step(tmp_path / "clipped", 1e-3)
    assert max(clipped) <= 1e-3 * (1 + 1e-4) and max(clipped) > 0
    assert max(step(tmp_path / "free", None)) > 1e-2
    assert json.loads((tmp_path / "clipped" / "train_config.json").read_text())["clipnorm"] \
        == 1e-3
    with pytest.raises(ValueError, match="--clipnorm must be a finite number > 0"):
        train(_toy_model(), data, run_dir=tmp_path / "bad", epochs=1, loss="mse", clipnorm=0)


def test_finished_run_directory_is_not_overwritten(tmp_path):
    data = _toy_data()
    kwargs = dict(run_dir=tmp_path, epochs=1, loss="sparse_categorical_crossentropy", verbose=0)
    train(_toy_model(), data, **kwargs)
    with pytest.raises(RunDirError, match="already holds a finished run"):
        train(_toy_model(), data, **kwargs)
    result = train(_toy_model(), data, overwrite=True, **kwargs)
    assert result.epochs_run == [0]
    assert len(read_history(tmp_path)["loss"]) == 1


def test_nan_loss_stops_with_clear_message(tmp_path):
    data = _toy_data()
    with pytest.raises(TrainingDivergedError, match=r"loss became (nan|inf) at epoch 1, batch \d+.*lower learning rate"):
        train(_toy_model(), data, run_dir=tmp_path, epochs=3, optimizer="sgd",
              learning_rate=1e30, loss="sparse_categorical_crossentropy", verbose=0)


def test_resume_after_kill_continues_from_last_epoch(tmp_path):
    """A real process is killed (SIGKILL) mid-run; the same command then resumes."""
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "kerascv_apps.cli", "train", "--model", "lenet5",
           "--dataset", "digits", "--run-dir", str(run_dir), "--epochs", "8",
           "--batch-size", "8", "--augment", "none", "--lr", "1e-3"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    history = run_dir / "history.csv"
    deadline = time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None:
            if history.exists() and len(history.read_text().strip().splitlines()) >= 4:  # 3 epochs
                break
            time.sleep(0.2)
        assert proc.poll() is None, "training finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert (run_dir / "backup").exists() and not (run_dir / "model.keras").exists()
    done_before = len(history.read_text().strip().splitlines()) - 1

    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    epochs_seen = [int(m) for m in re.findall(r"^Epoch (\d+)/8", out.stdout, re.M)]
    assert epochs_seen, out.stdout[-2000:]
    assert epochs_seen[0] >= 3 and epochs_seen[0] in (done_before, done_before + 1)
    assert epochs_seen[-1] == 8
    rows = list(csv.DictReader(open(history)))
    assert [int(r["epoch"]) for r in rows] == list(range(8))  # the whole run: no gap, no repeat
    assert (run_dir / "model.keras").exists() and not (run_dir / "backup").exists()
    # the resumed first epoch starts from trained weights, not from scratch
    first_resumed = [r for r in rows if int(r["epoch"]) == epochs_seen[0] - 1][-1]
    first_ever = [r for r in rows if int(r["epoch"]) == 0][0]
    assert float(first_resumed["loss"]) < 0.7 * float(first_ever["loss"])


def test_schedules():
    cosine = build_schedule("cosine", 0.1, total_steps=100)
    assert float(cosine(0)) == pytest.approx(0.1)
    assert float(cosine(100)) == pytest.approx(0.0, abs=1e-6)
    step = build_schedule("step", 0.1, total_steps=90, step_every=30)
    assert float(step(29)) == pytest.approx(0.1) and float(step(30)) == pytest.approx(0.01)
    warm = build_schedule("cosine", 0.1, total_steps=110, warmup_steps=10)
    assert float(warm(0)) == pytest.approx(0.01) and float(warm(9)) == pytest.approx(0.1)
    assert float(warm(10)) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="total_steps"):
        build_schedule("cosine", 0.1)


def test_optimizers():
    sgd = build_optimizer("sgd", 0.1, momentum=0.9, weight_decay=5e-4)
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.momentum == 0.9 and sgd.weight_decay == 5e-4
    assert isinstance(build_optimizer("adamw", 1e-3), keras.optimizers.AdamW)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        build_optimizer("lbfgs")


def test_device_policy_auto_on_cpu_disables_xla_and_mixed_precision():
    assert resolve_jit_compile("auto", device="cpu") is False
    assert resolve_jit_compile("auto", device="gpu") is True
    assert resolve_precision("auto", device="cpu") == "float32"
    assert resolve_precision("auto", device="gpu") == "mixed_float16"
    assert resolve_jit_compile("on") is True
    policy = resolve_policy()
    assert policy.device == "cpu" and policy.jit_compile is False and policy.precision == "float32"
    with pytest.raises(ValueError):
        resolve_precision("float8")
