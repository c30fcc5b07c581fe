"""Transfer learning, offline: copy weights by layer name from a saved model into a new model
with a new head, freeze the backbone, and fine-tune in two phases (head only, then the last
``K`` blocks with a lower learning rate).

Weights are matched by **layer name** and shape. A ``.keras`` file carries names, so it is the
natural source. A ``.weights.h5`` file stores weights by object structure (Keras names its
groups ``conv2d``, ``dense_1``, ... by class, not by layer name), so it can only be read into
the architecture that wrote it: pass ``source_model`` (a registered model name plus builder
arguments, or a built model) and it is rebuilt, loaded, then copied by name.

A *block* is a group of layers that is frozen or unfrozen together, defined per family by
layer-name patterns (``BLOCK_PATTERNS``): VGG ``block1`` .. ``block5`` and the FC layers,
ResNet stages ``conv2`` .. ``conv5``, GoogLeNet ``stem`` and ``inception3a`` .. ``inception5b``,
ViT ``embedding`` and ``block0`` .. ``block{L-1}``. Other names fall back to their first
``<letters><digits>`` token (``conv3_...`` -> ``conv3``).
"""

import dataclasses
import os
import re
from typing import Optional

import keras

from kerascv_apps.models.weights import (HEAD_PATTERN, CopyReport, WeightsError, copy_weights,
                                         model_weights, named_layers, read_weights)

# family -> ordered (regex, block name template); the first match wins.
BLOCK_PATTERNS = {
    "vgg": [(r"^(block\d+)_", r"\1"), (r"^fc\d+", "fc")],
    "alexnet": [(r"^(conv\d+)", r"\1"), (r"^fc\d+", "fc")],
    "googlenet": [(r"^(conv\d|pool\d)", "stem"), (r"^(inception\d[a-z])_", r"\1")],
    "vit": [(r"^(patch_embed|patch_flatten|class_token|pos_)", "embedding"),
            (r"^(block\d+)_", r"\1"), (r"^encoder_norm", "encoder_norm")],
    "resnet": [(r"^conv1_", "stem"), (r"^(conv\d+)_block", r"\1")],
    "lenet": [(r"^(c\d|s\d|f\d)$", r"\1")],
}
_FALLBACK = re.compile(r"^([A-Za-z]+\d+[a-z]?)(_|$)")


class TransferError(WeightsError):
    """A transfer source or argument is unusable; the message names it."""


TransferReport = CopyReport  # what ``load_weights_by_name`` did


def _source_weights(source, source_model=None, source_kwargs=None):
    """``{layer name: [arrays]}`` of a model, a ``.keras``/``.h5`` file, or a ``.weights.h5``
    file read through ``source_model``."""
    if isinstance(source, keras.Model):
        return model_weights(source)
    path = os.fspath(source)
    if not os.path.exists(path):
        raise TransferError(f"transfer source file not found: {path}")
    if not path.endswith(".weights.h5") or source_model is None:
        try:
            return read_weights(path)
        except WeightsError as e:
            raise TransferError(f"{e}; for a .weights.h5 file written by this package pass "
                                "source_model (the registered model name or model that saved it)"
                                if path.endswith(".weights.h5") else str(e)) from e
    if isinstance(source_model, str):
        from kerascv_apps.registry import build_model

        source_model = build_model(source_model, **(source_kwargs or {}))
    try:
        source_model.load_weights(path)
    except Exception as e:  # keras raises several types for a structure mismatch
        raise TransferError(f"{path} does not fit source_model {source_model.name!r}: {e}") from e
    return model_weights(source_model)


def load_weights_by_name(target, source, *, exclude=HEAD_PATTERN, source_model=None,
                         source_kwargs=None):
    """Copies weights from ``source`` into same-named, same-shaped layers of ``target``
    (``kerascv_apps.models.weights.copy_weights``, the copy ``build_model(weights=...)`` uses).

    Args:
        target: the new model (e.g. built with a new ``num_classes``).
        source: a ``.keras`` or ``.h5`` path (keras.applications' files included), a
            ``.weights.h5`` path (with ``source_model``, or of a keras.applications model) or
            a model.
        exclude: regex of target layer names never copied (default: the class layer(s));
            ``None`` copies everything that matches.
        source_model: for ``.weights.h5``, the registered model name (built with
            ``source_kwargs``) or the model that wrote the file.
        source_kwargs: builder arguments of ``source_model``.

    Returns:
        A :class:`TransferReport`.

    Raises:
        TransferError: missing/unsupported file, or no layer at all could be copied.
    """
    weights = _source_weights(source, source_model, source_kwargs)
    origin = getattr(source, "name", None) or os.fspath(source)
    try:
        return copy_weights(target, weights, exclude=exclude, origin=repr(origin))
    except WeightsError as e:
        raise TransferError(str(e)) from e


def model_family(model):
    """The registry family of ``model`` (by its name), or ``None``."""
    from kerascv_apps.registry import UnknownModelError, get_entry

    try:
        return get_entry(model.name).family
    except UnknownModelError:
        return None


def block_of(layer_name, family=None):
    """The block a layer belongs to (see ``BLOCK_PATTERNS``)."""
    for pattern, template in BLOCK_PATTERNS.get(family, ()):
        match = re.search(pattern, layer_name)
        if match:
            return match.expand(template)
    match = _FALLBACK.match(layer_name)
    return match.group(1) if match else layer_name


