"""Never lose a user's work: refusals before writing, one writer per run directory,
divergence, per-file predict, exit codes, leftovers of killed processes."""

import csv
import json
import os
import socket
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
from PIL import Image

from kerascv_apps.cli import build_parser, main
from kerascv_apps.io import clean_stale, run_dir_lock
from tests.tree_snapshot import assert_unchanged, snapshot

TRAIN = ["train", "--model", "lenet5", "--epochs", "1", "--steps-per-epoch", "4",
         "--batch-size", "16", "--augment", "none"]


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished LeNet-5 run on digits (1 epoch of 4 steps), trained through the CLI."""
    run = tmp_path_factory.mktemp("safety") / "run"
    keras.utils.clear_session()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(TRAIN + ["--run-dir", str(run)]) == 0
    return run, [str(w.message) for w in caught]


def test_no_shuffle_warning_and_no_lock_left(finished):
    run, caught = finished
    assert not [m for m in caught if "shuffle" in m]
    assert not (run / ".lock").exists()


def test_finished_run_is_refused_before_anything_is_written(finished, tmp_path, capsys):
    run, _ = finished
    # the whole folder the run lives in: nothing added beside the run either
    before, mtime = snapshot(run.parent), os.stat(run).st_mtime_ns
    # another dataset into the finished run: refused, run.json and every other byte unchanged
    code = main(TRAIN + ["--run-dir", str(run), "--dataset-arg", "image_size=16"])
    assert code == 2
    err = capsys.readouterr().err
    assert "already holds a finished run" in err and "--overwrite" in err
    assert "overwrite=True" not in err
    assert_unchanged(run.parent, before)

    # export into the run directory itself, with --overwrite: refused, nothing touched
    for out in (run, run / "exports", run.parent):
        assert main(["export", "--model-path", str(run / "model.keras"), "--out", str(out),
                     "--overwrite", "--formats", "float32"]) == 2
        assert "overlaps" in capsys.readouterr().err
        assert_unchanged(run.parent, before)
    assert os.stat(run).st_mtime_ns == mtime  # not even a lock file came and went


def test_bad_arguments_refused_up_front_naming_the_flag(tmp_path, capsys):
    new = tmp_path / "new"
    (tmp_path / "other.txt").write_text("a user's file beside the run directory")
    before = snapshot(tmp_path)
    assert main(TRAIN + ["--run-dir", str(new), "--model-arg", "bogus=1"]) == 2
    err = capsys.readouterr().err
    assert "--model-arg bogus: not accepted by lenet5" in err and "dropout" in err
    # a registered variant's arguments are its architecture builder's (variant_arguments)
    from kerascv_apps.experiment import check_model_kwargs

    with pytest.raises(ValueError, match="--model-arg focal_gama: not accepted by "
                                         "ssd_mobilenet_v2_tiny.*focal_gamma"):
        check_model_kwargs("ssd_mobilenet_v2_tiny", {"focal_gama": 1.0})
    assert main(TRAIN + ["--run-dir", str(new), "--dataset-arg", "colour=1"]) == 2
    err = capsys.readouterr().err
    assert "--dataset-arg colour" in err and "image_size" in err
    for flag, value in (("--epochs", "0"), ("--lr", "-0.01"), ("--batch-size", "0"),
                        ("--lr", "nan")):
        with pytest.raises(SystemExit) as info:
            main(TRAIN + ["--run-dir", str(new), flag, value])
        assert info.value.code == 2
        assert f"argument {flag}" in capsys.readouterr().err
    from kerascv_apps.experiment import train_model

    with pytest.raises(ValueError, match=r"--lr must be a finite number > 0, got -0.01"):
        train_model("lenet5", "digits", str(new), learning_rate=-0.01)
    assert_unchanged(tmp_path, before)  # nothing was created or touched by any refusal


def test_second_writer_refused_and_dead_owner_taken_over(finished, tmp_path, capsys):
    run, out = tmp_path / "locked", tmp_path / "exported"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time\nfrom kerascv_apps.io import destination_lock, "
         f"run_dir_lock\nwith run_dir_lock({str(run)!r}), destination_lock({str(out)!r}):\n"
         "    print('held', flush=True)\n    time.sleep(120)"],
        stdout=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    try:
        assert holder.stdout.readline().strip() == "held"
        before, run_before = snapshot(tmp_path), snapshot(finished[0])
        assert sorted(before) == [".exported.lock", "locked", "locked/.lock"], before
        assert main(TRAIN + ["--run-dir", str(run)]) == 2
        err = capsys.readouterr().err
        assert f"in use by process {holder.pid} on host" in err and ".lock" in err
        assert_unchanged(tmp_path, before)  # the holder's lock file too, byte for byte
        assert main(["export", "--model-path", str(finished[0] / "model.keras"), "--out",
                     str(out), "--formats", "float32"]) == 2
        assert f"destination {out} is in use by process {holder.pid}" in capsys.readouterr().err
        assert_unchanged(tmp_path, before)
        assert_unchanged(finished[0], run_before)
    finally:
        holder.kill()
        holder.wait()
    owner = json.loads((run / ".lock").read_text())
    assert owner["pid"] == holder.pid  # a SIGKILL leaves the lock behind ...
    with run_dir_lock(str(run)):  # ... and the next writer takes it over
        assert json.loads((run / ".lock").read_text())["pid"] == os.getpid()
    assert not (run / ".lock").exists()


def _finite(path):
    from kerascv_apps.io import load_model

    return all(np.isfinite(w).all() for w in load_model(str(path), compile=False).get_weights())


class _Poison(keras.callbacks.Callback):
    """Turns the weights into NaN during the second epoch (a divergence on demand)."""

    def on_train_batch_begin(self, batch, logs=None):
        if self.params and getattr(self, "_epoch", 0) == 1 and batch == 2:
            w = [layer for layer in self.model.layers if hasattr(layer, "kernel")][-1].kernel
            w.assign(np.full(w.shape, np.nan, dtype="float32"))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch


def test_divergence_keeps_last_good_epoch_and_resume_has_one_row_per_epoch(tmp_path):
    from kerascv_apps.experiment import train_model
    from kerascv_apps.training.callbacks import backup_epoch
    from kerascv_apps.training.trainer import RunDirError, TrainingDivergedError

    run = tmp_path / "div"
    kwargs = dict(epochs=3, batch_size=16, steps_per_epoch=4, augment="none", verbose=0,
                  schedule="constant")
    with pytest.raises(TrainingDivergedError, match=r"at epoch 2, batch 3.*Epochs 1-1 are kept"):
        train_model("lenet5", "digits", str(run), callbacks=[_Poison()], **kwargs)
    assert backup_epoch(str(run / "backup")) == 1
    assert _finite(run / "checkpoints" / "last.keras")
    assert _finite(run / "checkpoints" / "best.keras")
    assert json.loads((run / "checkpoints" / "best.json").read_text())["epoch"] == 1
    assert [r["epoch"] for r in csv.DictReader(open(run / "history.csv"))] == ["0"]
    assert not (run / "model.keras").exists()
    before = snapshot(tmp_path)
    with pytest.raises(RunDirError, match=r"unfinished run with model 'lenet5' \(now 'mlp'\)"):
        train_model("mlp", "digits", str(run), **kwargs)  # would mix two runs
    assert_unchanged(tmp_path, before)  # run.json, checkpoints, backup, history

    # a SIGKILL just after epoch 2's history row (before its backup) leaves a row and a
    # staging file of the dead process; the resumed run keeps one row per epoch
    with open(run / "history.csv", "a") as f:
        f.write("1,0.5,1.0,0.9,0.5,1.0,0.9\n")
    stale = run / "checkpoints" / f".last.keras.tmp-{_dead_pid()}-abc.keras"
    stale.write_bytes(b"partial")
    result = train_model("lenet5", "digits", str(run), **kwargs).result
    assert result.epochs_run == [1, 2]  # restarted after the last good epoch, not from scratch
    rows = list(csv.DictReader(open(run / "history.csv")))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    assert not stale.exists() and not (run / "backup").exists()
    assert _finite(run / "model.keras")


def test_exploding_loss_does_not_exit_0(tmp_path, capsys):
    run = tmp_path / "boom"
    assert main(TRAIN + ["--run-dir", str(run), "--lr", "1e6"]) == 1
    err = capsys.readouterr().err
    assert "training diverged: loss exploded" in err and "(divergence factor)" in err
    assert not (run / "model.keras").exists()
    assert not os.listdir(run / "checkpoints")  # no diverged weights saved anywhere


def test_predict_reports_each_file_and_fails_if_any_failed(finished, tmp_path, capsys):
    run, _ = finished
    good = tmp_path / "good.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    code = main(["predict", "--model-path", str(run / "model.keras"), str(bad), str(good),
                 str(tmp_path / "missing.png")])
    assert code == 1
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.strip().splitlines()]
    assert [line["file"] for line in lines] == [str(bad), str(good), str(tmp_path / "missing.png")]
    assert "error" in lines[0] and "top" in lines[1] and "no such file" in lines[2]["error"]
    assert "2 of 3 images failed" in err
    before = snapshot(tmp_path)
    assert main(["predict", "--model-path", str(tmp_path / "nope.keras"), str(good)]) == 2
    assert "--model-path" in capsys.readouterr().err
    assert_unchanged(tmp_path, before)


def test_help_shows_defaults_and_version(capsys):
    parser = build_parser()
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["--version"])
    assert info.value.code == 0 and "kerascv-apps 0." in capsys.readouterr().out
    for command, expected in (("train", "(default: 0.001)"), ("export", "(default: 0.01)"),
                              ("tune", "(default: 8)")):
        with pytest.raises(SystemExit):
            parser.parse_args([command, "--help"])
        assert expected in capsys.readouterr().out


def test_clean_removes_leftovers_of_dead_processes_only(tmp_path, capsys, monkeypatch):
    dead, alive = _dead_pid(), os.getpid()
    temp = tmp_path / "tmp"
    (temp / f"kcv_tflite_{dead}_x1").mkdir(parents=True)
    (temp / f"kcv_tflite_{alive}_x2").mkdir()
    root = tmp_path / "work"
    (root / f".exports.tmp-{dead}-q1").mkdir(parents=True)
    (root / f".exports.tmp-{alive}-q2").mkdir()
    (root / "run" / "checkpoints").mkdir(parents=True)
    (root / "run" / "checkpoints" / f".last.keras.tmp-{dead}-z.keras").write_bytes(b"x")
    (root / "run" / ".lock").write_text(json.dumps({"pid": dead, "host": socket.gethostname()}))
    (root / "run" / "history.csv").write_text("epoch\n0\n")
    assert len(clean_stale([str(root)], temp_dir=str(temp), dry_run=True)) == 4
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    assert main(["clean", str(root)]) == 0
    assert "removed 4 leftover(s)" in capsys.readouterr().err
    assert sorted(os.listdir(temp)) == [f"kcv_tflite_{alive}_x2"]
    assert sorted(os.listdir(root)) == [f".exports.tmp-{alive}-q2", "run"]
    assert sorted(os.listdir(root / "run")) == ["checkpoints", "history.csv"]
    assert os.listdir(root / "run" / "checkpoints") == []


def test_export_cleans_leftovers_of_a_killed_export_first(finished, tmp_path, capsys, monkeypatch):
    run, _ = finished
    dead = _dead_pid()
    temp = tmp_path / "tmp"
    (temp / f"kcv_tflite_{dead}_k").mkdir(parents=True)
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    out = tmp_path / "exports"
    (tmp_path / f".exports.tmp-{dead}-s").mkdir()
    (tmp_path / f".exports.tmp-{dead}-s" / "tflite").mkdir()
    assert main(["export", "--model-path", str(run / "model.keras"), "--out", str(out),
                 "--formats", "float32", "--max-int8-drop", "1"]) == 0
    assert sorted(os.listdir(tmp_path)) == ["exports", "tmp"]  # no staging, no lock left
    # the killed export's temp folder is gone, and this export removed its own
    assert [n for n in os.listdir(temp) if n.startswith("kcv_")] == []
    assert sorted(os.listdir(out / "tflite")) == ["lenet5_float32.json", "lenet5_float32.tflite"]
