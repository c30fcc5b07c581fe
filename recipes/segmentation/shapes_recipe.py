"""Command line shared by the segmentation recipes (train, evaluate, figures, optional
export through ``kerascv_apps.end_to_end.run_segmentation``)."""

import argparse

from kerascv_apps.config import add_config_arguments, config_from_args
from kerascv_apps.end_to_end import SEGMENTATION_DEFAULTS
from kerascv_apps.end_to_end import run_segmentation as run
from kerascv_apps.end_to_end import segmentation_summary_line as summary_line


# the training flags of the segmentation recipes (TrainConfig keys)
FLAGS = ("epochs", "batch_size", "learning_rate", "augment", "seed")


def main(model_name, defaults, description, argv=None):
    """Command-line entry shared by the recipes; ``defaults``: the recipe's budget (TrainConfig
    keys, plus ``run_dir``, ``num_train``, ``loss`` and ``export``)."""
    defaults = dict(defaults)
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", default=defaults.pop("run_dir"))
    recipe = {**SEGMENTATION_DEFAULTS, **defaults}
    add_config_arguments(p, FLAGS, **{k: recipe[k] for k in FLAGS if k in recipe})
    p.add_argument("--num-train", type=int, default=defaults.pop("num_train", 800))
    p.add_argument("--loss", default=defaults.pop("loss", "ce"),
                   help="ce, dice, focal or sums like ce+dice")
    p.add_argument("--export", action="store_true", default=defaults.pop("export", False))
    p.add_argument("--overwrite", action="store_true", help="replace a finished run in --run-dir")
    a = p.parse_args(argv)
    config = config_from_args(a, FLAGS, model_name, **{**SEGMENTATION_DEFAULTS, **defaults})
    config = config.replace(dataset_kwargs={**config.dataset_kwargs, "num_train": a.num_train})
    s = run(config, a.run_dir, loss=a.loss, export=a.export, overwrite=a.overwrite)
    print(summary_line(s))
    return s
