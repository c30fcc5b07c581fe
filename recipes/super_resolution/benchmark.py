"""PSNR-Y gain over bicubic on real photos the model never saw, for each common way of making
the LR input (TensorFlow bicubic with and without antialias, Pillow's BICUBIC).

Held out: scikit-image's chelsea, coffee, camera (the ``photos`` test split) and three photos
installed by scikit-learn (china, flower) and matplotlib (grace_hopper); training used only the
``photos`` train split.

    kerascv-apps train --model espcn_x2 --dataset photos --run-dir runs/espcn_cli
    python recipes/super_resolution/benchmark.py runs/espcn_cli/model.keras

Measured (mean gain over the six photos, x2; 1,000 steps of 64 crops of 24x24, the CLI
defaults): the paper's ESPCN trained on antialiased-bicubic LR only: +0.01 / -0.87 / +0.01 dB
(TF antialias / TF without antialias / Pillow); with the anchor skip, same data: +0.92 /
-0.96 / +0.92 dB; with the anchor skip and training LR drawn from TF bicubic with and without
antialias and area (today's defaults): +0.62 / -0.10 / +0.62 dB. A 27k-parameter model cannot
tell an aliased LR image from a smooth one well; the non-antialiased case stays below +0.5 dB.
"""

import argparse
import json
import sys

from kerascv_apps import load_model
from kerascv_apps.data.sources.photos import HELD_OUT, load_photo
from kerascv_apps.tasks.super_resolution import SuperResolutionTask, benchmark_downscalers


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_path", help="a trained SR model (.keras)")
    p.add_argument("--json", help="also write the rows to this file")
    a = p.parse_args(argv)
    model = load_model(a.model_path, compile=False)
    scale = SuperResolutionTask.model_scale(model)
    result = benchmark_downscalers(lambda x: model(x, training=False),
                                   [load_photo(n) for n in HELD_OUT], scale, names=HELD_OUT)
    print(f"{'photo':<24} {'LR made by':<18} {'model':>7} {'bicubic':>8} {'gain':>6}  (PSNR-Y dB, x{scale})")
    for r in result["rows"]:
        print(f"{r['image']:<24} {r['downscaler']:<18} {r['psnr_y']:>7.2f} "
              f"{r['bicubic_psnr_y']:>8.2f} {r['gain_psnr_y']:>+6.2f}")
    print("mean gain per downscaler: " + ", ".join(
        f"{k} {v:+.2f} dB" for k, v in result["mean_gain"].items())
        + f"; worst photo {result['min_gain']:+.2f} dB")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
