import csv
import json
import os
import shlex
import subprocess
import sys

import pytest

from kerascv_apps.data import load_dataset
from kerascv_apps.tuning import tune


def test_random_search_records_best_trial(tmp_path):
    splits = load_dataset("digits")
    space = {"optimizer": ["adam", "sgd"], "learning_rate": (1e-3, 1e-2),
             "weight_decay": [0.0], "dropout": [0.0, 0.3]}
    result = tune("lenet5", splits, str(tmp_path), max_trials=3, epochs=1, batch_size=64,
                  space=space, verbose=0)
    assert result["trials"] == 3
    assert result["best_score"] == max(t["score"] for t in result["all"])
    best = result["best_hyperparameters"]
    assert best["optimizer"] in ("adam", "sgd") and 1e-3 <= best["learning_rate"] <= 1e-2
    assert best["dropout"] in (0.0, 0.3)
    saved = json.loads((tmp_path / "best_hyperparameters.json").read_text())
    assert saved["best_hyperparameters"] == best
    assert 0.1 < result["best_score"] <= 1.0  # one epoch of LeNet beats chance on digits
    # every trial is a train_model run: its TrainConfig in run.json, the run directory's files
    runs = [json.loads(p.read_text()) for p in (tmp_path / "trials").glob("*/run.json")]
    assert len(runs) == 3 and all((p.parent / "model.keras").exists()
                                  for p in (tmp_path / "trials").glob("*/run.json"))
    configs = sorted((r["config"]["optimizer"], r["config"]["learning_rate"]) for r in runs)
    assert configs == sorted((t["hyperparameters"]["optimizer"],
                              t["hyperparameters"]["learning_rate"]) for t in result["all"])


def test_hyperband_writes_table_and_train_command(tmp_path):
    splits = load_dataset("digits")
    space = {"optimizer": ["adam"], "learning_rate": (1e-3, 1e-2), "weight_decay": [0.0],
             "dropout": [0.0, 0.3], "augment": ["none", "tf"]}
    result = tune("lenet5", splits, str(tmp_path), epochs=2, batch_size=64, space=space,
                  verbose=0, tuner="hyperband")
    best = result["best_hyperparameters"]
    # LeNet-5's builder takes dropout but no width multiplier: only what it takes is tuned
    assert "dropout" in best and "alpha" not in best and "width_multiplier" not in best
    assert best["augment"] in ("none", "tf")
    assert result["tuner"] == "Hyperband" and result["trials"] >= 2
    assert 0.1 < result["best_score"] <= 1.0
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert len(rows) == result["trials"]
    assert float(rows[0]["score"]) == result["best_score"]  # best first
    assert "tuner/epochs" not in rows[0]
    md = (tmp_path / "results.md").read_text().splitlines()
    assert md[0].startswith("| trial | score |") and len(md) == 2 + result["trials"]
    command = (tmp_path / "best_train_command.txt").read_text().strip()
    assert f"--augment {best['augment']}" in command
    assert command.startswith("kerascv-apps train --model lenet5 --dataset digits")
    assert f"--lr {best['learning_rate']:.6g}" in command
    assert f"--model-arg dropout={best['dropout']}" in command
    # the command parses as a train command line
    from kerascv_apps.cli import build_parser

    args = build_parser().parse_args(shlex.split(command)[1:])
    assert args.lr == pytest.approx(best["learning_rate"], rel=1e-5)
    assert dict(args.model_arg)["dropout"] == best["dropout"] and args.run_dir


def test_unknown_tuner_is_refused(tmp_path):
    with pytest.raises(ValueError, match="--tuner must be one of random, hyperband, bayesian"):
        tune("lenet5", load_dataset("digits"), str(tmp_path), tuner="grid", verbose=0)


def test_distributed_search_chief_and_one_worker(tmp_path):
    """KerasTuner's own mechanism on loopback: the chief serves the oracle, the worker trains."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    cmd = [sys.executable, "-m", "kerascv_apps.cli", "tune", "--model", "lenet5",
           "--run-dir", str(tmp_path / "search"), "--tuner", "random", "--max-trials", "2",
           "--epochs", "1", "--batch-size", "128"]
    procs = []
    for tuner_id in ("chief", "tuner0"):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERASTUNER_TUNER_ID=tuner_id,
                   KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=str(port))
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err[-3000:]
            outs.append(out)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert "tuning worker tuner0 done" in outs[1]
    saved = json.loads((tmp_path / "search" / "best_hyperparameters.json").read_text())
    assert saved["trials"] == 2 and 0.1 < saved["best_score"] <= 1.0
    assert (tmp_path / "search" / "results.md").exists()


def test_train_command_maps_flags_model_args_and_loss_mix():
    from kerascv_apps.tuning import train_command

    command = train_command("unet", "shapes", {"learning_rate": 0.00123456789, "optimizer": "sgd",
                                               "dropout": 0.2, "dice_weight": 0.5,
                                               "tuner/epochs": 3}, 8, "tf")
    assert command.startswith("kerascv-apps train --model unet --dataset shapes --run-dir "
                              "runs/unet-tuned --batch-size 8 --augment tf --lr 0.00123457 "
                              "--optimizer sgd --model-arg dropout=0.2")
    assert command.endswith("--task-arg 'loss=ce+0.5*dice'")
    assert "tuner/" not in command
