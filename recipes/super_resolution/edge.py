"""Edge upscaler recipe: ESPCN (Shi et al. 2016) as registered (``espcn_x2``: one more 3x3
layer, ReLU, nearest-neighbour anchor skip), trained with an L1 pixel loss on random crops of
the embedded photos whose LR inputs come from TF bicubic with and without antialias,
evaluated against bicubic on the held-out photos, exported to TFLite (float32 / int8, any
input size). ``--paper`` trains the paper's network (``espcn_paper_x2``) instead.

    python recipes/super_resolution/edge.py --run-dir runs/espcn_x2
"""

import sys

from kerascv_apps.end_to_end import run_sr_recipe, sr_recipe_parser

OWN_FLAGS = {"paper": (False, "the paper's ESPCN (espcn_paper_x{scale}: the Y channel through "
                              "64/32 channels, tanh, no anchor skip; Cb/Cr bicubic); with --loss "
                              "mse_y it is also trained as in the paper (MSE on Y)")}


def main(argv=None):
    a = sr_recipe_parser(__doc__, run_dir="runs/espcn_x2", scale=2, epochs=10,
                         steps_per_epoch=100, batch_size=16, patch_size=32, learning_rate=3e-3,
                         loss="l1", flags=OWN_FLAGS).parse_args(argv)
    run_sr_recipe(f"espcn_paper_x{a.scale}" if a.paper else f"espcn_x{a.scale}", a, {})
    return 0


if __name__ == "__main__":
    sys.exit(main())
