"""Denoising (additive Gaussian noise, sigma = 25 by default) on the embedded photos: trains a
restorer on random crops noised anew every step, then scores it per held-out photo (scikit-
image's chelsea, coffee, camera and scikit-learn's china, flower: never seen in training) beside
non-local means, total-variation and wavelet denoising and the noisy input.

    python recipes/restoration/denoise.py --model dae --run-dir runs/denoise_dae

Measured figures are in the closing notes of the restoration work (the command, the per-photo
table and the CPU time printed by this script).
"""

import argparse
import sys

from kerascv_apps.end_to_end import restoration_table, run_restoration


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="dae", help="dae, conv_autoencoder or llnet")
    p.add_argument("--run-dir", default="runs/denoise")
    p.add_argument("--sigma", type=float, default=25.0, help="noise sigma in pixel values")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--steps-per-epoch", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--patch-size", type=int, default=40)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=INT",
                   help="integer builder arguments, e.g. filters=48 num_layers=8")
    p.add_argument("--export", action="store_true", help="export SavedModel + TFLite "
                   "float32/int8 (int8 refused beyond a 0.3 dB PSNR drop)")
    p.add_argument("--overwrite", action="store_true")
    a = p.parse_args(argv)
    model_kwargs = {k: int(v) for k, v in (kv.split("=", 1) for kv in a.model_arg)}
    summary = run_restoration(a.model, a.run_dir, epochs=a.epochs,
                              steps_per_epoch=a.steps_per_epoch, batch_size=a.batch_size,
                              patch_size=a.patch_size, learning_rate=a.learning_rate,
                              dataset_kwargs={"degradation": "gaussian", "sigma": a.sigma},
                              model_kwargs=model_kwargs, export=a.export,
                              overwrite=a.overwrite)
    print(restoration_table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
