"""Quickstart (what `make demo` runs): LeNet-5 on the embedded digits -> evaluation ->
SavedModel + TFLite (float32, float16, dynamic, int8) -> verified summary table.

    python recipes/quickstart.py [--run-dir runs/quickstart] [--epochs 40]
"""

import argparse
import sys
import time

from kerascv_apps.config import add_config_arguments, config_from_args
from kerascv_apps.end_to_end import QUICKSTART, run_quickstart

FLAGS = ("epochs", "seed")  # the TrainConfig keys this recipe lets you change


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", default=time.strftime("runs/quickstart-%Y%m%d-%H%M%S"))
    add_config_arguments(parser, FLAGS, **QUICKSTART.to_dict())
    parser.add_argument("--max-int8-drop", type=float, default=0.01)
    args = parser.parse_args(argv)
    base = QUICKSTART.to_dict()
    config = config_from_args(args, FLAGS, base.pop("model"), **base)
    run_quickstart(args.run_dir, config=config, max_int8_drop=args.max_int8_drop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
