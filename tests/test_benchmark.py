import json

import pytest

from kerascv_apps.device_benchmark import format_table, run_benchmark, tflite_latency_ms
from kerascv_apps.cli import main


# Fake seconds per training step: ours constant, the stand-in twin varying (so a mean, a
# first or a last time in place of the median would show); warmup=1, steps=3.
OURS_STEP_S = [0.125] * 4
TWIN_STEP_S = [0.9, 0.5, 0.2, 1.1]  # warm-up 0.9, then 0.5, 0.2, 1.1: median 0.5, mean 0.6
TICK_S = 0.001  # what the fake clock advances per reading (a step of no work lasts one tick)
BATCH, STEPS, WARMUP = 4, 3, 1


@pytest.fixture(scope="module")
def result():
    """LeNet-5 against a different small model standing in for its keras.applications twin,
    timed by a fake clock that each training step advances by a known amount (the real pairs
    are measured by the command; the twin mapping itself by test_twin_is_keras_applications).
    The rates and ratios are then known before the benchmark runs."""
    import types

    import keras

    from kerascv_apps import device_benchmark as benchmark

    clock = {"now": 0.0}
    built = []

    def perf_counter():
        clock["now"] += TICK_S
        return clock["now"]

    def timed(build, costs, label):
        def builder(shape, classes):
            model = build(shape, classes)
            built.append((label, model.name, model.count_params()))
            step_costs = iter(costs)
            train_on_batch = model.train_on_batch

            def step(*args, **kwargs):
                clock["now"] += next(step_costs)
                return train_on_batch(*args, **kwargs)

            model.train_on_batch = step
            return model
        return builder

    def stand_in(shape, classes):
        return keras.Sequential([keras.Input(shape), keras.layers.Conv2D(2, 3, strides=4),
                                 keras.layers.GlobalAveragePooling2D(),
                                 keras.layers.Dense(classes, activation="softmax")],
                                name="stand_in_twin")

    ours = benchmark._ours
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(benchmark.TWINS, "lenet5", "LeNet5")
        patch.setattr(benchmark, "_ours", lambda name: timed(ours(name), OURS_STEP_S, "ours"))
        patch.setattr(benchmark, "_twin", lambda name: timed(stand_in, TWIN_STEP_S, "twin"))
        patch.setattr(benchmark, "time", types.SimpleNamespace(perf_counter=perf_counter))
        out = run_benchmark(models=("lenet5",), image_size=32, batch=BATCH, steps=STEPS,
                            warmup=WARMUP, images=20, tflite=False, log=lambda message: None)
    return out, built


