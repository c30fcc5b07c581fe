"""Quick edge super-resolution demo (well under 90 s on 2 CPU cores): trains the ESPCN ×2
edge upscaler on the embedded photos, compares PSNR-Y with bicubic on the held-out photos,
exports TFLite (float32 and int8, dynamic input size) and prints one summary line.

    python recipes/sr_demo.py [--run-dir runs/sr_demo]
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "super_resolution"))

from edge import run  # noqa: E402


def main(argv=None):
    """Runs the demo; returns 0 (the exit code ``recipes/demo.py`` expects)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", default="runs/sr_demo")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--steps-per-epoch", type=int, default=80)
    p.add_argument("--overwrite", action="store_true", help="replace a finished run in --run-dir")
    a = p.parse_args(argv)
    start = time.time()
    s = run(a.run_dir, scale=2, epochs=a.epochs, steps_per_epoch=a.steps_per_epoch, verbose=0,
            export=True, export_modes=("float32", "int8"), overwrite=a.overwrite)
    t, tfl = s["test"], s["tflite"]["tflite"]
    line = (f"sr_demo: espcn_x2 held-out PSNR-Y {t['psnr_y']:.2f} dB vs bicubic "
            f"{t['bicubic_psnr_y']:.2f} dB ({t['gain_psnr_y']:+.2f} dB); TFLite int8 "
            f"{tfl['int8']['psnr_y']:.2f} dB (drop {tfl['int8']['psnr_y_drop_vs_keras']:+.3f} dB) "
            f"at {len(tfl['int8']['input_sizes'])} input sizes; {time.time() - start:.0f} s")
    print(line, flush=True)
    return 0


if __name__ == "__main__":
    main()
