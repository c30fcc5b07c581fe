"""The source registry and the split container every source returns."""

import dataclasses
import importlib
from typing import Callable, Optional


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


@dataclasses.dataclass(frozen=True)
class SourceEntry:
    name: str
    task: str
    loader: Callable
    description: str


_SOURCES = {}
_loaded = False


def register_source(name, task, description=""):
    """Decorator registering a loader ``fn(**kwargs) -> DatasetSplits`` under ``name``."""

    def decorator(loader):
        _SOURCES[name] = SourceEntry(name, task, loader,
                                     description or (loader.__doc__ or "").strip().split("\n")[0])
        return loader

    return decorator


def _load_all():
    global _loaded
    if not _loaded:
        _loaded = True
        importlib.import_module("kerascv_apps.data.sources")


def list_datasets(task=None):
    _load_all()
    return sorted(n for n, e in _SOURCES.items() if task is None or e.task == task)


def get_source(name):
    _load_all()
    if name not in _SOURCES:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(list_datasets())} "
                        f"(or 'folder:<path>' / 'tfds:<name>')")
    return _SOURCES[name]


def load_dataset(spec, **kwargs):
    """Loads a dataset by name.

    ``spec`` is a registered name (``digits``, ``mnist``, ...), ``tfds:<name>`` for a tfds
    dataset registered here, or ``folder:<path>`` / ``<task>-folder:<path>`` for a folder
    source (the part after the colon becomes the ``root`` argument).
    """
    if ":" in spec:
        kind, arg = spec.split(":", 1)
        if kind == "tfds":
            return get_source(arg).loader(**kwargs)
        kwargs.setdefault("root", arg)
        return get_source(kind).loader(**kwargs)
    return get_source(spec).loader(**kwargs)
