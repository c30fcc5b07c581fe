"""Edge upscaler recipe: ESPCN (Shi et al. 2016) with the nearest-neighbour anchor skip,
trained with pixel MSE on random crops of the embedded photos whose LR inputs come from
several downscalers, evaluated against bicubic on the held-out photos, exported to TFLite
(float32 / int8, any input size).

    python recipes/super_resolution/edge.py --run-dir runs/espcn_x2
"""

import argparse
import sys

from kerascv_apps.recipes import add_sr_arguments, run_sr_recipe


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_sr_arguments(p, run_dir="runs/espcn_x2", scale=2, epochs=10, steps_per_epoch=100,
                     batch_size=16, patch_size=32, learning_rate=3e-3)
    p.add_argument("--no-anchor", action="store_true", help="the paper's ESPCN (no anchor skip)")
    a = p.parse_args(argv)
    run_sr_recipe(f"espcn_x{a.scale}", a, {"anchor_skip": not a.no_anchor})
    return 0


if __name__ == "__main__":
    sys.exit(main())
