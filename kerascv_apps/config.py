"""Typed run configs: what a training run (:class:`TrainConfig`) and an export
(:class:`ExportConfig`) are, with their defaults in one place.

A :class:`TrainConfig` is built once, from CLI flags, a recipe or a file, validated there, and
handed to ``train_model`` (``config.train_kwargs()``). ``train_model`` records it in the run's
``run.json`` (key ``config``), so ``kerascv-apps train --config runs/x/run.json --run-dir
runs/y`` trains the same run again; a JSON or YAML file a user writes with the same keys works
the same. Unknown keys are refused naming the key and the file.

An :class:`ExportConfig` is what ``kerascv-apps export`` (``--config FILE`` and its flags)
and ``export_model`` take; the export report records it (key ``config``).

Pure Python (no Keras, no TensorFlow): the CLI reads its flag defaults from here.
"""

import dataclasses
import json
import math
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


class _Config:
    """What every typed config shares: field types checked and choices refused when built
    (``where`` names the file or source), ``to_dict``, ``replace`` and ``from_dict``."""

    REQUIRED = ()
    CHOICES = {}

    def __post_init__(self):
        where = getattr(self, "_source", "config")
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, list) and _base_type(field.type) is tuple:  # from JSON/YAML
                value = tuple(value)
                object.__setattr__(self, field.name, value)
            _check_type(field, value, where)
        for key, allowed in self.CHOICES.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"{where}: {key} must be one of "
                                  f"{[a for a in allowed if a is not None]}, got "
                                  f"{getattr(self, key)!r}")
        self.validate(where)

    def validate(self, where):
        """Checks across fields (after the types and choices)."""

    def to_dict(self):
        return dataclasses.asdict(self)

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
        for key in cls.REQUIRED:
            if key not in data:
                raise ConfigError(f"{source}: the key {key!r} is required")
        obj = cls.__new__(cls)
        object.__setattr__(obj, "_source", source)
        cls.__init__(obj, **data)
        return obj


@dataclasses.dataclass(frozen=True)
class TrainConfig(_Config):
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

    REQUIRED = ("model",)
    CHOICES = CHOICES

    def train_kwargs(self):
        """Keyword arguments of ``train_model`` (its first argument is ``model``)."""
        kwargs = self.to_dict()
        kwargs["model_name"] = kwargs.pop("model")
        return kwargs


DEFAULTS = {f.name: (f.default_factory() if f.default_factory is not dataclasses.MISSING
                    else f.default)
            for f in dataclasses.fields(TrainConfig) if f.name != "model"}


def _base_type(annotation):
    if typing.get_origin(annotation) is typing.Union:  # Optional[...]
        return next(a for a in typing.get_args(annotation) if a is not type(None))
    return annotation


def _check_type(field, value, where):
    if value is None and typing.get_origin(field.type) is typing.Union:
        return
    expected = _base_type(field.type)
    name = expected.__name__
    if expected is float:
        expected = (int, float)
    if expected is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {field.name} must be bool (true/false), got {value!r}")
        return
    if isinstance(value, bool) or not isinstance(value, expected):
        raise ConfigError(f"{where}: {field.name} must be {name}, got {value!r}")


def _read_config_file(path, flag="--config"):
    """The mapping in a JSON or YAML file (errors name ``flag`` and the file)."""
    if not os.path.isfile(path):
        raise ConfigError(f"{flag} {path}: no such file (expected a JSON or YAML config)")
    with open(path) as f:
        text = f.read()
    try:
        if path.endswith((".yaml", ".yml")):
            import yaml

            return yaml.safe_load(text)
        return json.loads(text)
    except Exception as e:  # noqa: BLE001  (JSON and YAML errors alike)
        raise ConfigError(f"{flag} {path}: cannot parse ({e})") from e


def load_config(path):
    """A :class:`TrainConfig` from a JSON or YAML file: a config, or a run's ``run.json`` (its
    ``config`` key)."""
    if not os.path.isfile(path):
        raise ConfigError(f"--config {path}: no such file (expected a JSON or YAML config, or a "
                          "run's run.json)")
    data = _read_config_file(path)
    if isinstance(data, dict) and "config" in data and "device_policy" in data:  # a run.json
        data = data["config"]
    return TrainConfig.from_dict(data, source=path)


# what export_model can write (export/pipeline.py FORMATS: the same, a test compares them)
EXPORT_FORMATS = ("savedmodel", "float32", "float16", "dynamic", "int8", "int16x8",
                  "litert_int8", "litert_int16x8", "onnx", "onnx_int8")


