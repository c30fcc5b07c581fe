"""Restorers through the export path the Task hooks drive (the same as super-resolution's):
SavedModel (uint8 image output), TFLite float32 and int8 with uint8 I/O and a dynamic input
size, int8 gated by the PSNR drop against the Keras model, and the contract (scale 1)."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerascv_apps import build_model
from kerascv_apps.data.sources.base import load_dataset
from kerascv_apps.export.pipeline import ExportQualityError, export_model
from kerascv_apps.export.tflite import TFLiteRunner
from kerascv_apps.tasks.base import get_task

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    y, x = np.mgrid[0:40, 0:36]
    for i in range(4):
        img = 120 + 80 * np.sin(x / (5.0 + i))[..., None] * np.cos(y / 6.0)[..., None]
        Image.fromarray(np.clip(img * np.ones(3), 0, 255).astype(np.uint8)).save(
            root / f"p{i}.png")
    splits = load_dataset(f"restore:sr-folder:{root}", degradation="gaussian", sigma=25,
                          source_kwargs={"scale": 2})
    return splits, get_task("restoration", splits=splits)


def test_dae_exports_savedmodel_and_dynamic_uint8_tflite_within_the_gate(data, tmp_path):
    splits, task = data
    model = build_model("dae", filters=4, num_layers=4)
    out = tmp_path / "export"
    report = export_model(model, task, splits, str(out), "dae",
                          formats=("savedmodel", "float32", "int8"), max_quality_drop=0.3,
                          tflite_input_shape=(1, None, None, 3), latency_runs=2,
                          progress=lambda *_: None)
    assert report["metric"] == "psnr" and report["passed"]
    int8 = report["formats"]["int8"]
    assert int8["input_dtype"] == "uint8" and int8["quality_drop"] <= 0.3
    assert abs(report["formats"]["float32"]["quality_drop"]) < 0.01
    contract = json.load(open(out / "tflite" / "dae_int8.json"))
    assert contract["task"] == "restoration" and contract["scale"] == 1
    runner = TFLiteRunner(open(out / "tflite" / "dae_int8.tflite", "rb").read())
    for h, w in ((19, 23), (32, 32)):  # dynamic size: output size = input size
        x = RNG.uniform(0, 255, (1, h, w, 3)).astype(np.float32)
        got = np.asarray(runner(x))
        assert got.shape == (1, h, w, 3)
        assert np.abs(got.astype(np.float32) - np.asarray(model(x))).mean() < 4.0
    loaded = tf.saved_model.load(str(out / report["formats"]["savedmodel"]["path"]))
    x = RNG.uniform(0, 255, (1, 21, 17, 3)).astype(np.float32)
    image = loaded.signatures["serving_default"](images=tf.constant(x))["image"].numpy()
    assert image.dtype == np.uint8 and image.shape == (1, 21, 17, 3)
    expected = np.clip(np.round(np.asarray(model(x))), 0, 255)
    assert np.abs(image.astype(np.float32) - expected).max() <= 1.0


def test_a_large_int8_drop_is_refused_and_nothing_written(data, tmp_path):
    splits, task = data
    model = build_model("dae", filters=4, num_layers=4)
    out = tmp_path / "refused"
    with pytest.raises(ExportQualityError, match="psnr dropped"):
        export_model(model, task, splits, str(out), "dae", formats=("float32", "int8"),
                     max_quality_drop=-1.0, tflite_input_shape=(1, None, None, 3),
                     latency_runs=1, progress=lambda *_: None)
    assert not os.path.exists(out)
