"""``--precision auto`` on a CPU is measured per CPU model, model and shape (and cached), not
assumed; short runs skip the measurement; run.json says what was chosen and why."""

import json

import keras
import pytest

from kerascv_apps.training import precision_choice as pc


def test_pick_keeps_float32_unless_clearly_faster():
    assert pc.pick({"float32": 10.0, "mixed_bfloat16": 10.4}) == "float32"  # within noise
    assert pc.pick({"float32": 10.0, "mixed_bfloat16": 12.2}) == "mixed_bfloat16"
    assert pc.pick({"float32": 10.0, "mixed_bfloat16": 7.4}) == "float32"


def _tiny():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)
    return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(x)))


def test_choice_follows_the_measurement_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASCV_APPS_CACHE", str(tmp_path))
    calls = []

    def fake_rate(build, shape, batch, precision, **_):
        calls.append(precision)
        return {"float32": 10.0, "mixed_bfloat16": 15.0}[precision]

    monkeypatch.setattr(pc, "training_rate", fake_rate)
    first = pc.choose_cpu_precision("a", _tiny, (8, 8, 3), 4, 1000, progress=lambda *_: None)
    assert first["precision"] == "mixed_bfloat16" and calls == list(pc.CANDIDATES)
    again = pc.choose_cpu_precision("a", _tiny, (8, 8, 3), 4, 1000, progress=lambda *_: None)
    assert again["precision"] == "mixed_bfloat16" and "earlier" in again["reason"]
    assert len(calls) == 2  # from the cache
    other = pc.choose_cpu_precision("b", _tiny, (8, 8, 3), 4, 1000, progress=lambda *_: None)
    assert len(calls) == 4 and other["precision"] == "mixed_bfloat16"  # per model
    table = json.loads((tmp_path / "precision.json").read_text())
    assert len(table) == 2
    short = pc.choose_cpu_precision("c", _tiny, (8, 8, 3), 4, 10, progress=lambda *_: None)
    assert short["precision"] == "float32" and "not worth" in short["reason"] and len(calls) == 4


def test_a_real_measurement_times_both_precisions(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASCV_APPS_CACHE", str(tmp_path))
    choice = pc.choose_cpu_precision("tiny", _tiny, (8, 8, 3), 4, 1000, progress=lambda *_: None)
    rates = choice["images_per_s"]
    assert set(rates) == set(pc.CANDIDATES) and all(r > 0 for r in rates.values())
    assert choice["precision"] == pc.pick(rates)
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored


def test_train_records_the_choice_in_run_json(tmp_path, monkeypatch):
    from kerascv_apps.experiment import train_model

    monkeypatch.setenv("KERASCV_APPS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(pc, "MIN_RUN_STEPS", 1)
    monkeypatch.setattr(pc, "training_rate",
                        lambda b, s, n, p, **_: {"float32": 5.0, "mixed_bfloat16": 50.0}[p])
    run = train_model("lenet5", "digits", str(tmp_path / "run"), epochs=1, steps_per_epoch=2,
                      batch_size=8, verbose=0)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    policy = info["device_policy"]
    assert policy["precision"] == "mixed_bfloat16"
    assert policy["precision_choice"]["images_per_s"] == {"float32": 5.0, "mixed_bfloat16": 50.0}
    assert run.model.dtype_policy.name == "mixed_bfloat16"


def test_an_explicit_precision_is_not_measured(tmp_path, monkeypatch):
    from kerascv_apps.experiment import train_model

    monkeypatch.setattr(pc, "MIN_RUN_STEPS", 1)
    monkeypatch.setattr(pc, "training_rate", lambda *a, **k: pytest.fail("measured"))
    train_model("lenet5", "digits", str(tmp_path / "run"), epochs=1, steps_per_epoch=1,
                batch_size=8, verbose=0, precision="float32")
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["device_policy"]["precision_choice"] is None
