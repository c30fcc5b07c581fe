"""Command line shared by the segmentation recipes (train, evaluate, figures, optional
export through ``kerascv_apps.end_to_end.run_segmentation``)."""

import argparse

from kerascv_apps.end_to_end import run_segmentation as run
from kerascv_apps.end_to_end import segmentation_summary_line as summary_line


def main(model_name, defaults, description, argv=None):
    """Command-line entry shared by the recipes; ``defaults`` are the recipe's budgets."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", default=defaults.pop("run_dir"))
    p.add_argument("--epochs", type=int, default=defaults.pop("epochs"))
    p.add_argument("--batch-size", type=int, default=defaults.pop("batch_size", 16))
    p.add_argument("--learning-rate", type=float, default=defaults.pop("learning_rate", 2e-3))
    p.add_argument("--num-train", type=int, default=defaults.pop("num_train", 800))
    p.add_argument("--augment", default=defaults.pop("augment", "none"),
                   choices=["none", "tf", "albumentations"])
    p.add_argument("--loss", default=defaults.pop("loss", "ce"),
                   help="ce, dice, focal or sums like ce+dice")
    p.add_argument("--export", action="store_true", default=defaults.pop("export", False))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace a finished run in --run-dir")
    a = p.parse_args(argv)
    s = run(model_name, a.run_dir, epochs=a.epochs, batch_size=a.batch_size,
            learning_rate=a.learning_rate, augment=a.augment, loss=a.loss, export=a.export,
            seed=a.seed, dataset_kwargs={"num_train": a.num_train}, overwrite=a.overwrite,
            **defaults)
    print(summary_line(s))
    return s
