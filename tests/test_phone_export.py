"""Phone-ready exports proven by the runtime that takes them: MediaPipe Tasks (classifier,
segmenter) and LiteRT with the embedded metadata's values (super-resolution)."""

import json

import numpy as np
import pytest

from kerascv_apps import build_model
from kerascv_apps.data import load_dataset
from kerascv_apps.export.metadata import read_metadata
from kerascv_apps.export.pipeline import export_model
from kerascv_apps.export.tflite import TFLiteRunner
from kerascv_apps.tasks import get_task

mp = pytest.importorskip("mediapipe")  # a declared dependency; skipped only on a broken install
from mediapipe.tasks.python import BaseOptions, vision  # noqa: E402


def _quiet(*_):
    pass


@pytest.fixture(scope="module")
def classifier_export(tmp_path_factory):
    import keras

    keras.utils.set_random_seed(0)
    splits = load_dataset("digits")
    model = build_model("lenet5")
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(splits.train.batch(32), epochs=4, verbose=0)
    task = get_task("classification", num_classes=10, class_names=splits.class_names)
    out = tmp_path_factory.mktemp("phone") / "lenet5"
    report = export_model(model, task, splits, str(out), "lenet5", formats=("float32", "int8"),
                          latency_runs=3, progress=_quiet)
    return out, splits, report


@pytest.fixture(scope="module")
def segmenter_export(tmp_path_factory):
    import keras

    keras.utils.set_random_seed(0)
    splits = load_dataset("shapes", image_size=32, num_train=128, num_val=2, num_test=12)
    task = get_task("segmentation", num_classes=len(splits.class_names),
                    class_names=splits.class_names)
    model = build_model("unet_same", input_shape=(32, 32, 3), num_classes=len(splits.class_names),
                        base_filters=8, depth=2)
    # trained to clear margins: near-tied class scores would make the agreement a coin toss
    model.compile(keras.optimizers.Adam(0.01), task.loss(model))
    model.fit(splits.train.batch(16), epochs=4, verbose=0)
    out = tmp_path_factory.mktemp("phone") / "unet"
    report = export_model(model, task, splits, str(out), "unet_same", formats=("float32", "int8"),
                          max_quality_drop=1.0, latency_runs=3, progress=_quiet)
    return out, splits, report


def _rgb_uint8(image):
    image = np.clip(np.round(image), 0, 255).astype(np.uint8)
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image))


def test_uint8_io_contract_and_embedded_metadata(classifier_export):
    out, splits, report = classifier_export
    data = (out / "tflite" / "lenet5_int8.tflite").read_bytes()
    contract = json.loads((out / "tflite" / "lenet5_int8.json").read_text())
    assert report["formats"]["int8"]["input_dtype"] == "uint8"
    assert contract["input"]["dtype"] == "uint8" and contract["outputs"][0]["dtype"] == "uint8"
    assert contract["input"]["quantization"] == {"scale": 1.0, "zero_point": 0}  # raw pixels
    assert contract["input"]["shape"] == [1, 32, 32, 3] and contract["input"]["color_space"] == "RGB"
    assert contract["outputs"][0]["meaning"] == "probabilities"
    assert contract["labels"] == splits.class_names
    meta = read_metadata(data)
    assert meta["contract"] == contract  # the JSON beside the file is the embedded one
    assert meta["name"] == "lenet5" and meta["input_mean"] == [0.0] * 3 and meta["input_std"] == [1.0] * 3
    assert meta["associated_files"]["labels.txt"].decode().split() == splits.class_names
    float_meta = read_metadata((out / "tflite" / "lenet5_float32.tflite").read_bytes())
    assert float_meta["contract"]["input"]["dtype"] == "float32"


def test_mediapipe_classifier_agrees_with_litert(classifier_export):
    out, splits, _ = classifier_export
    images = np.stack([x for x, _ in splits.test.as_numpy_iterator()])
    path = str(out / "tflite" / "lenet5_int8.tflite")
    litert = TFLiteRunner(path).predict(images).argmax(-1)
    options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=path),
                                            max_results=10)
    names = set()
    with vision.ImageClassifier.create_from_options(options) as classifier:
        top1 = []
        for image in images:
            categories = classifier.classify(_rgb_uint8(image)).classifications[0].categories
            top1.append(categories[0].index)
            names |= {c.category_name for c in categories}
    agreement = float(np.mean(np.asarray(top1) == litert))
    print(f"MediaPipe ImageClassifier vs LiteRT top-1 agreement: {agreement:.4f} "
          f"on {len(images)} images; categories {sorted(names)}")
    assert agreement >= 0.99, agreement
    labels = (out / "labels.txt").read_text().split()
    assert sorted(names) == sorted(labels) and len(labels) == 10


@pytest.mark.parametrize("mode", ["float32"])
def test_mediapipe_segmenter_agrees_with_litert(segmenter_export, mode):
    out, splits, report = segmenter_export
    images = np.stack([x for x, _ in splits.test.as_numpy_iterator()])
    path = str(out / "tflite" / f"unet_same_{mode}.tflite")
    litert = TFLiteRunner(path).predict(images).argmax(-1)
    options = vision.ImageSegmenterOptions(base_options=BaseOptions(model_asset_path=path),
                                           output_category_mask=True,
                                           output_confidence_masks=False)
    with vision.ImageSegmenter.create_from_options(options) as segmenter:
        assert segmenter.labels == splits.class_names
        masks = np.stack([segmenter.segment(_rgb_uint8(im)).category_mask.numpy_view()
                          for im in images]).reshape(litert.shape)
    agreement = float(np.mean(masks == litert))
    print(f"MediaPipe ImageSegmenter vs LiteRT per-pixel agreement ({mode}): {agreement:.4f} "
          f"on {masks.size} pixels; labels {segmenter.labels}")
    assert agreement >= 0.99, agreement
    assert report["formats"][mode]["quality_drop"] < 0.05
