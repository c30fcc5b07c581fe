"""tf.distribute: MirroredStrategy over 2 logical CPU devices and MultiWorkerMirroredStrategy
with 2 worker processes on loopback, each against single-device training of the same global
batch (LeNet-5 on digits, 2 epochs x 4 steps, global batch 32, SGD with momentum); mirrored
also for a detection model (YOLO v1 small on 64 x 64 shapes_detection, 2 steps of 4 images),
which trains through the task's training model and its head's loss.

Tolerance: every epoch's training and validation loss within 1e-4 (absolute) of the
single-device run; measured differences are below 1e-6 (float32 summation order only).
Every run happens in a fresh process: logical devices and the multi-worker runtime must be set
up before TensorFlow initializes.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from kerascv_apps.training.distribute import (DistributeError, global_batch_size, is_chief,
                                              make_strategy, task_of)

RUNNER = os.path.join(os.path.dirname(__file__), "distribute_run.py")
TOLERANCE = 1e-4
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", EPOCHS="2", STEPS="4", GLOBAL_BATCH="32",
           PYTHONUNBUFFERED="1")


def _result(output):
    lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    assert lines, output[-3000:]
    return [json.loads(line[len("RESULT "):]) for line in lines]


def _run_all(commands, timeout=300):
    """Runs the commands ``[(args, env)]`` at the same time; their RESULT dicts in order."""
    procs = [subprocess.Popen([sys.executable, RUNNER, *args], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for args, env in commands]
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=timeout)
            assert proc.returncode == 0, err[-3000:]
            results.append(_result(out)[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


# a detection model trained through its task's training model (the head's loss, divided by
# the replicas in sync): YOLO v1's loss is a mean over the batch, so two replicas of 2 images
# give the single device's loss on 4 (without its batch normalization, whose statistics are
# per replica); 64 x 64 images (S = 2), 2 steps
DETECTION_ENV = dict(ENV, MODEL="yolo_v1_small", MODEL_ARGS='{"batch_norm": false}',
                     DATASET="shapes_detection", GLOBAL_BATCH="4", STEPS="1", LR="0.001",
                     DATASET_ARGS=json.dumps(
                         {"image_size": 64, "num_train": 8, "num_val": 4, "num_test": 4}))


def _single_and_mirrored(run_dir, env):
    """Each in its own process (a second model in one process starts from other weights)."""
    single, mirrored = _run_all([((str(run_dir), "default", "2"), env),
                                 ((str(run_dir), "mirrored", "2"), env)])
    return run_dir, single, mirrored


@pytest.fixture(scope="module")
def single_and_mirrored(tmp_path_factory):
    return _single_and_mirrored(tmp_path_factory.mktemp("mirrored"), ENV)


def _close(a, b):
    for key in ("loss", "val_loss"):
        assert len(a[key]) == len(b[key]) == 2
        np.testing.assert_allclose(a[key], b[key], atol=TOLERANCE, rtol=0, err_msg=key)


@pytest.mark.parametrize("model", ["lenet5", "yolo_v1_small"])
def test_mirrored_two_devices_matches_single_device(model, request, tmp_path):
    run_dir, single, mirrored = (request.getfixturevalue("single_and_mirrored")
                                 if model == "lenet5"
                                 else _single_and_mirrored(tmp_path, DETECTION_ENV))
    assert single["replicas"] == 1 and mirrored["replicas"] == 2
    assert single["loss"][1] < single["loss"][0]  # it trains
    _close(mirrored, single)
    config = json.loads((run_dir / "mirrored" / "train_config.json").read_text())
    assert config["strategy"] == "MirroredStrategy" and config["replicas"] == 2
    assert (run_dir / "mirrored" / "model.keras").exists()


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_multiworker_two_processes_match_single_device(single_and_mirrored, tmp_path):
    _, single, _ = single_and_mirrored
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    chief, other = _run_all([
        ((str(tmp_path), "multiworker"),
         dict(ENV, TF_CONFIG=json.dumps({"cluster": {"worker": workers},
                                         "task": {"type": "worker", "index": index}})))
        for index in range(2)])
    assert chief["chief"] and not other["chief"]
    assert chief["replicas"] == other["replicas"] == 2
    _close(chief, single)
    _close(other, single)
    run_dir = tmp_path / "multiworker"
    # only the chief wrote: one history row per epoch, the final model, no worker files
    assert (run_dir / "model.keras").exists()
    assert len((run_dir / "history.csv").read_text().strip().splitlines()) == 1 + 2
    assert sorted(os.listdir(run_dir)) == ["checkpoints", "history.csv", "model.keras",
                                           "train_config.json"]


def test_strategy_names_and_chief_rules(monkeypatch):
    with pytest.raises(ValueError, match="--strategy must be one of default, mirrored"):
        make_strategy("horovod")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(DistributeError, match="needs the TF_CONFIG"):
        make_strategy("multiworker")
    assert is_chief(None) and task_of(None) == (None, None)
    default = make_strategy("default")
    assert global_batch_size(16, default) == 16


def _cluster_env(index, workers, epochs):
    return dict(ENV, EPOCHS=str(epochs),
                TF_CONFIG=json.dumps({"cluster": {"worker": workers},
                                      "task": {"type": "worker", "index": index}}))


def test_killed_worker_stops_the_run_naming_it_and_restart_resumes(tmp_path):
    """SIGKILL of worker 1 after two epochs: worker 0 stops with a message naming worker 1;
    starting both again resumes from the chief's backup and finishes with one history row
    per epoch."""
    import signal
    import time

    history = tmp_path / "multiworker" / "history.csv"
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = [subprocess.Popen([sys.executable, RUNNER, str(tmp_path), "multiworker"],
                              env=_cluster_env(i, workers, 6), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    try:
        deadline = time.time() + 240
        while time.time() < deadline and procs[0].poll() is None:
            if history.exists() and len(history.read_text().strip().splitlines()) >= 3:
                break
            time.sleep(0.3)
        assert procs[0].poll() is None, "the run ended before worker 1 could be killed"
        procs[1].send_signal(signal.SIGKILL)
        _, err = procs[0].communicate(timeout=180)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
    assert procs[0].returncode != 0
    assert "DistributeError: worker 0: lost contact with worker 1" in err, err[-2000:]
    assert "resume from the last epoch" in err
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    chief, other = _run_all([((str(tmp_path), "multiworker"), _cluster_env(i, workers, 6))
                             for i in range(2)])
    assert chief["epochs_run"] == other["epochs_run"]
    # resumed (the backup is written after the history row, so it may be one epoch behind)
    assert chief["epochs_run"][0] >= 1 and chief["epochs_run"][-1] == 5
    rows = history.read_text().strip().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(6))
