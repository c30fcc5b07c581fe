"""Classification curves (metrics/curves.py, ClassificationTask.evaluate/plots): areas, ECE,
top-k and the sampled curves on cases whose answers are known."""

import json

import numpy as np
import pytest
from sklearn.metrics import auc, precision_recall_curve, roc_curve

from kerascv_apps.metrics import curves as C
from kerascv_apps.tasks import get_task


def test_areas_of_a_perfect_a_reversed_and_a_useless_score():
    labels = np.array([0, 0, 1, 1, 2, 2])
    scores = np.eye(3)[labels] * 0.8 + 0.1  # the right class always highest
    out = C.per_class_curves(labels, scores)
    assert all(out[c]["roc_auc"] == 1.0 and out[c]["average_precision"] == 1.0 for c in out)
    reversed_ = C.per_class_curves(labels, 1.0 - scores)
    assert all(reversed_[c]["roc_auc"] == 0.0 for c in reversed_)
    flat = C.per_class_curves(labels, np.full((6, 3), 1 / 3))
    assert all(flat[c]["roc_auc"] == 0.5 for c in flat)
    absent = C.per_class_curves(np.array([0, 0, 1]), np.full((3, 3), 1 / 3))
    assert absent[2]["roc_auc"] is None and absent[2]["positives"] == 0


def test_expected_calibration_error_and_bins():
    # 10 examples at confidence 0.9: 6 correct -> |0.6 - 0.9| = 0.3; 10 at 0.55, all correct
    scores = np.array([[0.9, 0.1]] * 10 + [[0.55, 0.45]] * 10)
    labels = np.array([0] * 6 + [1] * 4 + [0] * 10)
    ece, rows = C.reliability(labels, scores, bins=10)
    assert ece == pytest.approx(0.5 * 0.3 + 0.5 * 0.45)
    assert [(r["count"], round(r["accuracy"], 2)) for r in rows] == [(10, 1.0), (10, 0.6)]
    assert C.reliability(np.array([0, 1]), np.array([[1.0, 0.0], [0.0, 1.0]]))[0] == 0.0


def test_top_k_and_sampled_curves_follow_sklearn():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 300)
    logits = rng.normal(size=(300, 4)) + 1.5 * np.eye(4)[labels]
    scores = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    top = C.top_k_accuracies(labels, scores, 5)
    assert list(top) == ["1", "2", "3", "4"] and top["4"] == 1.0
    assert top["1"] == pytest.approx(np.mean(scores.argmax(1) == labels))
    assert top["1"] <= top["2"] <= top["3"]
    curves = C.per_class_curves(labels, scores)
    sampled = C.sampled_curves(curves)
    for c in range(4):
        fpr, tpr, _ = roc_curve(labels == c, scores[:, c])
        assert curves[c]["roc_auc"] == pytest.approx(auc(fpr, tpr))
        # the 101-point curve's area is close to the exact one
        assert np.trapezoid(sampled[c]["tpr"], C.GRID) == pytest.approx(auc(fpr, tpr), abs=0.01)
        precision, recall, _ = precision_recall_curve(labels == c, scores[:, c])
        for g, p in zip(C.GRID[::10], sampled[c]["precision"][::10]):
            assert p == pytest.approx(precision[recall >= g].max(), abs=1e-5)
        assert np.all(np.diff(sampled[c]["precision"]) <= 1e-9)  # interpolated: non-increasing


def test_classification_evaluation_json_and_plots(tmp_path):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 120)
    scores = np.eye(3)[labels] * 0.6 + rng.uniform(0, 0.4, (120, 3))
    scores /= scores.sum(1, keepdims=True)
    task = get_task("classification", num_classes=3, class_names=["a", "b", "c"])
    results = task.evaluate(labels, scores)
    json.dumps(results)  # all plain numbers
    assert set(results["per_class"]["a"]) >= {"roc_auc", "average_precision", "precision"}
    assert 0 <= results["ece"] < 1 and results["macro_roc_auc"] > 0.9
    assert results["top_k_accuracy"]["3"] == 1.0
    paths = task.plots(results, str(tmp_path))
    names = sorted(p.split("/")[-1] for p in paths)
    assert names == ["confusion_matrix.png", "pr_curves.png", "reliability.png", "roc_curves.png"]


def test_iou_vs_boundary_distance_puts_a_shifted_edge_near_the_boundary(tmp_path):
    from kerascv_apps.metrics.segmentation import iou_by_boundary_distance

    target = np.zeros((1, 40, 40), np.int64)
    target[:, :, 20:] = 1  # one vertical boundary between columns 19 and 20
    shifted = np.zeros_like(target)
    shifted[:, :, 22:] = 1  # predicted 2 pixels too far right
    result = iou_by_boundary_distance(target, shifted, 2, edges=(0, 1, 2, 4, 8, np.inf))
    iou = result["iou"]
    assert np.allclose(iou[3:], 1.0)  # 4 px and more from the boundary: all right
    assert iou[0, 1] == pytest.approx(0.0)  # the boundary column of class 1 is all wrong
    assert iou[1, 1] == pytest.approx(0.0) and iou[1, 0] == pytest.approx(0.5)
    assert sum(result["pixels"]) == 1600 and result["pixels"][0] == 80  # columns 19 and 20
    perfect = iou_by_boundary_distance(target, target, 2)["iou"]
    assert np.all(np.isnan(perfect) | (perfect == 1.0))
    one_class = iou_by_boundary_distance(np.zeros((1, 8, 8)), np.zeros((1, 8, 8)), 2)
    assert one_class["pixels"][-1] == 64  # no boundary: every pixel infinitely far

    task = get_task("segmentation", num_classes=2, class_names=["bg", "fg"])
    scores = np.eye(2)[shifted]
    results = task.evaluate(target, scores)
    json.dumps(results)
    curve = results["iou_vs_boundary_distance"]
    assert curve["bins"][-1][1] is None and curve["iou"]["fg"][0] == 0.0
    paths = task.plots(results, str(tmp_path))
    assert any(p.endswith("iou_vs_boundary_distance.png") for p in paths)
