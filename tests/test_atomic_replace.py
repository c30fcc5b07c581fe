"""Replacing an export or a prepared dataset is atomic from a reader's view: a kill at any
step of ``atomic_dir`` (injected with the ``KERASCV_APPS_KILL_AT`` test hook, a real SIGKILL)
leaves the old or the new complete tree, or -- without an atomic exchange, between its two
renames -- a backup that the next writer or ``clean`` puts back."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import kerascv_apps.io as kio
from kerascv_apps.cli import main

# a writer process that imports only kerascv_apps/io.py (fast) and replaces DEST
WRITER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("kio", {io!r})
kio = importlib.util.module_from_spec(spec); spec.loader.exec_module(kio)
with kio.atomic_dir(sys.argv[1], overwrite=True) as stage:
    for name in ("a", "b", "c"):
        with open(stage + "/" + name, "w") as f:
            f.write("new " + name)
"""


def _tree(path):
    if not os.path.isdir(path):
        return None
    return {n: open(os.path.join(path, n)).read() for n in sorted(os.listdir(path))}


OLD = {"a": "old a", "b": "old b"}
NEW = {"a": "new a", "b": "new b", "c": "new c"}


def _old_tree(dest):
    os.makedirs(dest)
    for name, text in OLD.items():
        with open(os.path.join(dest, name), "w") as f:
            f.write(text)


@pytest.mark.parametrize("exchange, step, seen", [
    (True, "dir.staged", OLD), (True, "dir.exchanged", NEW), (True, None, NEW),
    (False, "dir.staged", OLD), (False, "dir.moved_aside", None), (False, "dir.published", NEW),
    (False, None, NEW)])
def test_a_kill_at_every_step_leaves_a_complete_tree(tmp_path, exchange, step, seen):
    dest = str(tmp_path / "out")
    _old_tree(dest)
    env = dict(os.environ)
    env.pop("KERASCV_APPS_KILL_AT", None)
    if step:
        env["KERASCV_APPS_KILL_AT"] = step
    if not exchange:
        env["KERASCV_APPS_NO_EXCHANGE"] = "1"
    proc = subprocess.run([sys.executable, "-c", WRITER.format(io=kio.__file__), dest], env=env)
    assert proc.returncode == (-9 if step else 0)
    assert _tree(dest) == seen  # what a reader sees right after the kill
    # the next look (clean, or the next writer of this destination) completes or rolls back
    kio.apply_leftovers(kio.find_leftovers([str(tmp_path)], temp_dir=False))
    assert _tree(dest) == (OLD if seen is None else seen)
    assert os.listdir(tmp_path) == ["out"]  # no staging or backup left


def test_an_orphaned_backup_is_restored_by_the_next_writer(tmp_path):
    dest = str(tmp_path / "out")
    _old_tree(dest)
    env = dict(os.environ, KERASCV_APPS_KILL_AT="dir.moved_aside", KERASCV_APPS_NO_EXCHANGE="1")
    subprocess.run([sys.executable, "-c", WRITER.format(io=kio.__file__), dest], env=env)
    assert not os.path.exists(dest)
    with pytest.raises(FileExistsError):  # the old tree is back: a plain write is refused
        with kio.atomic_dir(dest):
            pass
    assert _tree(dest) == OLD


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("atomic") / "images"
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        os.makedirs(root / c)
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(
                root / c / f"{i}.png")
    return root


def test_prepare_overwrite_killed_between_renames_is_rolled_back(images, tmp_path, capsys):
    out = tmp_path / "records"
    assert main(["prepare", "--dataset", f"folder:{images}", "--out", str(out)]) == 0
    before = {n: (out / n).read_bytes() for n in os.listdir(out)}
    env = dict(os.environ, KERASCV_APPS_KILL_AT="dir.moved_aside", KERASCV_APPS_NO_EXCHANGE="1",
               TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-m", "kerascv_apps.cli", "prepare", "--dataset",
                           f"folder:{images}", "--out", str(out), "--overwrite",
                           "--examples-per-shard", "3"], env=env, capture_output=True)
    assert proc.returncode == -9 and not out.exists()
    capsys.readouterr()
    assert main(["clean", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()  # one line per path, in listing order
    assert any(line.startswith(f"restore\t{tmp_path}/.records.kcv-old-") for line in lines), lines
    assert {n: (out / n).read_bytes() for n in os.listdir(out)} == before


def test_clean_restores_an_earlier_versions_orphaned_backup(tmp_path, capsys):
    """A ``.<name>.old-<pid>-*`` of an export killed between its renames (before the marker)
    is the user's only copy: ``clean`` puts it back instead of deleting it."""
    from tests.conftest import dead_pid

    backup = tmp_path / f".exports.old-{dead_pid()}-k2j4"
    backup.mkdir()
    (backup / "report.json").write_text("{}")
    assert main(["clean", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith(f"restore\t{backup}\t") for line in lines), lines
    assert os.listdir(tmp_path) == ["exports"]
    assert (tmp_path / "exports" / "report.json").read_text() == "{}"
