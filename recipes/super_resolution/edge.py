"""Edge upscaler recipe: ESPCN ×2 trained with L1/MSE on the embedded photos, evaluated
against bicubic on the held-out photos, exported to TFLite (float32/fp16/int8, any size).

    python recipes/super_resolution/edge.py --run-dir runs/espcn_x2
"""

import argparse
import json
import os
import time

import keras

from kerascv_apps import build_model
from kerascv_apps.data import load_dataset
from kerascv_apps.data.sources._sr_common import sr_eval_pipeline, sr_train_pipeline
from kerascv_apps.inference.export_sr import export_sr_tflite
from kerascv_apps.io import atomic_write_text
from kerascv_apps.losses.super_resolution import PixelLoss
from kerascv_apps.metrics.super_resolution import psnr_metric
from kerascv_apps.tasks.super_resolution import evaluate_sr
from kerascv_apps.training import train


def run(run_dir="runs/espcn_x2", scale=2, epochs=10, steps_per_epoch=100, batch_size=16,
        patch_size=32, learning_rate=3e-3, loss="mse", activation="tanh", anchor_skip=True,
        export=True, overwrite=False, verbose="auto", dataset="photos",
        export_modes=("float32", "float16", "int8"), seed=0):
    start = time.time()
    keras.utils.set_random_seed(seed)
    splits = load_dataset(dataset, scale=scale)
    model = build_model(f"espcn_x{scale}", activation=activation, anchor_skip=anchor_skip)
    result = train(model, sr_train_pipeline(splits, patch_size, batch_size, seed=seed),
                   sr_eval_pipeline(splits.val), run_dir=run_dir, epochs=epochs,
                   steps_per_epoch=steps_per_epoch, loss=PixelLoss(loss), metrics=[psnr_metric],
                   optimizer="adam", learning_rate=learning_rate, schedule="cosine",
                   monitor="val_psnr", monitor_mode="max", jit_compile="off",
                   overwrite=overwrite, verbose=verbose, tensorboard=False)
    train_s = time.time() - start
    summary = {"model": model.name, "train_seconds": round(train_s, 1),
               "steps": epochs * steps_per_epoch, "batch_size": batch_size,
               "patch_size": patch_size, "test": evaluate_sr(result.model, splits.test, scale)}
    if export:
        summary["tflite"] = export_sr_tflite(result.model, splits, os.path.join(run_dir, "export"),
                                             model.name, modes=export_modes)
    atomic_write_text(os.path.join(run_dir, "summary.json"),
                      json.dumps(summary, indent=2, default=float))
    return summary


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
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
    s = run(a.run_dir, a.scale, a.epochs, a.steps_per_epoch, a.batch_size, a.patch_size,
            a.learning_rate, a.loss, anchor_skip=not a.no_anchor, export=not a.no_export,
            seed=a.seed, overwrite=a.overwrite)
    t = s["test"]
    print(f"{s['model']}: held-out PSNR-Y {t['psnr_y']:.2f} dB vs bicubic {t['bicubic_psnr_y']:.2f} dB "
          f"(gain {t['gain_psnr_y']:+.2f} dB), SSIM-Y {t['ssim_y']:.4f} vs {t['bicubic_ssim_y']:.4f}, "
          f"trained {s['train_seconds']} s")
    for mode, r in s.get("tflite", {}).get("tflite", {}).items():
        print(f"  tflite {mode}: PSNR-Y {r['psnr_y']:.2f} dB (drop {r['psnr_y_drop_vs_keras']:+.3f} dB), "
              f"{r['bytes']} bytes, sizes {r['input_sizes']}")


if __name__ == "__main__":
    main()
