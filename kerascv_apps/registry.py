"""One registry mechanism for models, tasks and data sources.

Every kind of thing the package builds by name (a model, a task, a data source) lives in a
:class:`Registry`: members register with a decorator, the registry discovers them by importing
the sub-packages it was given (lazily, on first use, so ``import kerascv_apps`` stays cheap),
and a second registration of a name is refused with the module that registered it first.

Adding a model variant is one small decorated function whose name is the model name::

    @register_model(task="classification", family="lenet")
    def lenet5(**kwargs):
        return _create_lenet(lenet5, dict(filters=(6, 16)), **kwargs)
"""

import dataclasses
import importlib
import pkgutil
from typing import Any, Callable, Optional



class UnknownNameError(KeyError):
    """A name that is not registered; the message lists the known names."""

    def __str__(self):  # KeyError would quote the whole message
        return self.args[0]


UnknownModelError = UnknownNameError


@dataclasses.dataclass(frozen=True)
class Entry:
    """One registered member: its name, task, family, the object, a one-line description and
    ``info``: what the member declares about itself when it registers, read without building
    it (e.g. a super-resolution model's ``scale``)."""

    name: str
    task: Optional[str]
    family: Optional[str]
    obj: Any
    description: str
    info: dict = dataclasses.field(default_factory=dict, hash=False)

    @property
    def builder(self) -> Callable:  # models: the builder function
        return self.obj

    @property
    def loader(self) -> Callable:  # data sources: the loader function
        return self.obj


def import_package(package, recursive=False):
    """Imports ``package`` and every public module in it (their decorators register members);
    ``recursive``: the public modules of its public sub-packages too."""
    module = importlib.import_module(package)
    for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
        if not info.name.startswith("_"):
            if info.ispkg and recursive:
                import_package(f"{package}.{info.name}", recursive=True)
            else:
                importlib.import_module(f"{package}.{info.name}")


class Registry:
    """Named members of one kind, discovered from ``packages`` on first use."""

    def __init__(self, kind, packages, unknown_error=UnknownNameError, hint="", recursive=False):
        self.kind = kind
        self.packages = tuple(packages)
        self.recursive = recursive
        self.unknown_error = unknown_error
        self.hint = hint
        self._entries = {}
        self._loaded = False

    def register(self, name=None, *, task=None, family=None, description="", info=None):
        """Decorator; ``name`` defaults to the decorated object's ``__name__``; ``task`` must
        be a registered task; ``info``: the member's declared facts (``Entry.info``)."""
        if task is not None:
            check_task(task, f"{self.kind} {name!r}: ")

        def decorator(obj):
            key = name or obj.__name__
            previous = self._entries.get(key)
            if previous is not None and previous.obj is not obj:
                raise ValueError(f"{self.kind} name {key!r} is already registered by "
                                 f"{previous.obj.__module__}; {obj.__module__} registers it again")
            doc = description or (obj.__doc__ or "").strip().split("\n")[0]
            self._entries[key] = Entry(key, task, family or key, obj, doc, dict(info or {}))
            return obj

        return decorator

    def load_all(self):
        if not self._loaded:
            self._loaded = True
            for package in self.packages:
                import_package(package, recursive=self.recursive)

    def unregister(self, name):
        """Removes ``name`` (for tests that register a member of their own)."""
        self._entries.pop(name, None)

    def get(self, name) -> Entry:
        self.load_all()
        if name not in self._entries:
            known = ", ".join(sorted(self._entries))
            raise self.unknown_error(f"unknown {self.kind} {name!r}; known {self.kind}s: "
                                     f"{known}{self.hint}")
        return self._entries[name]

    def names(self, task=None, family=None):
        self.load_all()
        if task is not None:
            check_task(task)
        return sorted(n for n, e in self._entries.items()
                      if (task is None or e.task == task) and (family is None or e.family == family))

    def __contains__(self, name):
        self.load_all()
        return name in self._entries


TASKS = Registry("task", ("kerascv_apps.tasks",))


def check_task(task, where=""):
    """Raises ``ValueError`` unless ``task`` is a registered task name."""
    if task not in TASKS:
        raise ValueError(f"{where}task must be one of {tuple(TASKS.names())}, got {task!r}")


# every sub-package of kerascv_apps.models (one per task: a new task's folder is found too)
MODELS = Registry("model", ("kerascv_apps.models",), recursive=True)


def register_model(name=None, task=None, family=None, description="", info=None):
    """Decorator registering a model builder; the model name defaults to the function name.
    ``info``: what the variant declares without being built (``Entry.info``; e.g. the
    ``scale`` of a super-resolution model, which its task reads to load data of that scale)."""
    if task is None:
        raise ValueError(f"register_model({name!r}): task is required (a registered task name)")
    return MODELS.register(name, task=task, family=family, description=description, info=info)


def get_entry(name) -> Entry:
    return MODELS.get(name)


ModelEntry = Entry


def build_model(name, **kwargs):
    """Builds the registered model ``name``; keyword arguments go to its builder."""
    return get_entry(name).builder(**kwargs)


def list_models(task=None, family=None):
    """Sorted names of registered models, optionally filtered by task and family."""
    return MODELS.names(task=task, family=family)
