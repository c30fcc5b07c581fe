"""Every recipe is a script over the public API: ``python recipes/<x>.py --help`` parses its
arguments and exits without training, and no recipe edits ``sys.path``."""

import glob
import os
import runpy
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = sorted(p for p in glob.glob(os.path.join(ROOT, "recipes", "**", "*.py"), recursive=True)
                 if os.path.basename(p) != "shapes_recipe.py")


def test_recipes_do_not_edit_sys_path():
    for path in glob.glob(os.path.join(ROOT, "recipes", "**", "*.py"), recursive=True):
        with open(path) as f:
            assert "sys.path" not in f.read(), path


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: os.path.relpath(p, ROOT))
def test_recipe_help_exits_without_running(path, monkeypatch, capsys):
    # what `python path --help` does: the script's folder first on sys.path, argv, __main__
    monkeypatch.syspath_prepend(os.path.dirname(path))
    monkeypatch.setattr(sys, "argv", [path, "--help"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(path, run_name="__main__")
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage:") and "--help" in out


def test_demo_help_as_a_script():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "recipes", "demo.py"), "--help"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout
