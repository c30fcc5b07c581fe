"""Task options: the constructor arguments of each Task a user may set (``--task-arg key=value``,
``--task-args-file FILE.json``, ``train_model(task_kwargs=...)``), each with its parser and the
values it accepts.

Declared here, in a module that imports nothing heavy, so ``--help`` can list them without
loading Keras; each Task class points at its declaration (``Task.options``) and a test checks
that every declared name is an argument of that Task's constructor. Options reach the Task
through its constructor only: a key that is not declared is refused, never set as an attribute.
"""

import dataclasses
import json
import math
import os


@dataclasses.dataclass(frozen=True)
class Option:
    """One task option: ``parse(value)`` returns the checked value or raises ``ValueError``;
    ``accepted`` says what it takes (shown in --help and in errors)."""

    name: str
    parse: object
    accepted: str
    help: str = ""


def _bool(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError("expected true or false")


def _int(minimum, maximum=None):
    def parse(value):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError("expected an integer")
        try:
            number = int(value) if not isinstance(value, float) else value
        except ValueError:
            raise ValueError("expected an integer") from None
        if number != int(number) or number < minimum or (maximum is not None and number > maximum):
            upper = f" and <= {maximum}" if maximum is not None else ""
            raise ValueError(f"expected an integer >= {minimum}{upper}")
        return int(number)
    return parse


def _float(minimum, strict=False):
    def parse(value):
        try:
            number = float(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None or not math.isfinite(number) or number < minimum or \
                (strict and number == minimum):
            raise ValueError(f"expected a number {'>' if strict else '>='} {minimum}")
        return number
    return parse


def _choice(*names):
    def parse(value):
        if value not in names:
            raise ValueError(f"expected one of {', '.join(names)}")
        return value
    return parse


SEGMENTATION_LOSS_TERMS = ("ce", "dice", "focal")


def _segmentation_loss(value):
    """``ce``, ``dice``, ``focal`` or a weighted sum (``ce+dice``, ``ce+0.5*dice``); a loss
    object passes unchanged (Python callers)."""
    if not isinstance(value, str):
        if callable(value):
            return value
        raise ValueError("expected a loss spec string")
    for part in value.split("+"):
        weight, _, name = part.strip().rpartition("*")
        if name not in SEGMENTATION_LOSS_TERMS:
            raise ValueError(f"unknown term {name!r}")
        if weight:
            try:
                ok = math.isfinite(float(weight)) and float(weight) > 0
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"term weight {weight!r} is not a positive number")
    return value


MEDIAN_FREQUENCY = "median_frequency"


def _class_weights(value):
    if value is None or value == MEDIAN_FREQUENCY:
        return value
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError("expected a list of weights, one per class, or median_frequency")
    parse = _float(0.0)
    return [parse(v) for v in value]


def _file_or_none(value):
    if value is None:
        return None
    if not isinstance(value, str) or not os.path.isfile(value):
        raise ValueError(f"no such file: {value!r}")
    return value


def _degradations(value):
    from_names = ("bicubic_antialias", "bicubic", "area")  # sr_common.DOWNSCALERS
    if value is None:
        return None
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError("expected a list of downscalers")
    unknown = [v for v in value if v not in from_names]
    if unknown:
        raise ValueError(f"unknown downscaler(s) {unknown}")
    return tuple(value)


def _dict(value):
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError("expected a JSON object") from None
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return dict(value)


OPTIONS = {
    "classification": (
        Option("top_k", _int(1), "INT >= 1", "the k of the top-k accuracy"),
    ),
    "segmentation": (
        Option("loss", _segmentation_loss, "ce|dice|focal|ce+dice (weighted sums like "
               "ce+0.5*dice)", "training loss of the masks"),
        Option("class_weights", _class_weights, "[w0,w1,...]|median_frequency",
               "per-class loss weights; median_frequency computes them from the training masks "
               "(Eigen & Fergus 2015)"),
        Option("ignore_index", _int(0, 255), "INT 0..255", "mask value left out of the loss "
               "and the metrics"),
        Option("boundary_tolerance", _int(0), "INT >= 0", "pixels of tolerance of boundary F1"),
        Option("border_weights", _bool, "true|false", "U-Net's border weight map (needs "
               "--dataset-arg instances=true)"),
        Option("w0", _float(0.0, strict=True), "FLOAT > 0", "border weight map w0"),
        Option("sigma", _float(0.0, strict=True), "FLOAT > 0", "border weight map sigma (px)"),
    ),
    "super_resolution": (
        Option("pixel_loss", _choice("l1", "mse", "l1_y", "mse_y"), "l1|mse|l1_y|mse_y",
               "pixel loss on RGB, or on the luma only (_y; ESPCN's paper: mse_y)"),
        Option("patch_size", _int(4), "INT >= 4", "LR size of the training crops"),
        Option("degradations", _degradations, "[bicubic_antialias,bicubic,area]|null",
               "downscalers drawn for training LR inputs"),
        Option("adversarial", _bool, "true|false", "SRGAN adversarial phase"),
        Option("vgg_weights", _file_or_none, "PATH|null", "VGG19 weights file of the "
               "adversarial content loss"),
        Option("content_layer", _choice(*[f"block{b}_conv{c}" for b in range(1, 6)
                                          for c in range(1, 5) if not (b < 3 and c > 2)]),
               "block5_conv4|block2_conv2|... (a VGG19 conv layer)", "content loss layer"),
        Option("allow_random_features", _bool, "true|false", "adversarial phase without VGG "
               "weights (random features)"),
        Option("pixel_weight", _float(0.0), "FLOAT >= 0", "pixel loss weight beside the "
               "content loss"),
        Option("discriminator_kwargs", _dict, "JSON object", "srgan_discriminator builder "
               "arguments"),
    ),
    "detection": (
        Option("score_threshold", _float(0.0), "FLOAT >= 0", "decoded detections scoring at "
               "most this are dropped (COCO evaluation customarily keeps scores > 0.05)"),
        Option("iou_threshold", _float(0.0, strict=True), "FLOAT > 0", "non-maximum "
               "suppression IoU of the decoding"),
        Option("max_detections", _int(1), "INT >= 1", "detections kept per image (COCO: 100)"),
        Option("draw_threshold", _float(0.0), "FLOAT >= 0", "score from which predict and the "
               "pictures draw a detection"),
        Option("box_augment", _choice("full", "flip"), "full|flip", "what --augment tf / "
               "albumentations does: full (scale-crop, horizontal flip, brightness/contrast) "
               "or flip (horizontal flips only, boxes mirrored with the image)"),
    ),
    "restoration": (
        Option("pixel_loss", _choice("mse", "l1"), "mse|l1", "pixel loss on RGB"),
        Option("patch_size", _int(8), "INT >= 8", "side of the training crops"),
        Option("min_gain", _float(0.0, strict=True), "FLOAT in (0, 1]", "lowest random "
               "per-channel gain of the training crops (1: off)"),
        Option("tile", _int(16), "INT >= 16", "core size of the tiled predictor"),
        Option("context", _int(0), "INT >= 0", "context pixels of each tile (receptive "
               "field radius)"),
        Option("baselines", _bool, "true|false", "classical baselines beside the model in "
               "evaluate"),
    ),
    "generation": (
        Option("generator_loss", _choice("non_saturating", "minimax"), "non_saturating|minimax",
               "DCGAN generator loss: -log D(G(z)) or log(1 - D(G(z))) (the objective as "
               "written)"),
        Option("discriminator_kwargs", _dict, "JSON object", "dcgan_discriminator builder "
               "arguments"),
        Option("classifier", _file_or_none, "PATH|null", "a .keras classifier of the data's "
               "classes (e.g. a lenet5 digits run): sample score and Frechet distance"),
        Option("num_samples", _int(2), "INT >= 2", "samples drawn for the sample score"),
        Option("knn_neighbors", _int(1), "INT >= 1", "k of the k-NN classifier on codes"),
        Option("seed", _int(0), "INT >= 0", "seed of the latent draws"),
    ),
}


def task_options(task_name):
    """``{name: Option}`` of a task (empty for a task without options)."""
    return {o.name: o for o in OPTIONS.get(task_name, ())}


def check_task_kwargs(task_name, kwargs, flag="--task-arg"):
    """The validated task options; an undeclared key or a bad value is a ``ValueError`` naming
    ``flag``, the task and the accepted keys or values."""
    declared = task_options(task_name)
    kwargs = dict(kwargs or {})
    unknown = sorted(k for k in kwargs if k not in declared)
    if unknown:
        accepted = ", ".join(f"{o.name}={o.accepted}" for o in declared.values()) or "none"
        raise ValueError(f"{flag} {', '.join(unknown)}: not an option of the {task_name} task; "
                         f"accepted: {accepted}")
    out = {}
    for key, value in kwargs.items():
        try:
            out[key] = declared[key].parse(value)
        except ValueError as e:
            raise ValueError(f"{flag} {key}={value!r}: {e} (accepted: "
                             f"{declared[key].accepted})") from None
    return out


def load_task_args_file(path, flag="--task-args-file"):
    """A JSON object of task options from ``path`` (keys checked later, by the task)."""
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{flag} {path}: no such file") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{flag} {path}: not a JSON file ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{flag} {path}: expected a JSON object of option: value")
    return data


def merge_task_args(file_path=None, pairs=()):
    """Task options from a JSON file, then ``key=value`` pairs (the pairs win)."""
    merged = load_task_args_file(file_path) if file_path else {}
    merged.update(dict(pairs))
    return merged


def options_help():
    """One line per task listing its options and their accepted values (for --help)."""
    return "; ".join(f"{task}: " + ", ".join(f"{o.name}={o.accepted}" for o in options)
                     for task, options in OPTIONS.items())


def jsonable(value):
    """Task option values as run.json records them (a loss object by its class name)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if hasattr(value, "tolist"):
        return value.tolist()
    return type(value).__name__
