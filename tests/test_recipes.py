"""Every recipe is a script over the public API: ``python recipes/<x>.py --help`` parses its
arguments (with ``recipe_parser``, the config machinery) and exits without training, and no
recipe edits ``sys.path``."""

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
    edge = runpy.run_path(os.path.join(ROOT, "recipes", "super_resolution", "edge.py"),
                          run_name="recipe")["main"]
    assert edge(["--steps-per-epoch", "5", "--batch-size", "4", "--patch-size", "8",
                 "--no-export", "--scale", "2", "--seed", "1", "--paper"]) == 0
    config, run_dir, kw = seen[1]
    assert config == TrainConfig("espcn_paper_x2", dataset="photos", epochs=10,
                                 steps_per_epoch=5, batch_size=4, learning_rate=3e-3, seed=1,
                                 schedule="cosine", jit_compile="off")
    assert run_dir == "runs/espcn_x2" and kw["patch_size"] == 8
    assert kw["task_kwargs"] == {"pixel_loss": "l1"} and not kw["export"]
    # train_srresnet's settings as they were before it moved onto sr_recipe_parser
    srresnet = runpy.run_path(os.path.join(ROOT, "recipes", "super_resolution",
                                           "train_srresnet.py"), run_name="recipe")["main"]
    srresnet(["--no-anchor", "--batch-norm", "--overwrite"])
    config, run_dir, kw = seen[2]
    assert config == TrainConfig("srresnet_x4", dataset="photos", epochs=10, steps_per_epoch=40,
                                 batch_size=8, learning_rate=1e-3, schedule="cosine",
                                 jit_compile="off", model_kwargs={
                                     "num_blocks": 4, "anchor_skip": False, "batch_norm": True})
    assert run_dir == "runs/srresnet_x4" and kw["patch_size"] == 24 and kw["export"]
    assert kw["task_kwargs"] == {"pixel_loss": "mse"} and kw["overwrite"]


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
    # positional arguments, repeatable and typed flags, no --overwrite where nothing is replaced
    p = recipe_parser("d", None, arguments={"model_path": "m"}, overwrite=False, flags={
        "model_arg": {"default": [], "metavar": "K=V", "type": lambda t: tuple(t.split("="))},
        "sigma": {"default": None, "type": float, "help": "s"},
        "model": {"required": True, "help": "n"}})
    a = p.parse_args(["m.keras", "--model", "x", "--model-arg", "a=1", "--model-arg", "b=2"])
    assert (a.model_path, a.model, a.model_arg, a.sigma) == (
        "m.keras", "x", [("a", "1"), ("b", "2")], None)
    assert p.parse_args(["m", "--model", "x", "--sigma", "2"]).sigma == 2.0
    assert p.parse_args(["m", "--model", "x"]).model_arg == []  # the default is not shared
    for bad in (["--model", "x"], ["m"], ["m", "--model", "x", "--overwrite"]):
        with pytest.raises(SystemExit):
            p.parse_args(bad)
    with pytest.raises(ValueError, match="unknown option 'nargs'"):
        recipe_parser("d", None, flags={"n": {"default": 1, "nargs": 2}})
    with pytest.raises(ValueError, match="starts empty"):
        recipe_parser("d", None, flags={"n": {"default": ["a"]}})


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


def test_recipes_parse_with_recipe_parser_and_train_through_the_driver():
    """Every script under recipes/ parses its command line with ``recipe_parser`` (the config
    machinery) and trains through the package's driver: none constructs an
    ``argparse.ArgumentParser``, or compiles / fits a model itself (``compile``, ``fit``,
    ``train_on_batch``; ``re.compile`` is not a model's)."""
    import ast

    parsers, loops = [], []
    for path in glob.glob(os.path.join(ROOT, "recipes", "**", "*.py"), recursive=True):
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            func = getattr(node, "func", None) if isinstance(node, ast.Call) else None
            name = getattr(func, "attr", None) or getattr(func, "id", None)
            where = f"{os.path.relpath(path, ROOT)}:{getattr(node, 'lineno', '?')}"
            if name == "ArgumentParser":
                parsers.append(where)
            owner = getattr(getattr(func, "value", None), "id", None)
            if isinstance(func, ast.Attribute) and (
                    func.attr in ("fit", "train_on_batch")
                    or (func.attr == "compile" and owner != "re")):
                loops.append(f"{where} .{func.attr}()")
    assert not parsers, f"build the parser with kerascv_apps.config.recipe_parser: {parsers}"
    assert not loops, f"train through kerascv_apps.experiment.train_model: {loops}"


class _Stop(Exception):
    """Raised by a fake run function: the recipe got as far as starting its run."""


