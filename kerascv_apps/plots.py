"""PNG figures: training curves and confusion matrices (matplotlib, Agg backend, atomic)."""

import os

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    from kerascv_apps.io import atomic_file

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_file(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def plot_history(history, path, title="training curves"):
    """Loss and every other metric, train vs validation, one panel each."""
    plt = _pyplot()
    names = [k for k in history if not k.startswith("val_") and k not in ("epoch", "learning_rate")]
    if not names:
        raise ValueError("history holds no metric to plot")
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names):
        values = np.asarray(history[name])
        epochs = np.arange(1, len(values) + 1)
        ax.plot(epochs, values, label="train", marker="o", ms=3)
        if f"val_{name}" in history:
            ax.plot(epochs, np.asarray(history[f"val_{name}"]), label="validation", marker="o", ms=3)
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title, y=1.04)
    return _save(fig, path)


def plot_confusion_matrix(cm, class_names, path, title="confusion matrix (test)"):
    plt = _pyplot()
    cm = np.asarray(cm)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(max(4, 0.5 * n + 2), max(3.5, 0.5 * n + 1.5)))
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), class_names, rotation=45 if n > 10 else 0)
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 20:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(title)
    return _save(fig, path)


def plot_class_curves(results, path, kind="roc"):
    """Per-class ROC (``kind="roc"``) or precision-recall (``"pr"``) curves from a
    classification evaluation (``results["curves"]``, 101 points each), the class's area in
    the legend."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    grid = np.asarray(results["curves"]["grid"])
    per_class = results["curves"]["per_class"]
    for name, points in per_class.items():
        stats = results["per_class"][name]
        if kind == "roc":
            ax.plot(grid, points["tpr"], lw=1.2, label=f"{name} (AUC {stats['roc_auc']:.3f})")
        else:
            ax.plot(grid, points["precision"], lw=1.2, drawstyle="steps-post",
                    label=f"{name} (AP {stats['average_precision']:.3f})")
    if kind == "roc":
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
    else:
        ax.set_xlabel("recall")
        ax.set_ylabel("interpolated precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right" if kind == "roc" else "lower left",
              ncol=2 if len(per_class) > 10 else 1)
    ax.set_title(f"{'ROC' if kind == 'roc' else 'precision-recall'} per class (test, one vs rest)")
    return _save(fig, path)


def plot_reliability(rows, ece, path, bins=15):
    """Reliability diagram: accuracy per confidence bin against the diagonal, with counts."""
    plt = _pyplot()
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(4.6, 5.2), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1]})
    width = 1.0 / bins
    lows = [r["low"] for r in rows]
    ax.bar(lows, [r["accuracy"] for r in rows], width=width, align="edge", edgecolor="k",
           alpha=0.8, label="accuracy")
    ax.bar(lows, [abs(r["confidence"] - r["accuracy"]) for r in rows], width=width,
           align="edge", bottom=[min(r["accuracy"], r["confidence"]) for r in rows],
           color="tab:red", alpha=0.3, label="|confidence - accuracy|")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    ax.set_title(f"reliability (test): ECE {ece:.4f}")
    hist.bar(lows, [r["count"] for r in rows], width=width, align="edge", edgecolor="k")
    hist.set_xlabel("top-1 confidence")
    hist.set_ylabel("images")
    hist.set_xlim(0, 1)
    return _save(fig, path)


def plot_iou_vs_boundary_distance(result, path, colors=None):
    """Per-class IoU against the distance to the true boundaries (segmentation evaluation's
    ``iou_vs_boundary_distance``), pixel counts per bin below."""
    plt = _pyplot()
    labels = [f"{lo:g}-{hi:g}" if hi is not None else f">={lo:g}" for lo, hi in result["bins"]]
    x = np.arange(len(labels))
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(5.6, 5.0), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1]})
    for i, (name, values) in enumerate(result["iou"].items()):
        y = np.array([np.nan if v is None else v for v in values], np.float64)
        ax.plot(x, y, marker="o", ms=3, label=name,
                color=None if colors is None else colors[i % len(colors)])
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("IoU")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("IoU vs distance to the true boundaries (test)")
    hist.bar(x, result["pixels"], color="gray")
    hist.set_ylabel("pixels")
    hist.set_xticks(x, labels)
    hist.set_xlabel("distance to the nearest true boundary (pixels)")
    return _save(fig, path)
