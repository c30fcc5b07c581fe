"""The one-stage anchor detector (models/detection/ssd.py) and its phone export
(export/detection_tflite.py): anchors, target assignment, loss, decode/NMS, and the TFLite file
ending in DETECTION_POSTPROCESS run by LiteRT and by MediaPipe's ObjectDetector."""

import math

import keras
import numpy as np
import pytest

from kerascv_apps.layers.anchors import AnchorPredictions
from kerascv_apps.models.detection import ssd
from kerascv_apps.registry import build_model

CLASSES = ["circle", "square", "triangle"]
SMALL = dict(input_shape=(64, 64, 3), num_classes=3, fpn_filters=8, head_filters=8,
             head_depth=1,
             backbone_kwargs=dict(alpha=0.25, stackwise_num_blocks=(1,) * 7, last_filters=16))


def _config(**kwargs):
    config = dict(image_size=[32, 64], levels=[dict(stride=8, offset=3.5, grid=[4, 8]),
                                               dict(stride=16, offset=7.5, grid=[2, 4])],
                  anchor_size=2.0, scales=[1.0, 2.0], aspect_ratios=[0.5, 1.0, 2.0])
    config.update(kwargs)
    return config


def test_anchors_tile_every_level_in_output_order():
    config = _config()
    anchors = ssd.generate_anchors(config)
    assert anchors.shape == ((4 * 8 + 2 * 4) * 6, 4)
    a = ssd.anchors_center_yxhw(anchors)
    # first anchor: level P3 pixel (0, 0) at input pixel 3.5 -> centre (3.5 + 0.5) / size
    assert np.allclose(a[0, :2], [4.0 / 32, 4.0 / 64])
    # scale 1, ratio 0.5: h = 2 * 8 * sqrt(.5), w = 2 * 8 / sqrt(.5) pixels
    assert np.allclose(a[0, 2:], [16 * math.sqrt(0.5) / 32, 16 / math.sqrt(0.5) / 64])
    # anchor index ((row * cols) + col) * 6 + shape: row 1, col 2 of P3, shape 4 (scale 2, 1:1)
    i = (1 * 8 + 2) * 6 + 4
    assert np.allclose(a[i], [(3.5 + 8 + 0.5) / 32, (3.5 + 16 + 0.5) / 64, 32 / 32, 32 / 64])
    # P4 starts after P3's 4 * 8 * 6 anchors
    assert np.allclose(a[4 * 8 * 6, :2], [(7.5 + 0.5) / 32, (7.5 + 0.5) / 64])


def test_model_outputs_match_its_anchors_and_reload_keeps_them(tmp_path):
    model = build_model("ssd_mobilenet_v2_tiny", **SMALL)
    head = ssd.SSDHead(model)
    x = np.zeros((1, 64, 64, 3), np.float32)
    out = model(x)
    assert out["boxes"].shape == (1, len(head.anchors), 4)
    assert out["classes"].shape == (1, len(head.anchors), 3)
    # levels P3..P5 of a 64 px input: 8x8, 4x4, 2x2 positions, 6 anchors each
    assert len(head.anchors) == (64 + 16 + 4) * 6
    path = tmp_path / "ssd.keras"
    model.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    assert np.array_equal(ssd.SSDHead(again).anchors, head.anchors)
    with pytest.raises(ValueError, match="divisible by 2\\*\\*max_level"):
        ssd.SSDDetector(input_shape=(48, 48, 3), max_level=5, min_level=3)


def test_assign_targets_positive_ignored_negative_and_forced():
    anchors = np.array([[0.0, 0.0, 0.5, 0.5],     # = box 0: IoU 1, positive (class 2)
                        [0.0, 0.05, 0.5, 0.55],   # IoU with box 0 0.82: positive
                        [0.0, 0.15, 0.5, 0.65],   # IoU 0.538... -> positive
                        [0.0, 0.2, 0.5, 0.7],     # IoU 0.4286: ignored
                        [0.0, 0.3, 0.5, 0.8],     # IoU 0.25: negative
                        [0.6, 0.6, 1.0, 1.0]],    # best anchor of the small box 1: forced
                       np.float32)
    y = np.array([[[0.0, 0.0, 0.5, 0.5, 2], [0.9, 0.9, 1.0, 1.0, 1],
                   [0, 0, 0, 0, -1]]], np.float32)
    t = ssd.assign_targets(anchors, y, num_classes=3)
    assert np.array_equal(np.asarray(t.positive)[0], [1, 1, 1, 0, 0, 1])
    assert np.array_equal(np.asarray(t.ignore)[0], [0, 0, 0, 1, 0, 0])
    labels = np.asarray(t.labels)[0]
    assert np.array_equal(labels.argmax(-1)[[0, 1, 2, 5]], [2, 2, 2, 1])
    assert labels[3:5].sum() == 0
    assert np.allclose(np.asarray(t.boxes)[0, 5], [0.9, 0.9, 1.0, 1.0])
    off = ssd.assign_targets(anchors, y, num_classes=3, force_match=False)
    assert np.asarray(off.positive)[0, 5] == 0
    # an image of padding only: every anchor is background
    empty = ssd.assign_targets(anchors, np.array([[[0, 0, 0, 0, -1]]], np.float32), 3)
    assert float(np.sum(empty.positive)) == 0 and float(np.sum(empty.ignore)) == 0


