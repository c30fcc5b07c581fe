"""Quickstart (what `make demo` runs): LeNet-5 on the embedded digits -> evaluation ->
SavedModel + TFLite (float32, float16, dynamic, int8) -> verified summary table.

    python recipes/quickstart.py [--run-dir runs/quickstart] [--epochs 40]
"""

import sys
import time

from kerascv_apps.config import config_from_args, recipe_parser
from kerascv_apps.end_to_end import QUICKSTART, run_quickstart

FLAGS = ("epochs", "seed")  # the TrainConfig keys this recipe lets you change
OWN_FLAGS = {"max_int8_drop": (0.01, "largest accuracy drop the int8 file may have (0.01: one "
                                     "point)")}


def main(argv=None):
    base = QUICKSTART.to_dict()
    args = recipe_parser(__doc__, time.strftime("runs/quickstart-%Y%m%d-%H%M%S"), FLAGS, base,
                         OWN_FLAGS, overwrite=False).parse_args(argv)
    config = config_from_args(args, FLAGS, base.pop("model"), **base)
    run_quickstart(args.run_dir, config=config, max_int8_drop=args.max_int8_drop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
