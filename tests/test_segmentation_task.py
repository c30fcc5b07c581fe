"""The segmentation Task: evaluation table, visualizations, predict on files, export with mIoU
verification (float vs int8)."""

import os

import numpy as np
import pytest
from PIL import Image

from kerascv_apps import build_model
from kerascv_apps.tasks import get_task
from kerascv_apps.tasks.segmentation import colorize, format_report, palette, save_prediction_png


def _task():
    return get_task("segmentation", class_names=["bg", "a", "b"])


def test_evaluate_per_class_table():
    t = np.array([[[0, 0, 1, 1], [0, 2, 1, 255]]])
    p = np.eye(3)[np.array([[[0, 1, 1, 1], [0, 2, 2, 0]]])]
    r = _task().evaluate(t, p)
    assert r["miou"] == pytest.approx((2 / 3 + 0.5 + 0.5) / 3)
    assert r["pixel_accuracy"] == pytest.approx(5 / 7)
    assert [row["class"] for row in r["per_class"]] == ["bg", "a", "b"]
    assert r["per_class"][0]["iou"] == pytest.approx(2 / 3)
    assert r["per_class"][2]["pixels"] == 1
    assert _task().score(t, p) == pytest.approx(r["miou"])
    text = format_report(r)
    assert "bg" in text and "0.6667" in text and "mean IoU" in text


def test_palette_colorize_and_figures(tmp_path):
    colors = palette(21)
    assert len({tuple(c) for c in colors}) == 21 and tuple(colors[0]) == (0, 0, 0)
    mask = np.array([[0, 1], [2, 255]])
    rgb = colorize(mask, 3)
    np.testing.assert_array_equal(rgb[1, 1], [255, 255, 255])
    np.testing.assert_array_equal(rgb[0, 1], colors[1])
    path = save_prediction_png(np.full((16, 16, 3), 100.0), np.ones((16, 16), int),
                               str(tmp_path / "pred.png"), ["bg", "a", "b"])
    with Image.open(path) as img:
        assert img.size == (1000, 380)
    task = _task()
    r = task.evaluate(np.zeros((1, 4, 4), int), np.zeros((1, 4, 4), int))
    files = task.plots(r, str(tmp_path / "plots"))
    assert [os.path.basename(f) for f in files] == [
        "per_class_iou.png", "iou_vs_boundary_distance.png", "evaluation.txt"]
    assert all(os.path.getsize(f) > 0 for f in files)


def test_predict_files_writes_mask_matching_model(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    model = build_model("unet_same", input_shape=(None, None, 3), num_classes=3, base_filters=4,
                        depth=2)
    image = np.random.default_rng(0).integers(0, 255, (20, 24, 3)).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "photo.png")
    out = _task().predict_files(model, [str(tmp_path / "photo.png")], out_dir=str(tmp_path / "out"))
    expected = np.argmax(np.asarray(model(image[None].astype(np.float32)))[0], -1)
    saved = np.asarray(Image.open(out[0]["mask"]))
    np.testing.assert_array_equal(saved, expected)
    assert sum(out[0]["class_pixels"].values()) == 20 * 24
    assert os.path.exists(out[0]["figure"])


def test_export_reports_miou_float_and_int8(tmp_path):
    import keras

    from kerascv_apps.data import load_dataset
    from kerascv_apps.export.pipeline import export_model
    from kerascv_apps.export.tflite import TFLiteRunner
    from kerascv_apps.metrics.segmentation import mean_iou

    keras.utils.set_random_seed(0)
    splits = load_dataset("shapes", image_size=32, num_train=96, num_val=2, num_test=8)
    task = get_task("segmentation", num_classes=4, class_names=splits.class_names)
    model = build_model("unet_same", input_shape=(32, 32, 3), num_classes=4, base_filters=8,
                        depth=2)
    # trained past chance, so that the int8 gate compares two meaningful mIoUs (untrained,
    # Keras 0.151 vs int8 0.186: a drop that means nothing)
    model.compile(keras.optimizers.Adam(3e-3), task.loss(model))
    model.fit(splits.train.batch(8), epochs=5, verbose=0)
    report = export_model(model, task, splits, str(tmp_path / "export"), "unet_tiny",
                          formats=("float32", "int8"), max_quality_drop=0.01, latency_runs=2,
                          progress=lambda *_: None)
    assert report["metric"] == "miou"
    int8 = report["formats"]["int8"]
    print(f"unet_same mIoU Keras {report['keras']['value']:.4f}, int8 {int8['value']:.4f}")
    assert report["passed"] and int8["quality_drop"] <= 0.01  # the README's --max-int8-drop
    runner = TFLiteRunner(str(tmp_path / "export" / int8["path"]))
    images = np.stack([x for x, _ in splits.test.as_numpy_iterator()])
    masks = np.stack([y for _, y in splits.test.as_numpy_iterator()])
    assert int8["value"] == pytest.approx(mean_iou(masks, runner.predict(images), 4), abs=1e-9)
    assert report["formats"]["float32"]["value"] == pytest.approx(report["keras"]["value"], abs=1e-3)


def test_border_weight_pipeline_feeds_loss_and_metrics():
    from kerascv_apps.data import load_dataset, make_pipeline
    from kerascv_apps.losses.segmentation import SegmentationCrossentropy
    from kerascv_apps.metrics.segmentation import SegmentationMeanIoU

    splits = load_dataset("shapes", image_size=32, num_train=8, num_val=1, num_test=1,
                          instances=True)
    task = get_task("segmentation", num_classes=4, border_weights=True)
    x, packed = next(iter(make_pipeline(splits.train, 8, map_fn=task.pipeline_map_fn())))
    packed = packed.numpy()
    assert packed.shape == (8, 32, 32, 2)
    assert packed[..., 1].min() >= 1.0 and packed[..., 1].max() > 2.0  # borders weighted up
    model = build_model("unet_same", input_shape=(32, 32, 3), num_classes=4, base_filters=4,
                        depth=2)
    pred = model(x)
    weighted = float(SegmentationCrossentropy()(packed, pred))
    plain = float(SegmentationCrossentropy()(packed[..., 0], pred))
    assert weighted > plain
    metric = SegmentationMeanIoU(4)
    metric.update_state(packed, pred)
    reference = SegmentationMeanIoU(4)
    reference.update_state(packed[..., 0].astype(np.int32), pred)
    assert float(metric.result()) == pytest.approx(float(reference.result()))