@dataclasses.dataclass(frozen=True)
class ExportConfig(_Config):
    """One export of a trained model (everything but the model, where it is written and
    whether to overwrite): ``kerascv-apps export`` and ``export_model`` take it.

    ``formats``: a subset of ``EXPORT_FORMATS``. ``max_quality_drop``: the largest allowed
    drop of the task's quality metric for the int8 files (metric units: 0.01 = 1 accuracy
    point; negative demands a gain). ``limit``: verify on at most this many test examples
    (None: all). ``num_calibration``: representative training images for full-integer
    calibration. ``integer_io``: the int8 file's input/output type (uint8 for MediaPipe).
    ``tflite_input_shape``: the TFLite input shape, e.g. ``[1, null, null, 3]`` (None: 1 + the
    model's). ``rgb_input``: a grayscale model's TFLite files take RGB images.
    ``batch_size`` / ``latency_runs``: verification batch and timed runs per file."""

    formats: tuple = ("savedmodel", "float32", "float16", "dynamic", "int8")
    max_quality_drop: float = 0.01
    limit: Optional[int] = None
    num_calibration: int = 200
    integer_io: str = "uint8"
    tflite_input_shape: Optional[tuple] = None
    rgb_input: bool = True
    version: str = "1"
    description: Optional[str] = None
    batch_size: int = 32
    latency_runs: int = 50

    CHOICES = {"integer_io": ("uint8", "int8")}

    def validate(self, where):
        unknown = [f for f in self.formats if f not in EXPORT_FORMATS]
        if unknown or not self.formats:
            raise ConfigError(f"{where}: formats {list(self.formats)}: unknown {unknown}; "
                              f"choose from {', '.join(EXPORT_FORMATS)}")
        if not math.isfinite(self.max_quality_drop):
            raise ConfigError(f"{where}: max_quality_drop must be finite, got "
                              f"{self.max_quality_drop!r}")
        for key in ("limit", "num_calibration", "batch_size", "latency_runs"):
            value = getattr(self, key)
            if value is not None and value <= 0:
                raise ConfigError(f"{where}: {key} must be > 0, got {value!r}")
        shape = self.tflite_input_shape
        if shape is not None and (len(shape) != 4 or not all(
                d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0)
                for d in shape)):
            raise ConfigError(f"{where}: tflite_input_shape must be 4 sizes (positive integers "
                              f"or null), e.g. [1, null, null, 3], got {list(shape)!r}")


def load_export_config(path):
    """An :class:`ExportConfig` from a JSON or YAML file of its keys, or from an export
    report (its ``config`` key)."""
    data = _read_config_file(path)
    if isinstance(data, dict) and "config" in data and "formats" in data \
            and isinstance(data["formats"], dict):  # an export_report.json
        data = data["config"]
    return ExportConfig.from_dict(data, source=path)


# --- recipes: their training flags come from TrainConfig --------------------------------------

# flag names of TrainConfig keys whose flag is not ``--<key-with-dashes>`` (first: the shown
# name; the others are accepted too)
RECIPE_FLAGS = {"learning_rate": ("--learning-rate", "--lr"),
                "early_stopping_patience": ("--early-stopping",), "jit_compile": ("--xla",)}