def _first_run(monkeypatch, path, argv, module, name):
    """The keyword arguments of the first call of ``module.name`` (a run function the recipe
    at ``path`` calls, replaced by a fake that stops the recipe there)."""
    seen = []

    def fake(*args, **kwargs):
        seen.append((args, kwargs))
        raise _Stop

    monkeypatch.setattr(module, name, fake)
    main = runpy.run_path(path, run_name="recipe")["main"]
    main.__globals__[name] = fake  # a recipe that imported the name at its top
    with pytest.raises(_Stop):
        main(argv)
    return seen[0]


def _trained_config(kwargs):
    """The TrainConfig a ``train_model(**config.train_kwargs(), ...)`` call was given."""
    from kerascv_apps.config import TrainConfig

    keys = {k: v for k, v in kwargs.items() if k not in (
        "run_dir", "evaluate", "verbose", "overwrite", "splits", "callbacks")}
    return TrainConfig(keys.pop("model_name"), **keys)


def test_converted_recipes_keep_their_runs(monkeypatch, tmp_path):
    """The restoration, generation, classifier and quickstart recipes build, from their
    defaults, the run they started before they moved onto recipe_parser (values copied from
    their former train_model / run_* calls), through the driver's functions; so do the phone
    detector, sliding-window and small-detector recipes (values of their former own fit)."""
    from kerascv_apps import end_to_end, experiment
    from kerascv_apps.config import TrainConfig
    from kerascv_apps.data.sources import base as sources

    recipe = lambda *parts: os.path.join(ROOT, "recipes", *parts)  # noqa: E731
    restoration = dict(dataset="restore", steps_per_epoch=100, batch_size=16,
                       learning_rate=1e-3, schedule="cosine", augment="none",
                       jit_compile="off", precision="float32")
    args, kw = _first_run(monkeypatch, recipe("restoration", "denoise.py"),
                          ["--model-arg", "filters=48", "--sigma", "15"], end_to_end,
                          "run_restoration")
    # the measured configuration: 35 epochs, dae filters=48 num_layers=8 (a flag overrides)
    assert args[0] == TrainConfig("dae", epochs=35, **restoration,
                                  model_kwargs={"filters": 48, "num_layers": 8},
                                  dataset_kwargs={"degradation": "gaussian", "sigma": 15.0})
    assert args[1] == "runs/denoise" and kw == {"patch_size": 40, "export": False,
                                                "overwrite": False}
    monkeypatch.setattr(sources, "load_dataset", lambda *a, **k: "splits")
    args, kw = _first_run(monkeypatch, recipe("restoration", "low_light.py"),
                          ["--model", "dae", "--epochs", "3", "--export"], end_to_end,
                          "run_restoration")
    # each model's measured budget and builder arguments unless flags say otherwise
    assert args[0] == TrainConfig("dae", epochs=3, **restoration,
                                  model_kwargs={"filters": 48, "num_layers": 8},
                                  dataset_kwargs={"degradation": "low_light"})
    assert kw == {"patch_size": 40, "splits": "splits", "model": None, "export": True,
                  "overwrite": False}

    digits = dict(dataset="digits", batch_size=64, augment="none", precision="float32",
                  schedule="constant")
    _, kw = _first_run(monkeypatch, recipe("generation", "vae_digits.py"),
                       ["--classifier", "c.keras", "--out", str(tmp_path)], experiment,
                       "train_model")
    assert _trained_config(kw) == TrainConfig(
        "vae", epochs=300, learning_rate=1e-3, **digits, task_kwargs={"classifier": "c.keras"},
        model_kwargs={"latent_dim": 2, "kl_warmup_steps": 1000})
    _, kw = _first_run(monkeypatch, recipe("generation", "dcgan_digits.py"),
                       ["--classifier", "c.keras", "--out", str(tmp_path)], experiment,
                       "train_model")
    assert _trained_config(kw) == TrainConfig(
        "dcgan", epochs=100, learning_rate=2e-4, **digits,
        model_kwargs={"latent_dim": 100, "base_filters": 32},
        task_kwargs={"classifier": "c.keras", "generator_loss": "non_saturating",
                     "discriminator_kwargs": {"base_filters": 32}})
    _, kw = _first_run(monkeypatch, recipe("generation", "dcgan_digits.py"),
                       ["--out", str(tmp_path), "--classifier-epochs", "2"], experiment,
                       "train_model")  # no --classifier: LeNet-5 first
    assert _trained_config(kw) == TrainConfig("lenet5", dataset="digits", epochs=2,
                                              augment="none", precision="float32")
    _, kw = _first_run(monkeypatch, recipe("generation", "anomaly_digits.py"),
                       ["--holdout", "3", "--out", str(tmp_path)], experiment, "train_model")
    assert _trained_config(kw) == TrainConfig(
        "autoencoder", epochs=60, **digits, model_kwargs={"latent_dim": 16},
        dataset_kwargs={"holdout_classes": [3]})
    assert kw["run_dir"] == os.path.join(str(tmp_path), "holdout_3") and kw["evaluate"]

    import kerascv_apps.data

    monkeypatch.setattr(kerascv_apps.data, "load_dataset", lambda *a, **k: "splits")
    _, kw = _first_run(monkeypatch, recipe("train_classifier.py"),
                       ["--model", "vit_tiny", "--model-arg", "depth=2", "--epochs", "1"],
                       experiment, "train_model")
    assert _trained_config(kw) == TrainConfig(
        "vit_tiny", dataset="digits", epochs=1, optimizer="adamw", learning_rate=1e-3,
        weight_decay=0.05, warmup_epochs=1, model_kwargs={"patch_size": 4, "depth": 2})
    assert kw["run_dir"] == "runs/vit_tiny-digits" and kw["splits"] == "splits"

    args, kw = _first_run(monkeypatch, recipe("quickstart.py"), ["--run-dir", "q"],
                          end_to_end, "run_quickstart")
    assert args == ("q",) and kw == {"config": end_to_end.QUICKSTART, "max_int8_drop": 0.01}

    # the detection recipes that had their own fit: the same settings, now TrainConfigs
    _, kw = _first_run(monkeypatch, recipe("detection", "train_phone_detector.py"),
                       ["--out", str(tmp_path / "phone")], experiment, "train_model")
    assert _trained_config(kw) == TrainConfig(
        "ssd_mobilenet_v2_tiny", dataset="shapes_detection", epochs=40, batch_size=16,
        learning_rate=3e-3, clipnorm=10.0, optimizer="adam", schedule="cosine", augment="tf",
        task_kwargs={"box_augment": "flip"}, precision="float32", seed=0,
        dataset_kwargs={"image_size": 128, "num_train": 600, "num_test": 200, "seed": 0},
        model_kwargs={"bn_momentum": 0.9})
    assert kw["run_dir"] == str(tmp_path / "phone") and kw["evaluate"]
    _, kw = _first_run(monkeypatch, recipe("detection", "sliding_window.py"), [], experiment,
                       "train_model")
    assert _trained_config(kw) == TrainConfig(
        "resnet18", dataset="crops:shapes_detection", epochs=8, batch_size=64,
        learning_rate=1e-3, optimizer="adam", schedule="constant", augment="none",
        precision="float32", seed=0, dataset_kwargs={
            "crop": 32, "windows": "20,28,40,56", "source_kwargs": {
                "image_size": 128, "num_train": 600, "num_val": 8, "num_test": 200}},
        model_kwargs={"stackwise_num_filters": [16, 32, 64, 128], "stem_filters": 16})
    assert kw["run_dir"] == "runs/detection/sliding_window" and kw["evaluate"]
    # small_detectors: each model's DEFAULTS as its own loop ran them (Adam, cosine decay over
    # every step, float32, seed 0; faster_rcnn_small's flips only are box_augment=flip)
    shapes = dict(dataset="shapes_detection", batch_size=16, learning_rate=1e-3,
                  optimizer="adam", schedule="cosine", augment="tf", precision="float32",
                  seed=0)
    sizes = dict(image_size=128, num_val=8, num_test=200)
    _, kw = _first_run(monkeypatch, recipe("detection", "small_detectors.py"), [], experiment,
                       "train_model")
    assert _trained_config(kw) == TrainConfig(
        "faster_rcnn_small", epochs=30, **shapes, dataset_kwargs=dict(num_train=600, **sizes),
        task_kwargs={"score_threshold": 0.05, "box_augment": "flip"})
    assert kw["run_dir"] == os.path.join("runs", "detection", "faster_rcnn_small")
    assert kw["evaluate"] and kw["callbacks"]
    _, kw = _first_run(monkeypatch, recipe("detection", "small_detectors.py"),
                       ["--model", "yolo_v1_small"], experiment, "train_model")
    assert _trained_config(kw) == TrainConfig(
        "yolo_v1_small", epochs=80, **shapes, dataset_kwargs=dict(num_train=2400, **sizes),
        task_kwargs={"score_threshold": 0.001, "box_augment": "full"})
    _, kw = _first_run(monkeypatch, recipe("detection", "small_detectors.py"), [
        "--model", "yolo_v1_small", "--epochs", "30", "--augment", "flip", "--lr", "5e-4",
        "--model-arg", "width=0.5", "--num-train", "100", "--run-dir", "r"], experiment,
        "train_model")  # flags over the model's defaults
    assert _trained_config(kw) == TrainConfig(
        "yolo_v1_small", epochs=30, **dict(shapes, learning_rate=5e-4),
        dataset_kwargs=dict(num_train=100, **sizes), model_kwargs={"width": 0.5},
        task_kwargs={"score_threshold": 0.001, "box_augment": "flip"})
    assert kw["run_dir"] == "r"
