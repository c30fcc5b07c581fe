"""Edge upscaler recipe: ESPCN (Shi et al. 2016) with the nearest-neighbour anchor skip,
trained with pixel MSE on random crops of the embedded photos whose LR inputs come from
several downscalers, evaluated against bicubic on the held-out photos, exported to TFLite
(float32 / int8, any input size).

    python recipes/super_resolution/edge.py --run-dir runs/espcn_x2
"""

import argparse
import sys

from kerascv_apps.recipes import run_super_resolution, sr_summary_line


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", default="runs/espcn_x2")
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--steps-per-epoch", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--patch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=3e-3)
    p.add_argument("--loss", default="mse", choices=("mse", "l1"))
    p.add_argument("--no-anchor", action="store_true", help="the paper's ESPCN (no anchor skip)")
    p.add_argument("--no-export", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace a finished run in --run-dir")
    a = p.parse_args(argv)
    s = run_super_resolution(
        f"espcn_x{a.scale}", a.run_dir, epochs=a.epochs, steps_per_epoch=a.steps_per_epoch,
        batch_size=a.batch_size, patch_size=a.patch_size, learning_rate=a.learning_rate,
        model_kwargs={"anchor_skip": not a.no_anchor}, task_kwargs={"pixel_loss": a.loss},
        export=not a.no_export, export_formats=("float32", "float16", "int8"), seed=a.seed,
        overwrite=a.overwrite)
    print(sr_summary_line(s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
