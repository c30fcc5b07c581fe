"""One registry for every model: ``build_model(name, **kwargs)`` and ``list_models(task=...)``.

Adding a variant is one small decorated function::

    @register_model("lenet5", task="classification", family="lenet")
    def lenet5(input_shape=(32, 32, 1), num_classes=10, **kwargs):
        return LeNet5(input_shape=input_shape, num_classes=num_classes, **kwargs)
"""

import dataclasses
import importlib
from typing import Callable

TASKS = ("classification", "segmentation", "super_resolution")

# Modules whose import registers models; imported lazily on first registry use so that
# ``import kerascv_apps`` stays cheap and model modules stay independent of each other.
_MODEL_PACKAGES = (
    "kerascv_apps.models.classification",
    "kerascv_apps.models.segmentation",
    "kerascv_apps.models.super_resolution",
)


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    name: str
    task: str
    family: str
    builder: Callable
    description: str


_REGISTRY: dict = {}
_loaded = False


class UnknownModelError(KeyError):
    """Raised for a model name that is not registered; the message lists the known names."""

    def __str__(self):  # KeyError would quote the whole message
        return self.args[0]


def register_model(name, task, family=None, description=""):
    """Decorator registering ``builder`` under ``name`` for ``task``."""
    if task not in TASKS:
        raise ValueError(f"register_model({name!r}): task must be one of {TASKS}, got {task!r}")

    def decorator(builder):
        if name in _REGISTRY and _REGISTRY[name].builder is not builder:
            raise ValueError(f"model name {name!r} is already registered by "
                             f"{_REGISTRY[name].builder.__module__}")
        doc = description or (builder.__doc__ or "").strip().split("\n")[0]
        _REGISTRY[name] = ModelEntry(name, task, family or name, builder, doc)
        return builder

    return decorator


def _load_all():
    global _loaded
    if not _loaded:
        _loaded = True
        for module in _MODEL_PACKAGES:
            importlib.import_module(module)


def get_entry(name) -> ModelEntry:
    _load_all()
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownModelError(f"unknown model {name!r}; known models: {known}")
    return _REGISTRY[name]


def build_model(name, **kwargs):
    """Builds the registered model ``name``; keyword arguments go to its builder."""
    return get_entry(name).builder(**kwargs)


def list_models(task=None, family=None):
    """Sorted names of registered models, optionally filtered by task and family."""
    _load_all()
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    return sorted(n for n, e in _REGISTRY.items()
                  if (task is None or e.task == task) and (family is None or e.family == family))
