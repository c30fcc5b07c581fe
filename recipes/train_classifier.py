"""Train any registered classifier on the embedded digits or on CIFAR-10, evaluate it on the
test split, and optionally export it (SavedModel + verified TFLite).

    python recipes/train_classifier.py --model googlenet --dataset digits --epochs 10
    python recipes/train_classifier.py --model vit_tiny --dataset cifar10 --export runs/vit_export

CIFAR-10 is read through tfds only when it is already prepared locally (nothing is
downloaded); otherwise the recipe stops with a message saying how to prepare it.

Per-family defaults for these 32x32 datasets (``SMALL_IMAGE_DEFAULTS``, each overridable with
``--model-arg key=value``): AlexNet, VGG and GoogLeNet resize the input to 64x64 *inside the
model* (``resize_to``; AlexNet's stride-4 stem leaves nothing to pool at 32x32) and the
AlexNet/VGG FC layers shrink to 512 units; GoogLeNet trains with its two auxiliary
classifiers (loss weight 0.3; dropped for evaluation and export); ViT uses 4x4 patches.
Optimizer: Adam 1e-3 with a cosine schedule (the papers' SGD recipes are tuned for
ImageNet-length runs), AdamW with weight decay 0.05 and one warmup epoch for ViT.
"""

import json
import sys

SMALL_IMAGE_DEFAULTS = {
    "alexnet": dict(resize_to=(64, 64), fc_units=(512, 512)),
    "vgg": dict(resize_to=(64, 64), fc_units=(512, 512)),
    "googlenet": dict(resize_to=(64, 64), aux_logits=True),
    "vit": dict(patch_size=4),
}
FLAGS = ("epochs", "batch_size", "optimizer", "learning_rate")  # TrainConfig keys with a flag
TRAIN_DEFAULTS = {  # others: train_model's defaults (Adam 1e-3, cosine schedule)
    "vit": dict(optimizer="adamw", learning_rate=1e-3, weight_decay=0.05, warmup_epochs=1),
}


def _kv(text):
    key, _, value = text.partition("=")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


OWN_FLAGS = {
    "model": {"required": True, "help": "registered classification model name"},
    "dataset": ("digits", "the embedded digits or a prepared CIFAR-10", ("digits", "cifar10")),
    "run_dir": (None, "default: runs/<model>-<dataset>"),
    "model_arg": {"default": [], "type": _kv, "metavar": "KEY=VALUE",
                  "help": "builder argument over the family's default (repeatable)"},
    "export": {"default": None, "metavar": "DIR",
               "help": "export SavedModel + TFLite into DIR"},
}


def main(argv=None):
    from kerascv_apps.config import config_from_args, recipe_parser
    from kerascv_apps.data import DataError, load_dataset
    from kerascv_apps.experiment import export_run, train_model
    from kerascv_apps.registry import get_entry

    # training flags from TrainConfig; optimizer and learning rate: per family unless given
    p = recipe_parser(__doc__, None, FLAGS, {"optimizer": None, "learning_rate": None},
                      OWN_FLAGS)
    args = p.parse_args(argv)

    entry = get_entry(args.model)
    if entry.task != "classification":
        p.error(f"--model {args.model} is a {entry.task} model, not a classifier")
    try:
        splits = load_dataset(args.dataset)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    model_kwargs = {**SMALL_IMAGE_DEFAULTS.get(entry.family, {}), **dict(args.model_arg)}
    config = config_from_args(args, FLAGS, args.model, dataset=args.dataset,
                              model_kwargs=model_kwargs, **TRAIN_DEFAULTS.get(entry.family, {}))
    run = train_model(**config.train_kwargs(), splits=splits, overwrite=args.overwrite,
                      run_dir=args.run_dir or f"runs/{args.model}-{args.dataset}", evaluate=True)
    results = run.evaluation
    print(f"{args.model} on {args.dataset}: test {run.task.quality_metric} "
          f"{results[run.task.quality_metric]:.4f} (model: {run.result.model_path})")
    if args.export:
        from kerascv_apps.export.pipeline import ExportQualityError

        try:
            export_run(run.model, run.task, splits, args.export, args.model,
                       formats=("savedmodel", "float32", "int8"), overwrite=args.overwrite)
        except ExportQualityError as e:  # the int8 gate: the trained model is kept in run_dir
            print(f"error: export refused: {e}", file=sys.stderr)
            return 1
        print(f"exported to {args.export}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