def _raw_outputs(head, picks, num_classes=3):
    """Raw outputs that put a box exactly at each (anchor, box, class, logit) of ``picks``."""
    n = len(head.anchors)
    boxes = np.zeros((1, n, 4), np.float32)
    logits = np.full((1, n, num_classes), -9.0, np.float32)
    target = np.repeat(head.anchors[None], 1, 0).copy()
    for anchor, box, cls, logit in picks:
        target[0, anchor] = box
        logits[0, anchor, cls] = logit
    boxes[:] = np.asarray(head.encode(target))
    return {"boxes": boxes, "classes": logits}


def test_decode_recovers_boxes_and_nms_is_per_class():
    model = build_model("ssd_mobilenet_v2_tiny", **SMALL)
    head = ssd.SSDHead(model)
    box = [0.2, 0.2, 0.6, 0.5]
    near = [0.21, 0.2, 0.61, 0.5]  # IoU ~0.95 with box
    picks = [(10, box, 1, 4.0), (11, near, 1, 3.0),  # same class: NMS keeps the first
             (12, near, 2, 2.0),                      # other class: kept
             (200, [0.7, 0.1, 0.9, 0.3], 0, 1.0)]
    d = head.decode(_raw_outputs(head, picks), max_detections=10, score_threshold=0.05)
    assert int(d["count"][0]) == 3
    assert np.allclose(np.asarray(d["boxes"])[0, :3], [box, near, [0.7, 0.1, 0.9, 0.3]],
                       atol=1e-5)
    assert np.asarray(d["classes"])[0, :3].tolist() == [1, 2, 0]
    s = 1 / (1 + np.exp(-np.array([4.0, 2.0, 1.0])))
    assert np.allclose(np.asarray(d["scores"])[0, :3], s, atol=1e-6)
    assert np.all(np.asarray(d["scores"])[0, 3:] == 0)


@pytest.mark.parametrize("box_loss", ["smooth_l1", "giou"])
def test_box_loss_is_zero_at_the_targets(box_loss):
    model = build_model("ssd_mobilenet_v2_tiny", box_loss=box_loss, **SMALL)
    head = ssd.SSDHead(model)
    y = np.array([[[0.1, 0.1, 0.5, 0.4, 0], [0.5, 0.5, 0.9, 0.95, 2], [0, 0, 0, 0, -1]]],
                 np.float32)
    t = head.targets(y)
    boxes = np.where(np.asarray(t.positive)[..., None] > 0, np.asarray(t.boxes),
                     head.anchors[None])
    exact = {"boxes": np.asarray(head.encode(boxes)),
             "classes": np.where(np.asarray(t.labels) > 0, 30.0, -30.0).astype(np.float32)}
    assert float(head.loss(y, exact)) < 1e-4
    moved = dict(exact, boxes=exact["boxes"] + 0.5)
    assert float(head.loss(y, moved)) > 0.05


def test_loss_decreases_through_the_task_training_graph():
    from kerascv_apps.tasks.detection import training_graph

    keras.utils.set_random_seed(0)
    model = build_model("ssd_mobilenet_v2_tiny", **SMALL)
    trainer = training_graph(model)
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    y = np.zeros((2, 4, 5), np.float32)
    y[..., 4] = -1
    y[0, 0] = [0.1, 0.1, 0.5, 0.4, 0]
    y[0, 1] = [0.5, 0.5, 0.9, 0.95, 2]
    y[1, 0] = [0.2, 0.5, 0.45, 0.8, 1]
    trainer.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = trainer.fit(x, y, batch_size=2, epochs=5, verbose=0).history["loss"]
    assert np.all(np.isfinite(history))
    assert history[-1] < 0.8 * history[0], history


@pytest.fixture(scope="module")
def detector():
    """A small detector whose class scores differ from anchor to anchor (random class
    weights: NMS order is not decided by ties) and whose box deltas are far from zero (so the
    decoding's scales matter)."""
    keras.utils.set_random_seed(1)
    model = build_model("ssd_mobilenet_v2_tiny", **SMALL)
    layer = model.get_layer("class_predictions")
    kernel, bias = layer.get_weights()
    rng = np.random.default_rng(1)
    layer.set_weights([rng.normal(0, 0.5, kernel.shape).astype(np.float32), bias + 2.0])
    layer = model.get_layer("box_predictions")
    kernel, bias = layer.get_weights()
    layer.set_weights([rng.normal(0, 0.3, kernel.shape).astype(np.float32),
                       rng.normal(0, 1.0, bias.shape).astype(np.float32)])
    images = rng.integers(0, 256, (4, 64, 64, 3)).astype(np.uint8)
    return model, images


