"""``train --overwrite``: every check that can refuse it runs before the finished run is
touched, and the old run is kept as a named backup until the new run finishes (put back when
the new run fails before its first good epoch, or was killed)."""

import os
import shutil
import subprocess
import sys

import keras
import pytest

from kerascv_apps.cli import main
from kerascv_apps.experiment import train_model

TRAIN = ["train", "--model", "lenet5", "--dataset", "digits", "--epochs", "1",
         "--steps-per-epoch", "2", "--batch-size", "16", "--augment", "none", "--overwrite"]


def _snapshot(folder):
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = f.read()
    return out


@pytest.fixture
def run(lenet_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(lenet_run, copy)
    return copy


@pytest.mark.parametrize("arg, said", [("input_shape=[32,32,3]", "takes 32x32x3 inputs"),
                                       ("num_classes=3", "predicts 3 classes")])
def test_refused_overwrite_leaves_the_finished_run_as_it_was(run, arg, said, capsys):
    before = _snapshot(run)
    assert main(TRAIN + ["--run-dir", str(run), "--model-arg", arg]) == 2
    assert said in capsys.readouterr().err
    assert _snapshot(run) == before


class _Fail(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        raise RuntimeError("the machine went away")


def test_new_run_failing_before_its_first_epoch_puts_the_old_run_back(run):
    before = _snapshot(run)
    with pytest.raises(RuntimeError, match="went away"):
        train_model("lenet5", "digits", str(run), epochs=1, steps_per_epoch=2, batch_size=16,
                    augment="none", overwrite=True, callbacks=[_Fail()], verbose=0)
    assert _snapshot(run) == before
    assert sorted(os.listdir(run)) == sorted(before_names(before))


def before_names(snapshot):
    return {p.split(os.sep)[0] for p in snapshot}


def test_successful_overwrite_removes_the_backup(run):
    old_model = (run / "model.keras").read_bytes()
    assert main(TRAIN + ["--run-dir", str(run)]) == 0
    assert (run / "model.keras").read_bytes() != old_model
    assert not [n for n in os.listdir(run) if "previous-run" in n]


@pytest.mark.parametrize("step", ["train.moved_aside"])  # half moved: the hard case
def test_overwrite_killed_while_moving_aside_is_restored_by_clean(run, step, capsys):
    before = _snapshot(run)
    env = dict(os.environ, KERASCV_APPS_KILL_AT=step, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-m", "kerascv_apps.cli"] + TRAIN
                          + ["--run-dir", str(run)], env=env, capture_output=True)
    assert proc.returncode == -9  # killed at the hook
    assert _snapshot(run) != before  # half moved aside
    assert main(["clean", str(run)]) == 0
    assert "restore\t" in capsys.readouterr().out
    assert _snapshot(run) == before