def layer_blocks(model, family=None, exclude=()):
    """Ordered ``{block: [layer names]}`` of the layers with weights (model order).

    Args:
        model: the model.
        family: the family whose ``BLOCK_PATTERNS`` apply (default: from the registry).
        exclude: layer names left out (e.g. the new head).
    """
    family = family if family is not None else model_family(model)
    blocks = {}
    for name in named_layers(model):
        if name not in exclude:
            blocks.setdefault(block_of(name, family), []).append(name)
    return blocks


def freeze(model, head_layers, trainable_blocks=0, family=None):
    """Freezes every layer with weights except ``head_layers`` and the last ``trainable_blocks``
    blocks of the rest; returns the names of the unfrozen blocks.

    Frozen BatchNormalization layers also stop updating their statistics (they run in
    inference mode). Recompile the model after calling this.
    """
    if int(trainable_blocks) < 0:
        raise ValueError(f"trainable_blocks must be >= 0, got {trainable_blocks!r}")
    head = set(head_layers)
    layers_by_name = named_layers(model)
    unknown = head - set(layers_by_name)
    if unknown:
        raise ValueError(f"head_layers not in model {model.name!r}: {sorted(unknown)}")
    blocks = layer_blocks(model, family, exclude=head)
    if int(trainable_blocks) > len(blocks):
        raise ValueError(f"trainable_blocks={trainable_blocks} but model {model.name!r} has "
                         f"{len(blocks)} blocks: {list(blocks)}")
    open_blocks = list(blocks)[len(blocks) - int(trainable_blocks):] if trainable_blocks else []
    open_layers = head | {n for b in open_blocks for n in blocks[b]}
    model.trainable = True
    for name, layer in layers_by_name.items():
        layer.trainable = name in open_layers
    return open_blocks


def freeze_for_transfer(model, trainable_blocks=1, family=None):
    """Freezes a model loaded for transfer learning except its class layer(s) (``HEAD_PATTERN``)
    and the last ``trainable_blocks`` blocks; returns the unfrozen blocks."""
    head = [n for n in named_layers(model) if re.search(HEAD_PATTERN, n)]
    return freeze(model, head, trainable_blocks, family)


@dataclasses.dataclass
class FineTuneResult:
    """Results of the two phases (``finetune`` is ``None`` when phase 2 is skipped)."""

    head: object
    finetune: Optional[object]
    unfrozen_blocks: list


def fine_tune(model, train_data, val_data=None, *, run_dir, loss, head_layers, metrics=None,
              trainable_blocks=1, head_epochs=3, finetune_epochs=3, learning_rate=1e-3,
              finetune_learning_rate=1e-4, family=None, **train_kwargs):
    """Two-phase fine-tuning with ``kerascv_apps.training.train``.

    Phase 1 (``run_dir/head``) trains only ``head_layers`` (everything else frozen) at
    ``learning_rate``; phase 2 (``run_dir/finetune``) also unfreezes the last
    ``trainable_blocks`` blocks and trains at ``finetune_learning_rate``.

    Args:
        model: the new model with transferred weights.
        train_data / val_data: batched datasets.
        run_dir: parent folder of the two phases' run directories.
        loss / metrics: as for ``train``.
        head_layers: the new layers (``TransferReport.new_layers``).
        trainable_blocks: blocks unfrozen in phase 2 (0 skips phase 2).
        head_epochs / finetune_epochs: epochs of each phase (0 skips phase 2).
        learning_rate / finetune_learning_rate: learning rates of the phases.
        family: block definition (default: the model's registry family).
        **train_kwargs: more ``train`` arguments (optimizer, schedule, callbacks, ...).
    """
    from kerascv_apps.training import train

    if int(head_epochs) < 1:
        raise ValueError(f"head_epochs must be >= 1, got {head_epochs!r}")
    freeze(model, head_layers, 0, family)
    head = train(model, train_data, val_data, run_dir=os.path.join(run_dir, "head"),
                 epochs=head_epochs, loss=loss, metrics=metrics, learning_rate=learning_rate,
                 **train_kwargs)
    if not trainable_blocks or not finetune_epochs:
        return FineTuneResult(head, None, [])
    opened = freeze(model, head_layers, trainable_blocks, family)
    tuned = train(model, train_data, val_data, run_dir=os.path.join(run_dir, "finetune"),
                  epochs=finetune_epochs, loss=loss, metrics=metrics,
                  learning_rate=finetune_learning_rate, **train_kwargs)
    return FineTuneResult(head, tuned, opened)


def transfer_model(model_name, source, num_classes, *, exclude=HEAD_PATTERN, source_model=None,
                   source_kwargs=None, **model_kwargs):
    """Builds registered ``model_name`` with a new ``num_classes`` head and copies the
    backbone weights from ``source`` by layer name; returns ``(model, TransferReport)``."""
    from kerascv_apps.registry import build_model

    model = build_model(model_name, num_classes=num_classes, **model_kwargs)
    report = load_weights_by_name(model, source, exclude=exclude, source_model=source_model,
                                  source_kwargs=source_kwargs)
    return model, report