@pytest.fixture(scope="module")
def detector_files(detector):
    """The detector's four TFLite files, read from one SavedModel as the exporter makes them."""
    from kerascv_apps.export import detection_tflite as dt
    from kerascv_apps.export.tflite import shared_saved_models

    model, images = detector
    with shared_saved_models():
        return {mode: dt.export_detector_tflite(model, CLASSES, mode=mode, max_detections=20,
                                                representative_data=[images.astype(np.float32)])
                for mode in ("float32", "int8", "float16", "dynamic")}


@pytest.mark.parametrize("mode", ["float32", "int8"])
def test_tflite_ends_in_detection_postprocess_and_mediapipe_agrees(detector, detector_files,
                                                                    mode):
    from ai_edge_litert import schema_py_generated as sc

    from kerascv_apps.export import detection_tflite as dt

    model, images = detector
    data = detector_files[mode]
    tfl = sc.ModelT.InitFromObj(sc.Model.GetRootAsModel(dt._metadata._strip_zip(data), 0))
    graph = tfl.subgraphs[0]
    last = graph.operators[-1]
    assert tfl.operatorCodes[last.opcodeIndex].customCode.decode() == dt.POSTPROCESS_OP
    assert list(graph.outputs) == list(last.outputs)  # boxes, classes, scores, count
    assert graph.tensors[graph.inputs[0]].type == (sc.TensorType.UINT8 if mode == "int8"
                                                   else sc.TensorType.FLOAT32)
    assert dt.read_labels(data) == CLASSES

    litert = dt.run_litert(data, images)
    assert all(len(r["scores"]) == 20 for r in litert)
    assert all(np.all(np.diff(r["scores"]) <= 0) for r in litert)
    packed = dt.pack_results(litert, 25)
    assert packed.shape == (4, 25, 6) and np.all(packed[:, 20:] == 0)
    assert np.all((packed[..., :4] >= 0) & (packed[..., :4] <= 1))
    assert np.array_equal(packed[0, :20, 5], litert[0]["scores"])
    if mode == "float32":  # the op decodes with the model's anchors and variances
        head = ssd.SSDHead(model)
        raw = model(images.astype(np.float32))
        scores = 1 / (1 + np.exp(-np.asarray(raw["classes"])))
        boxes = np.asarray(head.decode_boxes(raw["boxes"]))
        for i, r in enumerate(litert):
            best = scores[i].max(-1).argmax()
            assert np.isclose(r["scores"][0], scores[i].max(), atol=1e-5)
            assert np.allclose(r["boxes"][0], boxes[i, best], atol=1e-4)
            assert r["classes"][0] == scores[i, best].argmax()

    mediapipe = dt.run_mediapipe(data, images)
    matched, total = dt.match_detections(dt.in_mediapipe_pixels(litert, 64, 64), mediapipe,
                                         iou=0.95)
    assert total == 4 * 20 and matched >= 0.99 * total, (matched, total)
    for r in mediapipe:
        assert r["names"] == [CLASSES[c] for c in r["classes"]]


@pytest.mark.parametrize("mode,weight_type", [("float16", "FLOAT16"), ("dynamic", "INT8")])
def test_weight_quantized_files_keep_float_io_and_the_float32_detections(detector,
                                                                         detector_files, mode,
                                                                         weight_type):
    """float16 / dynamic-range files: weights stored as float16 / int8, float32 input and the
    op's four float outputs, detections next to the float32 file's."""
    from ai_edge_litert import schema_py_generated as sc

    from kerascv_apps.export import detection_tflite as dt

    _, images = detector
    reference = dt.run_litert(detector_files["float32"], images)
    data = detector_files[mode]
    tfl = sc.ModelT.InitFromObj(sc.Model.GetRootAsModel(dt._metadata._strip_zip(data), 0))
    graph = tfl.subgraphs[0]
    last = graph.operators[-1]
    assert tfl.operatorCodes[last.opcodeIndex].customCode.decode() == dt.POSTPROCESS_OP
    assert list(graph.outputs) == list(last.outputs)
    assert graph.tensors[graph.inputs[0]].type == sc.TensorType.FLOAT32
    types = {t.type for t in graph.tensors}
    assert getattr(sc.TensorType, weight_type) in types, (mode, types)
    assert dt.read_labels(data) == CLASSES
    litert = dt.run_litert(data, images)
    for ref, got in zip(reference, litert):
        assert len(got["scores"]) == 20
        assert np.allclose(got["scores"][0], ref["scores"][0], atol=0.05)
        assert np.abs(got["boxes"][0] - ref["boxes"][0]).max() < 0.05


def test_export_refuses_wrong_labels_and_non_anchor_models(detector):
    from kerascv_apps.export import detection_tflite as dt

    model, _ = detector
    with pytest.raises(ValueError, match="3 classes but 2 class names"):
        dt.export_detector_tflite(model, CLASSES[:2])
    plain = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 1)], name="plain")
    with pytest.raises(ValueError, match="AnchorPredictions"):
        dt.convert_detector(plain)
    assert issubclass(AnchorPredictions, keras.layers.Layer)
