"""Box ops (layers/box_ops.py) and anchors / proposals (layers/proposals.py): greedy NMS against a
NumPy loop, deltas against Keras' own encoding, the detection contract of select_detections,
the paper's anchors, and the proposal layer in a saved graph."""

import keras
import numpy as np
import pytest

from kerascv_apps.layers.box_ops import (decode_deltas, encode_deltas, nms_keep,
                                         select_detections)
from kerascv_apps.layers.proposals import RegionProposals, anchor_grid


def iou_np(a, b):
    top, left = np.maximum(a[0], b[0]), np.maximum(a[1], b[1])
    bottom, right = np.minimum(a[2], b[2]), np.minimum(a[3], b[3])
    inter = max(bottom - top, 0) * max(right - left, 0)
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def greedy_nms_np(boxes, valid, threshold):
    keep = []
    for i in range(len(boxes)):
        if valid[i] and all(iou_np(boxes[j], boxes[i]) <= threshold for j in keep):
            keep.append(i)
    return keep


def random_boxes(rng, batch, n):
    yx = rng.uniform(0, 0.8, (batch, n, 2))
    hw = rng.uniform(0.05, 0.3, (batch, n, 2))
    return np.concatenate([yx, yx + hw], -1).astype("float32")


def test_nms_equals_greedy_nms():
    rng = np.random.default_rng(0)
    boxes = random_boxes(rng, 3, 60)  # dense: long suppression chains
    valid = rng.uniform(size=(3, 60)) > 0.1
    for threshold in (0.3, 0.5):
        keep = np.asarray(nms_keep(boxes, valid, threshold))
        for b in range(3):
            assert list(np.flatnonzero(keep[b])) == greedy_nms_np(boxes[b], valid[b], threshold)
    # a chain a > b > c (a suppresses b, b would suppress c): greedy keeps a and c
    chain = np.array([[[0, 0, 1, 1], [0, 0.3, 1, 1.3], [0, 0.6, 1, 1.6]]], "float32")
    assert np.asarray(nms_keep(chain, np.ones((1, 3), bool), 0.5)).tolist() == [[True, False,
                                                                                 True]]


def test_deltas_invert_and_equal_keras_center_yxhw():
    rng = np.random.default_rng(1)
    anchors, boxes = random_boxes(rng, 1, 20)[0], random_boxes(rng, 1, 20)[0]
    deltas = np.asarray(encode_deltas(anchors, boxes))
    ref = keras.utils.bounding_boxes.encode_box_to_deltas(anchors, boxes, "yxyx", "yxyx")
    np.testing.assert_allclose(deltas, np.asarray(ref), atol=1e-5)
    np.testing.assert_allclose(np.asarray(decode_deltas(anchors, deltas)), boxes, atol=1e-5)
    scaled = np.asarray(encode_deltas(anchors, boxes, (0.1, 0.1, 0.2, 0.2)))
    np.testing.assert_allclose(scaled, deltas / [0.1, 0.1, 0.2, 0.2], rtol=1e-5, atol=1e-5)


def test_select_detections_per_class_nms_and_padding():
    # two overlapping boxes: same class -> one detection; different classes -> both
    boxes = np.array([[[0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.52, 0.5], [0.6, 0.6, 0.9, 0.9]]],
                     "float32")
    scores = np.array([[[0.9, 0.0], [0.8, 0.7], [0.02, 0.3]]], "float32")
    out = {k: np.asarray(v) for k, v in select_detections(boxes, scores, max_detections=5,
                                                            score_threshold=0.05).items()}
    assert out["boxes"].shape == (1, 5, 4) and out["count"].tolist() == [3]
    np.testing.assert_allclose(out["scores"][0], [0.9, 0.7, 0.3, 0, 0], atol=1e-6)
    assert out["classes"][0].tolist() == [0, 1, 1, 0, 0]
    np.testing.assert_allclose(out["boxes"][0, 1], boxes[0, 1], atol=1e-6)
    assert np.all(out["boxes"][0, 3:] == 0)


def test_anchors_follow_the_paper_geometry():
    anchors = anchor_grid((64, 96), 16, 7.5, (32, 64), (0.5, 1.0, 2.0))
    assert anchors.shape == (4 * 6 * 6, 4)
    grid = anchors.reshape(4, 6, 6, 4) * [64, 96, 64, 96]
    centre_y = (grid[..., 0] + grid[..., 2]) / 2
    centre_x = (grid[..., 1] + grid[..., 3]) / 2
    np.testing.assert_allclose(centre_y[:, 0, 0], 8.0 + 16 * np.arange(4))  # 7.5 + 0.5 + 16 i
    np.testing.assert_allclose(centre_x[0, :, 0], 8.0 + 16 * np.arange(6))
    h, w = grid[0, 0, :, 2] - grid[0, 0, :, 0], grid[0, 0, :, 3] - grid[0, 0, :, 1]
    np.testing.assert_allclose(h * w, [32 ** 2] * 3 + [64 ** 2] * 3, rtol=1e-5)
    np.testing.assert_allclose(h / w, [0.5, 1, 2] * 2, rtol=1e-5)  # ratio = height / width


def test_proposal_layer_decodes_sorts_suppresses_and_reloads(tmp_path):
    layer_args = dict(image_size=(32, 32), stride=16, offset=7.5, scales=(16,), ratios=(1.0,),
                      pre_nms_top_n=4, post_nms_top_n=3, nms_threshold=0.7)
    obj_in, delta_in = keras.Input((2, 2, 1)), keras.Input((2, 2, 4))
    out = RegionProposals(name="proposals", **layer_args)([obj_in, delta_in])
    model = keras.Model([obj_in, delta_in], out)
    path = str(tmp_path / "proposals.keras")
    model.save(path)
    model = keras.models.load_model(path, safe_mode=True)
    objectness = np.array([1.0, 4.0, 3.0, 2.0], "float32").reshape(1, 2, 2, 1)
    deltas = np.zeros((1, 2, 2, 4), "float32")
    deltas[0, 1, 0] = [-1.0, 1.0, 0.0, 0.0]  # cell (1, 0) moved onto cell (0, 1)'s anchor
    proposals = model.predict([objectness, deltas], verbose=0)[0]
    anchors = anchor_grid((32, 32), 16, 7.5, (16,), (1.0,))
    # order by objectness: cells 1 (4.0), 2 (3.0, moved onto cell 1: suppressed), 3, 0;
    # the suppressed box comes after the kept ones
    np.testing.assert_allclose(proposals, anchors[[1, 3, 0]], atol=1e-6)
    with pytest.raises(ValueError, match="objectness"):
        RegionProposals(**layer_args)([np.zeros((1, 3, 3, 1)), np.zeros((1, 3, 3, 4))])