def test_benchmark_measures_every_part(result):
    result, built = result
    # two different models were trained: ours (the registered LeNet-5) and the stand-in twin
    assert [(label, name) for label, name, _ in built] == [("ours", "lenet5"),
                                                           ("twin", "stand_in_twin")]
    assert built[0][2] != built[1][2]
    train = {r["impl"]: r for r in result["rows"] if r["kind"] == "train"}
    assert set(train) == {"ours", "twin"}
    # images/s = batch / median timed step; a step lasts its cost plus one clock tick
    ours_rate = BATCH / (OURS_STEP_S[0] + TICK_S)
    twin_rate = BATCH / (sorted(TWIN_STEP_S[WARMUP:WARMUP + STEPS])[STEPS // 2] + TICK_S)
    assert (ours_rate, twin_rate) == pytest.approx((4 / 0.126, 4 / 0.501))
    assert train["ours"]["images_per_s"] == pytest.approx(ours_rate)
    assert train["twin"]["images_per_s"] == pytest.approx(twin_rate)
    assert train["ours"]["ratio_to_twin"] == pytest.approx(0.501 / 0.126)  # ours ~4x faster
    pipes = [r for r in result["rows"] if r["kind"] == "pipeline"]
    assert [(r["name"], r["augment"]) for r in pipes] == [
        ("digits in memory", "tf"), ("streamed JPEG folder", "tf"),
        ("streamed JPEG folder", "albumentations"), ("TFRecords (prepare)", "tf")]
    for r in pipes:
        # a pipeline step advances the fake clock by one tick: batch / tick images/s,
        # against the slowest of our model's settings (here the only one)
        assert r["images_per_s"] == pytest.approx(BATCH / TICK_S)
        key = f"{r['name']} ({r['augment']})"
        assert result["pipeline_to_model"][key] == pytest.approx(0.126 / TICK_S)
    # this test machine has no GPU: auto means no XLA and float32
    assert result["device"] == "cpu" and result["auto"] == {"xla": "off", "precision": "float32"}
    table = format_table(result)
    assert "train lenet5 ours xla=off float32" in table
    assert "--xla auto -> off, --precision auto -> float32" in table
    json.dumps(result)  # JSON-ready


def test_twin_is_keras_applications():
    """The real twins: keras.applications' class of the published architecture, untrained
    (MobileNetV2's published 3,538,984 parameters with 1000 classes)."""
    from kerascv_apps import device_benchmark as benchmark

    model = benchmark._twin("mobilenet_v2")((32, 32, 3), 1000)
    assert type(model).__module__.startswith("keras")
    assert model.name == "mobilenetv2_1.00_32" and model.count_params() == 3_538_984


def test_tflite_latency():
    assert 0 < tflite_latency_ms("lenet5", 32, runs=3, warmup=1) < 1000


def test_benchmark_cli_refuses_bad_settings(capsys):
    assert main(["benchmark", "--xla", "maybe"]) == 2
    assert "--xla 'maybe': choose from off, on" in capsys.readouterr().err
    assert main(["benchmark", "--models", "no_such_model"]) == 2


def test_benchmark_shows_what_precision_auto_picks_per_model(monkeypatch):
    """With float32 and bf16 rows, ``auto`` is the training run's own rule applied to these
    rates: bf16 only where it is faster by more than the noise margin, per model."""
    from kerascv_apps import device_benchmark as benchmark

    rates = {("lenet5", "float32"): 100.0, ("lenet5", "mixed_bfloat16"): 60.0,
             ("mlp", "float32"): 100.0, ("mlp", "mixed_bfloat16"): 130.0}
    monkeypatch.setattr(benchmark, "_ours", lambda name: name)
    monkeypatch.setattr(benchmark, "training_rate",
                        lambda build, *a, precision, **k: rates[(build, precision)])
    out = run_benchmark(models=("lenet5", "mlp"), image_size=32, batch=4, steps=1,
                        precisions=("float32", "mixed_bfloat16"), twins=False, pipeline=False,
                        tflite=False, log=lambda message: None)
    assert out["auto"]["precision_per_model"] == {"lenet5": "float32", "mlp": "mixed_bfloat16"}
    assert ("--precision auto -> lenet5 float32, mlp mixed_bfloat16 (measured)"
            in format_table(out))


def test_benchmark_trains_a_detector_through_its_task(monkeypatch):
    """A detection model is benchmarked as its task trains it (random padded boxes, the
    head's loss); its TFLite row is timed; a file a task cannot make is a row with the reason."""
    import numpy as np

    from kerascv_apps import device_benchmark as benchmark
    from kerascv_apps.tasks import get_task

    losses = []
    rate = benchmark.training_rate

    def recording(*args, **kwargs):
        import keras

        fit = keras.Model.train_on_batch

        def train_on_batch(self, x, y, **kw):
            losses.append((type(self).__name__, y.shape, fit(self, x, y, **kw)["loss"]))
            return {"loss": losses[-1][2]}

        monkeypatch.setattr(keras.Model, "train_on_batch", train_on_batch)
        return rate(*args, **kwargs)

    monkeypatch.setattr(benchmark, "training_rate", recording)
    out = run_benchmark(models=("yolo_v1_small",), image_size=64, batch=2, steps=1, warmup=1,
                        twins=False, pipeline=False, log=lambda message: None)
    train = [r for r in out["rows"] if r["kind"] == "train"]
    assert len(train) == 1 and train[0]["images_per_s"] > 0
    assert [(name, shape) for name, shape, _ in losses] == [("DetectionTrainingModel",
                                                             (2, 32, 5))] * 2
    assert all(np.isfinite(loss) and loss > 0 for _, _, loss in losses)
    tflite = [r for r in out["rows"] if r["kind"] == "tflite"]
    # a grid detector's file decodes and suppresses in the graph: it is made and timed
    assert tflite[0]["latency_ms"] > 0 and "not_made" not in tflite[0]
    out["rows"].append({"kind": "tflite", "name": "x", "precision": "float32",
                        "not_made": "no anchors"})
    assert "tflite x float32: not made (no anchors)" in format_table(out)
    # the targets: 1-4 boxes inside the image per example, the rest padding
    y = get_task("detection", num_classes=3).benchmark_targets(None, 16, np.random.default_rng(1))
    objects = y[..., 4] >= 0
    assert objects.sum(1).min() >= 1 and objects.sum(1).max() <= 4
    boxes = y[objects]
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
    assert boxes[:, :4].min() >= 0 and boxes[:, :4].max() <= 1 and boxes[:, 4].max() <= 2
