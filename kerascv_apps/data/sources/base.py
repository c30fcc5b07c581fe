"""The source registry and the split container every source returns."""

import dataclasses
from typing import Optional

from kerascv_apps.registry import Registry


class DataError(ValueError):
    """Bad input data; the message names the file or argument and what was expected."""


@dataclasses.dataclass
class DatasetSplits:
    """Train/val/test splits of one dataset (unbatched (image, target) datasets)."""

    name: str
    task: str
    train: object
    val: object
    test: object
    image_shape: tuple
    num_classes: Optional[int] = None
    class_names: Optional[list] = None
    sizes: dict = dataclasses.field(default_factory=dict)
    info: dict = dataclasses.field(default_factory=dict)

    def summary(self):
        return {"name": self.name, "task": self.task, "image_shape": list(self.image_shape),
                "num_classes": self.num_classes, "class_names": self.class_names,
                "sizes": self.sizes, **self.info}


SOURCES = Registry("dataset", ("kerascv_apps.data.sources",), unknown_error=DataError,
                   hint=" (or 'folder:<path>' / 'tfds:<name>')")


def read_class_names(path):
    """Class names from a text file, one per line (blank lines skipped); an empty file is
    refused. Folder sources' ``labels.txt`` / ``classes.txt`` / ``*.names``."""
    with open(path, encoding="utf-8") as f:
        names = [line.strip() for line in f if line.strip()]
    if not names:
        raise DataError(f"{path}: class names file is empty (expected one class name per line)")
    return names


def split_items(parts, seed, val_fraction, test_fraction, where, noun="images"):
    """``{"train", "val", "test"}`` lists from the parts a folder source has: fixed split
    folders are kept; a missing val/test split is drawn (seeded permutation) from ``"train"``
    (or from ``"all"`` when the folder has no split folders). ``where`` names the folder in
    the error raised when there are too few ``noun`` to split."""
    import numpy as np

    parts = dict(parts)
    if "all" in parts or "val" not in parts or "test" not in parts:
        base = "all" if "all" in parts else "train"
        items = parts.pop(base)
        order = np.random.default_rng(seed).permutation(len(items))
        n_val = 0 if "val" in parts else max(1, int(round(len(order) * val_fraction)))
        n_test = 0 if "test" in parts else max(1, int(round(len(order) * test_fraction)))
        if len(order) - n_val - n_test < 1:
            raise DataError(f"{where}: {len(order)} {noun} are too few to split into "
                            f"train/val/test (needs {n_val + n_test + 1}: {n_val} val, "
                            f"{n_test} test, 1 train)")
        if n_val:
            parts["val"] = [items[i] for i in sorted(order[:n_val])]
        if n_test:
            parts["test"] = [items[i] for i in sorted(order[n_val:n_val + n_test])]
        parts["train"] = [items[i] for i in sorted(order[n_val + n_test:])]
    return parts


def register_source(name=None, task=None, description=""):
    """Decorator registering a loader ``fn(**kwargs) -> DatasetSplits`` under ``name``."""
    return SOURCES.register(name, task=task, description=description)


def list_datasets(task=None):
    return SOURCES.names(task=task)


def get_source(name):
    return SOURCES.get(name)


def load_dataset(spec, **kwargs):
    """Loads a dataset by name.

    ``spec`` is a registered name (``digits``, ``mnist``, ...), ``tfds:<name>`` for any
    prepared tensorflow_datasets dataset (its own source when one is registered under that
    name), or ``<source>:<path>`` (``folder:``, ``seg_folder:``, ``tfrecord:``, ...) where the
    part after the colon becomes the ``root`` argument.
    """
    if ":" in spec:
        kind, arg = spec.split(":", 1)
        if kind == "tfds":
            if arg in SOURCES.names():
                return get_source(arg).loader(**kwargs)
            return get_source("tfds").loader(arg, **kwargs)  # any prepared TFDS dataset
        kwargs.setdefault("root", arg)
        return get_source(kind).loader(**kwargs)
    return get_source(spec).loader(**kwargs)
