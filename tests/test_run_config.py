"""Typed run configs: ``run.json`` holds the run's TrainConfig, ``train --config`` trains it
again (same first-epoch loss), user files (JSON/YAML) work the same, unknown keys exit 2."""

import csv
import json
import re

import pytest

from kerascv_apps.cli import build_parser, main, train_config
from kerascv_apps.config import ConfigError, TrainConfig, load_config


def _args(argv):
    args = build_parser().parse_args(argv)
    args.argv = argv
    return args


def _first_loss(run_dir):
    with open(run_dir / "history.csv") as f:
        return float(next(csv.DictReader(f))["loss"])


def test_train_config_reproduces_a_run(tmp_path, capsys):
    first, again = tmp_path / "first", tmp_path / "again"
    assert main(["train", "--model", "lenet5", "--run-dir", str(first), "--epochs", "1",
                 "--batch-size", "32", "--steps-per-epoch", "3", "--lr", "3e-3",
                 "--seed", "7", "--model-arg", "dropout=0.1"]) == 0
    recorded = json.loads((first / "run.json").read_text())["config"]
    assert recorded["seed"] == 7 and recorded["model_kwargs"] == {"dropout": 0.1}
    assert recorded["dataset"] == "digits"  # the task's default, resolved and recorded
    assert main(["train", "--config", str(first / "run.json"), "--run-dir", str(again)]) == 0
    assert json.loads((again / "run.json").read_text())["config"] == recorded
    assert _first_loss(again) == _first_loss(first)  # exactly: same seed, same config
    capsys.readouterr()


def test_flags_beside_a_config_override_it_and_files_are_typed(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("model: unet\nepochs: 4\nmodel_kwargs: {dropout: 0.2}\n")
    config = train_config(_args(["train", "--config", str(path), "--run-dir", "r",
                                 "--epochs", "10", "--model-arg", "depth=3"]))
    # --epochs 10 equals the default and still wins over the file: given flags always do
    assert config == TrainConfig("unet", epochs=10, model_kwargs={"dropout": 0.2, "depth": 3})
    plain = train_config(_args(["train", "--model", "lenet5", "--run-dir", "r"]))
    assert plain == TrainConfig("lenet5")  # CLI defaults are the config's defaults
    clipped = train_config(_args(["train", "--model", "lenet5", "--run-dir", "r",
                                  "--clipnorm", "10"]))
    assert clipped == TrainConfig("lenet5", clipnorm=10.0)
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ConfigError, match="clipnorm must be a finite number > 0"):
            TrainConfig("lenet5", clipnorm=bad)
    path.write_text("model: unet\nepochs: '4'\n")
    with pytest.raises(ConfigError, match=r"mine.yaml: epochs must be int, got '4'"):
        load_config(str(path))


