"""Command line shared by the segmentation recipes (train, evaluate, figures, optional
export through ``kerascv_apps.end_to_end.run_segmentation``)."""

from kerascv_apps.config import config_from_args, recipe_parser
from kerascv_apps.end_to_end import SEGMENTATION_DEFAULTS
from kerascv_apps.end_to_end import run_segmentation as run
from kerascv_apps.end_to_end import segmentation_summary_line as summary_line


# the training flags of the segmentation recipes (TrainConfig keys)
FLAGS = ("epochs", "batch_size", "learning_rate", "augment", "seed")


def main(model_name, defaults, description, argv=None, flags=None, model_for=None):
    """Command-line entry shared by the recipes; ``defaults``: the recipe's budget (TrainConfig
    keys, plus ``run_dir``, ``num_train``, ``loss`` and ``export``). ``flags``: the recipe's
    own flags (``add_recipe_arguments``); ``model_for(args)``: the (model name, model kwargs)
    they choose (default: ``model_name`` and the recipe's ``model_kwargs``)."""
    defaults = dict(defaults)
    run_dir = defaults.pop("run_dir")
    own = {"num_train": (defaults.pop("num_train", 800), "training images"),
           "loss": (defaults.pop("loss", "ce"), "ce, dice, focal or sums like ce+dice"),
           "border_weights": (defaults.pop("border_weights", False),
                              "train with the U-Net paper's border weight map (w0 = 10, "
                              "sigma = 5 px) from the instance ids"),
           "export": (defaults.pop("export", False), "export int8 TFLite, verified"),
           **(flags or {})}
    recipe = {**SEGMENTATION_DEFAULTS, **defaults}
    a = recipe_parser(description, run_dir, FLAGS, recipe, own).parse_args(argv)
    if model_for is not None:
        model_name, model_kwargs = model_for(a)
        recipe["model_kwargs"] = model_kwargs
    config = config_from_args(a, FLAGS, model_name, **recipe)
    config = config.replace(dataset_kwargs={**config.dataset_kwargs, "num_train": a.num_train})
    kwargs = {"loss": a.loss, "export": a.export, "overwrite": a.overwrite}
    if a.border_weights:
        kwargs["border_weights"] = True
    s = run(config, a.run_dir, **kwargs)
    print(summary_line(s))
    return s
