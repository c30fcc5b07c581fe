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