def test_unknown_key_exits_2_naming_key_and_file(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"model": "lenet5", "epoch": 3}))
    assert main(["train", "--config", str(path), "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert f"{path}: unknown key 'epoch'" in err and "known keys: model," in err
    assert not (tmp_path / "r").exists()
    assert main(["train", "--run-dir", str(tmp_path / "r")]) == 2
    assert "train needs --model" in capsys.readouterr().err


def test_train_model_names_every_argument_it_passes_on():
    """train_model hands _train_locked a typed TrainRequest (no locals()): every parameter of
    train_model is a field of it, passed by name."""
    import dataclasses
    import inspect
    import re

    from kerascv_apps import experiment

    source = inspect.getsource(experiment.train_model)
    assert "locals()" not in source
    block = source[source.index("request = TrainRequest("):source.index("strategy_name=")]
    params = set(inspect.signature(experiment.train_model).parameters)
    assert set(re.findall(r"(\w+)=", block)) == params | {"entry"}
    fields = {f.name for f in dataclasses.fields(experiment.TrainRequest)}
    assert fields == params | {"entry", "strategy_name"}


def count_train_calls(monkeypatch, run, model_name):
    """Counts, from here on, the registry lookups of ``model_name``, the looks at a run
    directory and the locks taken inside ``run``."""
    from kerascv_apps import io
    from kerascv_apps.registry import MODELS
    from kerascv_apps.training import trainer

    counts = {"lookups": 0, "looks": 0, "locks": 0}
    get, state, lock = MODELS.get, trainer.run_dir_state, io.directory_lock

    def counted_get(name):
        counts["lookups"] += name == model_name
        return get(name)

    def counted_state(run_dir):
        counts["looks"] += 1
        return state(run_dir)

    def counted_lock(lock_file, what):
        counts["locks"] += str(lock_file).startswith(str(run))
        return lock(lock_file, what)

    monkeypatch.setattr(MODELS, "get", counted_get)
    monkeypatch.setattr(trainer, "run_dir_state", counted_state)
    monkeypatch.setattr(io, "directory_lock", counted_lock)
    return counts


def test_one_train_looks_up_checks_and_locks_once(tmp_path, monkeypatch, capsys):
    """Following --model from the CLI: one registry lookup of the model, one look at the run
    directory, one lock (a second check or lock coming back fails this)."""
    run = tmp_path / "run"
    counts = count_train_calls(monkeypatch, run, "lenet5")
    assert main(["train", "--model", "lenet5", "--run-dir", str(run), "--epochs", "1",
                 "--batch-size", "32", "--steps-per-epoch", "2", "--precision", "float32"]) == 0
    assert counts == {"lookups": 1, "looks": 1, "locks": 1}
    assert (run / "model.keras").exists() and not (run / ".lock").exists()

    # ... on to the .tflite name: export with a config file, one lookup, one run.json read
    from kerascv_apps import runs

    reads, run_info = [], runs.run_info
    monkeypatch.setattr("kerascv_apps.cli.run_info", lambda *a: reads.append(a) or run_info(*a))
    counts["lookups"] = 0
    config = tmp_path / "export.yaml"
    config.write_text("formats: [float32]\nlimit: 16\nlatency_runs: 1\nrgb_input: false\n")
    out = tmp_path / "out"
    assert main(["export", "--config", str(config), "--model-path", str(run / "model.keras"),
                 "--out", str(out), "--no-progress", "--calibration-images", "8"]) == 0
    assert counts["lookups"] == 1 and len(reads) == 1
    assert (out / "tflite" / "lenet5_float32.tflite").exists()
    recorded = json.loads((out / "export_report.json").read_text())["config"]
    assert recorded["formats"] == ["float32"] and recorded["limit"] == 16
    assert recorded["num_calibration"] == 8  # a flag beside the file wins
    assert recorded["max_quality_drop"] == 0.01  # the config's default
    capsys.readouterr()


def test_one_sr_train_looks_up_once_and_builds_once(tmp_path, monkeypatch, capsys):
    """A super-resolution run without a scale in its model arguments: the data's scale is the
    one the registry entry declares (the run's one lookup), not measured on a second, probe
    build of the model looked up again."""
    from kerascv_apps.models.super_resolution import espcn

    run = tmp_path / "run"
    counts = count_train_calls(monkeypatch, run, "espcn_x3")
    counts["builds"] = 0
    build = espcn.ESPCN

    def counted_build(*args, **kwargs):
        counts["builds"] += 1
        return build(*args, **kwargs)

    monkeypatch.setattr(espcn, "ESPCN", counted_build)
    assert main(["train", "--model", "espcn_x3", "--run-dir", str(run), "--epochs", "1",
                 "--batch-size", "2", "--steps-per-epoch", "2", "--precision", "float32",
                 "--model-arg", "stackwise_num_filters=[8]", "--task-arg", "patch_size=8",
                 "--xla", "off"]) == 0
    assert counts == {"lookups": 1, "builds": 1, "looks": 1, "locks": 1}
    info = json.loads((run / "run.json").read_text())
    assert json.loads((run / "evaluation.json").read_text())["scale"] == 3  # x3 data loaded
    assert info["config"]["model"] == "espcn_x3"
    capsys.readouterr()


def test_export_config_files_are_typed_and_unknown_keys_exit_2(tmp_path, capsys):
    from kerascv_apps.config import EXPORT_FORMATS, ExportConfig, load_export_config
    from kerascv_apps.export.pipeline import FORMATS, export_config

    assert EXPORT_FORMATS == FORMATS  # the config's list is the exporter's
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"formats": ["int8"], "tflite_input_shape": [1, None, None, 3]}))
    assert load_export_config(str(path)) == ExportConfig(formats=("int8",),
                                                         tflite_input_shape=(1, None, None, 3))
    path.write_text(json.dumps({"formats": ["int8"], "max_drop": 0.1}))
    assert main(["export", "--config", str(path), "--model-path", str(tmp_path / "m.keras"),
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{path}: unknown key 'max_drop'" in err and "max_quality_drop" in err
    assert not (tmp_path / "o").exists()
    for bad, message in ((["int9"], "unknown ['int9']"), ("int8", "formats must be tuple")):
        with pytest.raises(ConfigError, match=re.escape(message)):
            ExportConfig.from_dict({"formats": bad}, "x.json")
    with pytest.raises(ConfigError, match="limit must be > 0"):
        export_config(limit=0)
    with pytest.raises(ConfigError, match="unknown key 'max_int8_drop'"):
        export_config(max_int8_drop=0.1)  # export_model's options are the config's keys
    assert export_config(ExportConfig(limit=3), formats=("float32",)) == ExportConfig(
        formats=("float32",), limit=3)
