"""One writer per output folder for ``prepare --out`` and ``evaluate --out`` too: a second
process is refused (exit 2) naming the owner, like ``train`` and ``export``."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import kerascv_apps.io as kio
from kerascv_apps.cli import main

# holds a lock from another process (io.py only) until its stdin closes
HOLDER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("kio", {io!r})
kio = importlib.util.module_from_spec(spec); spec.loader.exec_module(kio)
lock = kio.run_dir_lock(sys.argv[2]) if sys.argv[1] == "run" else kio.destination_lock(sys.argv[2])
with lock:
    print("held", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def holding():
    procs = []

    def hold(kind, path):
        proc = subprocess.Popen([sys.executable, "-c", HOLDER.format(io=kio.__file__), kind,
                                 str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
        assert proc.stdout.readline().strip() == "held"
        procs.append(proc)
        return proc

    yield hold
    for proc in procs:
        proc.stdin.close()
        proc.wait(timeout=30)


def test_second_prepare_to_one_out_is_refused(holding, tmp_path, capsys):
    images = tmp_path / "images"
    for c in ("a", "b"):
        os.makedirs(images / c)
        for i in range(3):
            Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(images / c / f"{i}.png")
    out = tmp_path / "records"
    owner = holding("dest", out)
    assert main(["prepare", "--dataset", f"folder:{images}", "--out", str(out)]) == 2
    assert f"is in use by process {owner.pid}" in capsys.readouterr().err
    assert not out.exists()


def test_evaluate_out_into_a_run_being_trained_is_refused(holding, lenet_run, tmp_path, capsys):
    run = tmp_path / "training"
    run.mkdir()
    owner = holding("run", run)  # what a train into that run directory holds
    assert main(["evaluate", "--model-path", str(lenet_run / "model.keras"),
                 "--out", str(run)]) == 2
    assert f"is in use by process {owner.pid}" in capsys.readouterr().err
    assert sorted(os.listdir(run)) == [".lock"]
