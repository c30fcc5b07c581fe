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


def test_recipe_own_flags_are_declared_not_parsed_by_hand():
    from kerascv_apps.config import recipe_parser

    own = {"num_train": (5, "n"), "export": (True, "e"), "border": (False, "b"),
           "variant": ("same", "v", ("same", "paper")), "vgg": (None, "w"), "rate": (0.5, "r")}
    p = recipe_parser("d", "r", ("epochs",), {"epochs": 3}, own)
    a = p.parse_args([])
    assert (a.run_dir, a.epochs, a.num_train, a.export, a.border, a.variant, a.vgg, a.rate,
            a.overwrite) == ("r", 3, 5, True, False, "same", None, 0.5, False)
    a = p.parse_args(["--no-export", "--border", "--variant", "paper", "--num-train", "7",
                      "--vgg", "w.h5", "--rate", "2"])
    assert (a.export, a.border, a.variant, a.num_train, a.vgg, a.rate) == (
        False, True, "paper", 7, "w.h5", 2.0)
    for bad in (["--export"], ["--no-border"], ["--variant", "x"], ["--num-train", "1.5"]):
        with pytest.raises(SystemExit):  # a switch only flips its default; types and choices
            p.parse_args(bad)
    assert not hasattr(recipe_parser("d", None).parse_args([]), "run_dir")
    with pytest.raises(ValueError, match="recipe flag 'sizes'"):
        recipe_parser("d", "r", flags={"sizes": ((1, 2), "s")})


def _main_with(path, name, fake):
    """``main`` of the recipe at ``path`` with its ``name`` (the run function) replaced."""
    main = runpy.run_path(path, run_name="recipe")["main"]
    main.__globals__[name] = fake
    return main


def test_demo_recipes_keep_their_configs(monkeypatch, capsys):
    """segmentation_demo and sr_demo (what `make demo` runs) build the TrainConfig they always
    trained: the values below are their settings before they moved onto recipe_parser."""
    from kerascv_apps.config import TrainConfig

    seen = []

    def fake(config, run_dir, **kw):
        seen.append((config, run_dir, kw))
        return {"test": {"miou": 0, "boundary_f1": 0},
                "export": {"int8": {"miou": 0, "drop": 0}, "keras_miou": 0}}

    _main_with(os.path.join(ROOT, "recipes", "segmentation_demo.py"), "run", fake)(
        ["--run-dir", "d", "--epochs", "2", "--image-size", "32"])
    config, run_dir, kw = seen[-1]
    assert config == TrainConfig(
        "unet_same", dataset="shapes", epochs=2, batch_size=8, learning_rate=3e-3,
        augment="none", schedule="cosine", model_kwargs={"base_filters": 16, "depth": 3},
        dataset_kwargs={"num_train": 640, "num_val": 50, "num_test": 100, "image_size": 32})
    assert run_dir == "d" and kw["export"] and kw["export_formats"] == ("int8",)
    main = _main_with(os.path.join(ROOT, "recipes", "sr_demo.py"), "run_super_resolution", fake)
    main.__globals__["sr_summary_line"] = lambda s: ""
    assert main(["--run-dir", "s"]) == 0
    config, run_dir, kw = seen[-1]
    assert config == TrainConfig(
        "espcn_x2", dataset="photos", epochs=5, steps_per_epoch=80, batch_size=16,
        learning_rate=3e-3, schedule="cosine", jit_compile="off",
        model_kwargs={"stackwise_num_filters": (64, 32), "activation": "tanh"})
    assert kw["patch_size"] == 32 and kw["export_formats"] == ("float32", "int8")
    capsys.readouterr()


def test_unet_shapes_variant_flags(monkeypatch, capsys):
    from kerascv_apps.config import TrainConfig

    monkeypatch.syspath_prepend(os.path.join(ROOT, "recipes", "segmentation"))
    import shapes_recipe

    seen = []
    monkeypatch.setattr(shapes_recipe, "run", lambda config, run_dir, **kw: seen.append(
        (config, run_dir, kw)))
    monkeypatch.setattr(shapes_recipe, "summary_line", lambda s: "")
    path = os.path.join(ROOT, "recipes", "segmentation", "unet_shapes.py")
    for argv in ([], ["--variant", "paper", "--border-weights", "--base-filters", "8",
                      "--no-export", "--epochs", "1"]):
        monkeypatch.setattr(sys, "argv", [path] + argv)
        with pytest.raises(SystemExit):
            runpy.run_path(path, run_name="__main__")
    base = dict(dataset="shapes", batch_size=8, learning_rate=3e-3, augment="none",
                schedule="cosine", dataset_kwargs={"num_train": 800})
    assert seen[0][0] == TrainConfig("unet_same", epochs=12, **base,
                                     model_kwargs={"base_filters": 16, "depth": 3})
    assert seen[0][2] == {"loss": "ce", "export": True, "overwrite": False}
    assert seen[1][0] == TrainConfig("unet", epochs=1, **base, model_kwargs={
        "base_filters": 8, "depth": 3, "pad_input": True, "batch_norm": True})
    assert seen[1][2] == {"loss": "ce", "export": False, "overwrite": False,
                          "border_weights": True}
    capsys.readouterr()
