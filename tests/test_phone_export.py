"""Phone-ready exports proven by the runtime that takes them: MediaPipe Tasks (classifier,
segmenter) and LiteRT with the embedded metadata's values (super-resolution)."""

import json

import numpy as np
import pytest

from kerascv_apps import build_model
from kerascv_apps.data import load_dataset
from kerascv_apps.export.metadata import embed_metadata, read_metadata
from kerascv_apps.export.pipeline import export_model
from kerascv_apps.export.tflite import TFLiteRunner
from kerascv_apps.tasks import get_task



def _mediapipe():
    """mediapipe is a declared dependency (setup.cfg): imported by the tests that run MediaPipe
    Tasks only, never skipped, so a broken install fails them (and only them) by name while
    the PTQ-matrix and super-resolution metadata tests still run."""
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    return mp, BaseOptions, vision


def _quiet(*_):
    pass


@pytest.fixture(scope="module")
def classifier_export(tmp_path_factory, trained_lenet):
    model, splits, task = trained_lenet
    out = tmp_path_factory.mktemp("phone") / "lenet5"
    report = export_model(model, task, splits, str(out), "lenet5",
                          formats=("float32", "float16", "dynamic", "int8", "int16x8",
                                   "litert_int8"),
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
    # trained to clear margins (ties of the uint8 scores are counted apart in the test)
    model.compile(keras.optimizers.Adam(3e-3), task.loss(model))
    model.fit(splits.train.batch(8), epochs=6, verbose=0)
    out = tmp_path_factory.mktemp("phone") / "unet"
    report = export_model(model, task, splits, str(out), "unet_same", formats=("float32", "int8"),
                          max_quality_drop=0.01, latency_runs=3, progress=_quiet)
    return out, splits, report


def _rgb_uint8(image):
    mp = _mediapipe()[0]
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
    # re-embedding replaces the metadata and the zipped files instead of stacking them
    contract["model"]["version"] = "2"
    again = embed_metadata(data, contract)
    assert abs(len(again) - len(data)) < 64 and read_metadata(again)["version"] == "2"
    assert TFLiteRunner(again)(np.zeros((1, 32, 32, 3), np.float32)).shape == (1, 10)
    float_meta = read_metadata((out / "tflite" / "lenet5_float32.tflite").read_bytes())
    assert float_meta["contract"]["input"]["dtype"] == "float32"


def test_ptq_matrix_is_verified_and_reported(classifier_export):
    out, _, report = classifier_export
    formats = report["formats"]
    keras_acc = report["keras"]["value"]
    for mode in ("float16", "dynamic", "int8", "int16x8", "litert_int8"):
        assert abs(formats[mode]["value"] - keras_acc) <= 0.02, (mode, formats[mode]["value"])
        assert formats[mode]["non_builtin_ops"] == []
        assert set(formats[mode]["latency_threads"]) == {"1", "2"}
        assert formats[mode]["size_vs_float32"] < (0.6 if mode == "float16" else 0.35), mode
    assert formats["float32"]["value"] == pytest.approx(keras_acc, abs=1e-9)
    assert formats["int16x8"]["input_dtype"] == "float32"
    table = (out / "export_report.md").read_text()
    assert all(f"| {mode} |" in table for mode in formats)
    assert json.loads((out / "export_report.json").read_text())["formats"].keys() == formats.keys()


def test_mediapipe_classifier_agrees_with_litert(classifier_export):
    out, splits, _ = classifier_export
    _, BaseOptions, vision = _mediapipe()
    images = np.round(np.stack([x for x, _ in splits.test.as_numpy_iterator()]))  # uint8 pixels
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


@pytest.mark.parametrize("mode", ["float32", "int8"])
def test_mediapipe_segmenter_agrees_with_litert(segmenter_export, mode):
    out, splits, report = segmenter_export
    _, BaseOptions, vision = _mediapipe()
    images = np.round(np.stack([x for x, _ in splits.test.as_numpy_iterator()]))  # uint8 pixels
    path = str(out / "tflite" / f"unet_same_{mode}.tflite")
    contract = json.loads((out / "tflite" / f"unet_same_{mode}.json").read_text())
    if mode == "int8":
        # MediaPipe writes uint8 pixels into a uint8 input as they are, ignoring its scale:
        # the export pins the input at scale 1, zero point 0 so that LiteRT sees the same.
        assert contract["input"]["quantization"] == {"scale": 1.0, "zero_point": 0}
    scores = TFLiteRunner(path).predict(images)
    litert = scores.argmax(-1)  # numpy: the first of tied maxima
    top2 = np.sort(scores, axis=-1)[..., -2:]
    tied = top2[..., 0] == top2[..., 1]  # frequent with uint8 scores (steps of 1/256)
    options = vision.ImageSegmenterOptions(base_options=BaseOptions(model_asset_path=path),
                                           output_category_mask=True,
                                           output_confidence_masks=True)
    with vision.ImageSegmenter.create_from_options(options) as segmenter:
        assert segmenter.labels == splits.class_names
        masks, confidences = [], []
        for im in images:
            result = segmenter.segment(_rgb_uint8(im))
            # numpy_view() shares the result's buffer: copy before the result is freed
            masks.append(np.array(result.category_mask.numpy_view()))
            confidences.append(np.stack([np.array(c.numpy_view()).reshape(litert.shape[1:])
                                         for c in result.confidence_masks], axis=-1))
    masks = np.stack(masks).reshape(litert.shape)
    same = masks == litert
    agreement = float(np.mean(same))
    print(f"MediaPipe ImageSegmenter vs LiteRT per-pixel agreement ({mode}): {agreement:.4f} "
          f"on {masks.size} pixels; {int(tied.sum())} tied pixels (agreement "
          f"{float(np.mean(same[tied])) if tied.any() else float('nan'):.4f}), non-tied "
          f"{float(np.mean(same[~tied])):.4f}; labels {segmenter.labels}")
    # the confidence masks are LiteRT's (dequantized) scores: the same input reached the model
    np.testing.assert_allclose(np.stack(confidences), scores, atol=1e-6)
    assert float(np.mean(same[~tied])) >= 0.99
    assert agreement >= 0.99, agreement
    if tied.any():  # MediaPipe's category mask breaks ties like numpy: the first class wins
        assert np.array_equal(masks[tied], litert[tied])
    # the README's int8 gate (--max-int8-drop 0.01 of mIoU) held in the export above
    assert report["passed"] and report["formats"][mode]["quality_drop"] <= 0.01


def test_super_resolution_runs_from_its_embedded_metadata(tmp_path):
    """No MediaPipe runner for SR: LiteRT's own interpreter, fed and read with nothing but the
    values in the file's metadata, gives the PSNR the export verification reported."""
    import keras
    from ai_edge_litert.interpreter import Interpreter

    from kerascv_apps.data.sources.base import DatasetSplits
    from kerascv_apps.data.sources.sr_common import from_images
    from kerascv_apps.models.super_resolution.espcn import ESPCN

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    photos = [np.asarray(keras.ops.image.resize(
        rng.uniform(0, 255, (1, 10, 12, 3)).astype("float32"), (h, w)))[0]
        for h, w in ((96, 80), (64, 72))]
    train, _ = from_images(photos, 2)
    test, _ = from_images(photos[::-1], 2)
    splits = DatasetSplits("tiny", "super_resolution", train, test, test, (None, None, 3),
                           info={"scale": 2})
    task = get_task("super_resolution", scale=2)
    report = export_model(ESPCN(scale=2, anchor_skip=True), task, splits, str(tmp_path / "sr"),
                          "espcn_x2", formats=("float32", "int8", "int16x8"), max_quality_drop=0.01,
                          tflite_input_shape=(1, None, None, 3), latency_runs=1,
                          progress=_quiet)
    # the README's int8 gate (0.01 dB of PSNR-Y) held: the export raises otherwise
    print(f"SR int8 PSNR-Y drop: {report['formats']['int8']['quality_drop']:.4f} dB")
    assert report["passed"] and report["formats"]["int8"]["quality_drop"] <= 0.01
    # the converter has no 16x8 kernel for DEPTH_TO_SPACE: a refused row, the others go on
    assert "DEPTH_TO_SPACE" in report["formats"]["int16x8"]["refused"]
    assert not (tmp_path / "sr" / "tflite" / "espcn_x2_int16x8.tflite").exists()
    pairs = list(test.as_numpy_iterator())
    for mode, bound in (("float32", 1e-3), ("int8", 1e-3)):
        data = (tmp_path / "sr" / "tflite" / f"espcn_x2_{mode}.tflite").read_bytes()
        meta = read_metadata(data)
        mean, std = np.float32(meta["input_mean"]), np.float32(meta["input_std"])
        lo, hi = meta["input_range"]
        out_lo, out_hi = meta["output_ranges"][0]
        assert (lo, hi, out_lo, out_hi) == (0.0, 255.0, 0.0, 255.0)
        assert meta["contract"]["scale"] == 2
        interpreter = Interpreter(model_content=data)
        inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
        predictions = []
        for lr, _ in pairs:
            pixels = np.clip(np.round(lr), lo, hi)[None]
            if inp["dtype"] == np.uint8:  # raw pixels, as MediaPipe feeds a uint8 input
                assert tuple(inp["quantization"]) == (1.0, 0)
                x = pixels.astype(np.uint8)
            else:
                x = ((pixels - mean) / std).astype(np.float32)
            interpreter.resize_tensor_input(inp["index"], x.shape, strict=False)
            interpreter.allocate_tensors()
            interpreter.set_tensor(inp["index"], x)
            interpreter.invoke()
            y = interpreter.get_tensor(out["index"])[0].astype(np.float32)
            if out["dtype"] == np.uint8:
                scale, zero = out["quantization"]
                y = (y - zero) * scale
            predictions.append(np.clip(y, out_lo, out_hi))
        psnr = task.score([hr for _, hr in pairs], predictions)
        reported = report["formats"][mode]["value"]
        print(f"SR {mode}: PSNR-Y from the metadata's values {psnr:.4f} dB, export "
              f"verification {reported:.4f} dB")
        assert abs(psnr - reported) <= bound, (mode, psnr, reported)
