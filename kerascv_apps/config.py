"""Typed run configs: what a training run is, with its defaults in one place.

A :class:`TrainConfig` is built once, from CLI flags, a recipe or a file, validated there, and
handed to ``train_model`` (``config.train_kwargs()``). ``train_model`` records it in the run's
``run.json`` (key ``config``), so ``kerascv-apps train --config runs/x/run.json --run-dir
runs/y`` trains the same run again; a JSON or YAML file a user writes with the same keys works
the same. Unknown keys are refused naming the key and the file.

Pure Python (no Keras, no TensorFlow): the CLI reads its flag defaults from here.
"""

import dataclasses
import json
import os
import typing
from typing import Optional


class ConfigError(ValueError):
    """A config file or value that cannot be used (exit code 2 in the CLI)."""


CHOICES = {
    "optimizer": ("sgd", "adam", "adamw", "rmsprop"),
    "schedule": ("constant", "cosine", "step", "exponential"),
    "augment": ("none", "tf", "albumentations"),
    "jit_compile": ("auto", "on", "off"),
    "precision": ("auto", "float32", "mixed_float16", "mixed_bfloat16"),
    "strategy": (None, "mirrored", "multiworker", "tpu"),
}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run (everything but where it is written and whether to overwrite).

    ``dataset`` None: the task's bundled dataset; ``steps_per_epoch`` None: the task's choice;
    ``strategy`` None: the default device (see ``training.distribute``)."""

    model: str
    dataset: Optional[str] = None
    dataset_kwargs: dict = dataclasses.field(default_factory=dict)
    model_kwargs: dict = dataclasses.field(default_factory=dict)
    task_kwargs: dict = dataclasses.field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 64
    steps_per_epoch: Optional[int] = None
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    augment: str = "tf"
    early_stopping_patience: Optional[int] = None
    divergence_factor: float = 100.0
    jit_compile: str = "auto"
    precision: str = "auto"
    seed: int = 0
    strategy: Optional[str] = None
    weights: Optional[str] = None
    trainable_blocks: int = 1

    def __post_init__(self):
        where = getattr(self, "_source", "config")
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            _check_type(field, value, where)
        for key, allowed in CHOICES.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"{where}: {key} must be one of "
                                  f"{[a for a in allowed if a is not None]}, got "
                                  f"{getattr(self, key)!r}")

    def to_dict(self):
        return dataclasses.asdict(self)

    def train_kwargs(self):
        """Keyword arguments of ``train_model`` (its first argument is ``model``)."""
        kwargs = self.to_dict()
        kwargs["model_name"] = kwargs.pop("model")
        return kwargs

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data, source="config"):
        """A config from a dict; unknown keys are refused naming the key and ``source``."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping of config keys, got "
                              f"{type(data).__name__}")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"{source}: unknown key {unknown[0]!r}"
                              + (f" (and {unknown[1:]})" if unknown[1:] else "")
                              + f"; known keys: {', '.join(known)}")
        if "model" not in data:
            raise ConfigError(f"{source}: the key 'model' is required")
        obj = cls.__new__(cls)
        object.__setattr__(obj, "_source", source)
        cls.__init__(obj, **data)
        return obj


DEFAULTS = {f.name: (f.default_factory() if f.default_factory is not dataclasses.MISSING
                    else f.default)
            for f in dataclasses.fields(TrainConfig) if f.name != "model"}


def _check_type(field, value, where):
    expected = field.type
    if typing.get_origin(expected) is typing.Union:  # Optional[...]
        if value is None:
            return
        expected = next(a for a in typing.get_args(expected) if a is not type(None))
    name = expected.__name__
    if expected is float:
        expected = (int, float)
    if isinstance(value, bool) or not isinstance(value, expected):
        raise ConfigError(f"{where}: {field.name} must be {name}, got {value!r}")


def load_config(path):
    """A :class:`TrainConfig` from a JSON or YAML file: a config, or a run's ``run.json`` (its
    ``config`` key)."""
    if not os.path.isfile(path):
        raise ConfigError(f"--config {path}: no such file (expected a JSON or YAML config, or a "
                          "run's run.json)")
    with open(path) as f:
        text = f.read()
    try:
        if path.endswith((".yaml", ".yml")):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as e:  # noqa: BLE001  (JSON and YAML errors alike)
        raise ConfigError(f"--config {path}: cannot parse ({e})") from e
    if isinstance(data, dict) and "config" in data and "device_policy" in data:  # a run.json
        data = data["config"]
    return TrainConfig.from_dict(data, source=path)
