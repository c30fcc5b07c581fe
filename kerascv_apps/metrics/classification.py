"""Classification metrics from numpy arrays (labels and probability/logit outputs)."""

import numpy as np


def accuracy(labels, scores):
    return float(np.mean(np.argmax(scores, axis=-1) == np.asarray(labels).reshape(-1)))


def top_k_accuracy(labels, scores, k=5):
    k = min(int(k), scores.shape[-1])
    top = np.argsort(-scores, axis=-1)[:, :k]
    return float(np.mean(np.any(top == np.asarray(labels).reshape(-1, 1), axis=1)))


def confusion_matrix(labels, predictions, num_classes):
    """Rows = true class, columns = predicted class."""
    cm = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(cm, (np.asarray(labels).reshape(-1), np.asarray(predictions).reshape(-1)), 1)
    return cm


def per_class_report(cm):
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp),
                   where=(precision + recall) > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}
