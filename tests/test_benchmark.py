import json

import pytest

from kerascv_apps.device_benchmark import format_table, run_benchmark, tflite_latency_ms
from kerascv_apps.cli import main


@pytest.fixture(scope="module")
def result():
    """LeNet-5 with LeNet-5 standing in for its keras.applications twin: the mechanics of every
    part at a fraction of MobileNetV2's cost (the real pairs are measured by the command)."""
    from kerascv_apps import device_benchmark as benchmark

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(benchmark.TWINS, "lenet5", "LeNet5")
        patch.setattr(benchmark, "_twin", benchmark._ours)
        return run_benchmark(models=("lenet5",), image_size=32, batch=4, steps=2, warmup=1,
                             images=20, tflite=False, log=lambda message: None)


def test_benchmark_measures_every_part(result):
    train = {r["impl"]: r for r in result["rows"] if r["kind"] == "train"}
    assert set(train) == {"ours", "twin"}
    assert all(r["images_per_s"] > 0 for r in train.values())
    assert train["ours"]["ratio_to_twin"] == pytest.approx(
        train["ours"]["images_per_s"] / train["twin"]["images_per_s"])
    pipes = [r for r in result["rows"] if r["kind"] == "pipeline"]
    assert [(r["name"], r["augment"]) for r in pipes] == [
        ("digits in memory", "tf"), ("streamed JPEG folder", "tf"),
        ("streamed JPEG folder", "albumentations"), ("TFRecords (prepare)", "tf")]
    for r in pipes:
        key = f"{r['name']} ({r['augment']})"
        assert result["pipeline_to_model"][key] == pytest.approx(
            r["images_per_s"] / train["ours"]["images_per_s"])
    # this test machine has no GPU: auto means no XLA and float32
    assert result["device"] == "cpu" and result["auto"] == {"xla": "off", "precision": "float32"}
    table = format_table(result)
    assert "train lenet5 ours xla=off float32" in table
    assert "--xla auto -> off, --precision auto -> float32" in table
    json.dumps(result)  # JSON-ready


def test_tflite_latency():
    assert 0 < tflite_latency_ms("lenet5", 32, runs=3, warmup=1) < 1000


def test_benchmark_cli_refuses_bad_settings(capsys):
    assert main(["benchmark", "--xla", "maybe"]) == 2
    assert "--xla 'maybe': choose from off, on" in capsys.readouterr().err
    assert main(["benchmark", "--models", "no_such_model"]) == 2