def add_config_arguments(parser, keys, **defaults):
    """Adds a flag per TrainConfig key in ``keys`` to ``parser`` (argparse), typed and with
    the config's choices; ``defaults``: the recipe's values (else the config's; None: "the
    recipe decides", left out of the config). ``config_from_args`` turns the parsed flags
    into the run's TrainConfig, checked once there."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    for key in keys:
        if key not in fields or key == "model":
            raise ValueError(f"{key!r} is not a TrainConfig key a recipe flag can set; "
                             f"known: {', '.join(k for k in fields if k != 'model')}")
        kind = _base_type(fields[key].type)
        if kind not in (int, float, str):
            raise ValueError(f"TrainConfig key {key!r} ({kind.__name__}) has no flag; the "
                             f"recipe sets it")
        kwargs = {"dest": key, "type": kind, "default": defaults.get(key, DEFAULTS[key]),
                  "help": f"TrainConfig {key}"}
        if key in CHOICES:
            kwargs["choices"] = [c for c in CHOICES[key] if c is not None]
        if kwargs["default"] is None:
            kwargs["help"] += " (default: the recipe's choice)"
        parser.add_argument(*RECIPE_FLAGS.get(key, ("--" + key.replace("_", "-"),)), **kwargs)
    return parser


def config_from_args(args, keys, model, **values):
    """The recipe's TrainConfig: ``values`` (its fixed settings, TrainConfig keys) with the
    parsed flags of ``keys`` (``add_config_arguments``) on top; validated once."""
    given = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
    return TrainConfig.from_dict({"model": model, **values, **given},
                                 source="the recipe's arguments")


def recipe_config(config, defaults, settings):
    """The run's TrainConfig in ``kerascv_apps.end_to_end``: ``config`` (a TrainConfig) with
    ``settings`` replaced, or a model name with ``settings`` over the recipe family's
    ``defaults`` (TrainConfig keys; None values are left out); validated once."""
    settings = {k: v for k, v in settings.items() if v is not None}
    if isinstance(config, TrainConfig):
        return config.replace(**settings) if settings else config
    return TrainConfig.from_dict({"model": config, **defaults, **settings},
                                 source="the recipe's settings")


# what a recipe flag's spec may say besides its default and help (argparse's meanings)
_FLAG_OPTIONS = ("default", "help", "choices", "metavar", "required", "type")


def add_recipe_arguments(parser, flags):
    """A recipe's own flags (what is not a TrainConfig key: data sizes, model variants,
    export switches), declared as ``{key: (default, help)}`` or ``{key: (default, help,
    choices)}``, or as a dict of ``default``, ``help``, ``choices``, ``metavar``, ``required``
    and ``type`` (a function of the text, for values like ``key=value``); the flag is
    ``--<key-with-dashes>`` and its type follows the default (``None``: str). A bool default is
    a switch that flips it: ``--key`` when False, ``--no-key`` when True (``args.key`` either
    way). A list default (``[]``) is a repeatable flag: ``args.key`` lists every value given."""
    for key, spec in flags.items():
        spec = dict(spec) if isinstance(spec, dict) else dict(zip(("default", "help", "choices"),
                                                                  spec))
        unknown = sorted(set(spec) - set(_FLAG_OPTIONS))
        if unknown:
            raise ValueError(f"recipe flag {key!r}: unknown option {unknown[0]!r}; known: "
                             f"{', '.join(_FLAG_OPTIONS)}")
        default, help_text = spec.get("default"), spec.get("help")
        flag = "--" + key.replace("_", "-")
        extra = {k: spec[k] for k in ("metavar", "required") if k in spec}
        if isinstance(default, bool):
            parser.add_argument(flag if not default else "--no-" + flag[2:], dest=key,
                                action="store_false" if default else "store_true",
                                default=default, help=help_text)
            continue
        if isinstance(default, list):
            if default:
                raise ValueError(f"recipe flag {key!r}: a repeatable flag starts empty ([]), "
                                 f"got {default!r}")
            parser.add_argument(flag, dest=key, action="append", default=[],
                                type=spec.get("type", str), choices=spec.get("choices"),
                                help=help_text, **extra)
            continue
        kind = spec.get("type") or (str if default is None else type(default))
        if "type" not in spec and kind not in (int, float, str):
            raise ValueError(f"recipe flag {key!r}: default {default!r} is not a bool, int, "
                             f"float, str, None or [] (a repeatable flag)")
        parser.add_argument(flag, dest=key, type=kind, default=default,
                            choices=spec.get("choices"), help=help_text, **extra)
    return parser


def recipe_parser(description, run_dir, keys=(), defaults=None, flags=None, *, arguments=None,
                  overwrite=True):
    """The command line of a recipe: its positional ``arguments`` (``{name: help}``, e.g. a
    model file to score), ``--run-dir`` (default ``run_dir``; None: no such flag, the recipe
    names its own output folder), a flag per TrainConfig key in ``keys``
    (``add_config_arguments``, with the recipe's ``defaults``), the recipe's own ``flags``
    (``add_recipe_arguments``) and ``--overwrite`` (``overwrite=False``: a recipe that
    replaces nothing has no such flag). The recipe then builds its TrainConfig with
    ``config_from_args``. Every script under ``recipes/`` parses its command line here."""
    import argparse

    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, help_text in (arguments or {}).items():
        parser.add_argument(name, help=help_text)
    if run_dir is not None:
        parser.add_argument("--run-dir", default=run_dir)
    add_config_arguments(parser, keys, **(defaults or {}))
    add_recipe_arguments(parser, flags or {})
    if overwrite:
        parser.add_argument("--overwrite", action="store_true",
                            help="replace a finished run in --run-dir")
    return parser
