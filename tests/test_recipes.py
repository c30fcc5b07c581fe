"""Every recipe is a script over the public API: ``python recipes/<x>.py --help`` parses its
arguments and exits without training, and no recipe edits ``sys.path``."""

import argparse
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


def test_recipe_flags_are_train_config_keys():
    import argparse

    from kerascv_apps.config import TrainConfig, add_config_arguments, config_from_args

    keys = ("epochs", "learning_rate", "augment", "optimizer")
    p = add_config_arguments(argparse.ArgumentParser(), keys, epochs=3, optimizer=None)
    config = config_from_args(p.parse_args(["--lr", "0.5"]), keys, "unet", batch_size=8)
    assert config == TrainConfig("unet", epochs=3, learning_rate=0.5, batch_size=8)
    assert p.parse_args(["--learning-rate", "0.2"]).learning_rate == 0.2
    with pytest.raises(SystemExit):  # the config's choices
        p.parse_args(["--augment", "cutmix"])
    with pytest.raises(ValueError, match="not a TrainConfig key"):
        add_config_arguments(argparse.ArgumentParser(), ("epoch",))


def test_segmentation_and_sr_recipes_build_their_config(monkeypatch, capsys):
    """Every flag the recipes had still parses, into the TrainConfig the run gets."""
    from kerascv_apps import end_to_end
    from kerascv_apps.config import TrainConfig

    monkeypatch.syspath_prepend(os.path.join(ROOT, "recipes", "segmentation"))
    import shapes_recipe

    seen = []
    monkeypatch.setattr(shapes_recipe, "run", lambda config, run_dir, **kw: seen.append(
        (config, run_dir, kw)))
    monkeypatch.setattr(shapes_recipe, "summary_line", lambda s: "")
    shapes_recipe.main("segnet", {"run_dir": "r0", "epochs": 12, "batch_size": 8,
                                  "model_kwargs": {"depth": 2}, "export": True}, "d",
                       ["--run-dir", "r", "--epochs", "2", "--learning-rate", "1e-3",
                        "--num-train", "10", "--augment", "tf", "--loss", "dice", "--seed", "3",
                        "--overwrite"])
    config, run_dir, kw = seen[0]
    assert config == TrainConfig("segnet", dataset="shapes", epochs=2, batch_size=8,
                                 learning_rate=1e-3, augment="tf", seed=3, schedule="cosine",
                                 model_kwargs={"depth": 2}, dataset_kwargs={"num_train": 10})
    assert run_dir == "r" and kw == {"loss": "dice", "export": True, "overwrite": True}

    monkeypatch.setattr(end_to_end, "run_super_resolution", lambda config, run_dir, **kw: seen.append(
        (config, run_dir, kw)))
    monkeypatch.setattr(end_to_end, "sr_summary_line", lambda s: "")
    p = argparse.ArgumentParser()
    end_to_end.add_sr_arguments(p, run_dir="sr", scale=2, epochs=10, steps_per_epoch=100,
                                batch_size=16, patch_size=32, learning_rate=3e-3, loss="l1")
    a = p.parse_args(["--steps-per-epoch", "5", "--batch-size", "4", "--patch-size", "8",
                      "--no-export", "--scale", "2", "--seed", "1"])
    end_to_end.run_sr_recipe("espcn_x2", a, {"activation": "tanh"})
    config, run_dir, kw = seen[1]
    assert config == TrainConfig("espcn_x2", dataset="photos", epochs=10, steps_per_epoch=5,
                                 batch_size=4, learning_rate=3e-3, seed=1, schedule="cosine",
                                 jit_compile="off", model_kwargs={"activation": "tanh"})
    assert kw["patch_size"] == 8 and kw["task_kwargs"] == {"pixel_loss": "l1"}
    assert not kw["export"]
