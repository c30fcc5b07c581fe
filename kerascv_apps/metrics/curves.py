"""Threshold-free classification figures: per-class PR and ROC curves with their areas,
calibration (reliability bins, expected calibration error) and top-k accuracy for every k.

One-vs-rest per class: the class's probability is the score, its examples the positives.
Areas are scikit-learn's (``roc_auc_score``; ``average_precision_score``, the step-wise area
under the PR curve, not the interpolated trapezoid). ECE (Guo et al. 2017): the test set is
split into ``bins`` equal-width bins of top-1 confidence, and ECE is the example-weighted mean
of ``|accuracy - mean confidence|`` over the bins.
"""

import numpy as np


def _check(labels, scores):
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    scores = np.asarray(scores, np.float64)
    if scores.ndim != 2 or len(scores) != len(labels):
        raise ValueError(f"expected (N, classes) scores for N labels, got {scores.shape} and "
                         f"{labels.shape}")
    return labels, scores


def per_class_curves(labels, scores):
    """``{class index: {"roc_auc", "average_precision", "roc": (fpr, tpr), "pr": (recall,
    precision), "positives"}}``; a class without positives or negatives gets ``None`` areas
    and no curves."""
    from sklearn.metrics import (average_precision_score, precision_recall_curve, roc_auc_score,
                                 roc_curve)

    labels, scores = _check(labels, scores)
    out = {}
    for c in range(scores.shape[1]):
        positive = labels == c
        entry = {"positives": int(positive.sum()), "roc_auc": None, "average_precision": None}
        if 0 < positive.sum() < len(labels):
            fpr, tpr, _ = roc_curve(positive, scores[:, c])
            precision, recall, _ = precision_recall_curve(positive, scores[:, c])
            entry.update(roc_auc=float(roc_auc_score(positive, scores[:, c])),
                         average_precision=float(average_precision_score(positive, scores[:, c])),
                         roc=(fpr, tpr), pr=(recall, precision))
        out[c] = entry
    return out


def reliability(labels, scores, bins=15):
    """``(ece, rows)``: rows per non-empty bin ``{"low", "high", "count", "confidence",
    "accuracy"}`` of top-1 confidence."""
    labels, scores = _check(labels, scores)
    confidence = scores.max(axis=1)
    correct = scores.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        members = index == b
        if not members.any():
            continue
        acc, conf = float(correct[members].mean()), float(confidence[members].mean())
        ece += members.mean() * abs(acc - conf)
        rows.append({"low": float(edges[b]), "high": float(edges[b + 1]),
                     "count": int(members.sum()), "confidence": conf, "accuracy": acc})
    return float(ece), rows


def top_k_accuracies(labels, scores, max_k=5):
    """``{"1": top-1, ..., "max_k": top-max_k}`` accuracies."""
    labels, scores = _check(labels, scores)
    rank = np.argsort(-scores, axis=1)
    hit = rank == labels[:, None]
    return {str(k): float(hit[:, :k].any(axis=1).mean())
            for k in range(1, min(max_k, scores.shape[1]) + 1)}


GRID = np.linspace(0.0, 1.0, 101)


def sampled_curves(curves):
    """The curves at 101 fixed points, small enough for the evaluation JSON: ROC's true
    positive rate at false positive rates 0, 0.01, ..., 1 (the highest reached at or below
    each), and PR's interpolated precision (the highest at recall >= r, as COCO samples it)
    at recalls 0, 0.01, ..., 1. ``{class index: {"tpr": [...], "precision": [...]}}``."""
    out = {}
    for c, entry in curves.items():
        if entry.get("roc") is None:
            continue
        fpr, tpr = entry["roc"]
        recall, precision = entry["pr"]
        at = np.searchsorted(fpr, GRID, side="right") - 1
        tpr_grid = np.maximum.accumulate(np.asarray(tpr)[np.clip(at, 0, None)])
        recall, precision = np.asarray(recall), np.asarray(precision)
        prec_grid = np.array([precision[recall >= g].max() if (recall >= g).any() else 0.0
                              for g in GRID])
        out[c] = {"tpr": tpr_grid.round(5).tolist(), "precision": prec_grid.round(5).tolist()}
    return out
