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
