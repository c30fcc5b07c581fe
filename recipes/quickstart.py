"""Quickstart (what `make demo` runs): LeNet-5 on the embedded digits -> evaluation ->
SavedModel + TFLite (float32, float16, dynamic, int8) -> verified summary table.

    python recipes/quickstart.py [--run-dir runs/quickstart] [--epochs 40]
"""

import argparse
import sys
import time

from kerascv_apps.end_to_end import run_quickstart


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", default=time.strftime("runs/quickstart-%Y%m%d-%H%M%S"))
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--max-int8-drop", type=float, default=0.01)
    args = parser.parse_args(argv)
    run_quickstart(args.run_dir, epochs=args.epochs, max_int8_drop=args.max_int8_drop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
