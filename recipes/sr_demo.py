"""Quick edge super-resolution demo (well under 90 s on 2 CPU cores): trains the ESPCN ×2
edge upscaler on the embedded photos through the same train / evaluate / export workflow as
every task, compares PSNR-Y with bicubic on the held-out photos, exports TFLite (float32 and
int8, dynamic input size) and prints one summary line.

    python recipes/sr_demo.py [--run-dir runs/sr_demo]
"""

import argparse
import sys

from kerascv_apps.end_to_end import run_super_resolution, sr_summary_line


def main(argv=None):
    """Runs the demo; returns 0 (the exit code ``recipes/demo.py`` expects)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", default="runs/sr_demo")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--steps-per-epoch", type=int, default=80)
    p.add_argument("--overwrite", action="store_true", help="replace a finished run in --run-dir")
    a = p.parse_args(argv)
    s = run_super_resolution("espcn_x2", a.run_dir, epochs=a.epochs,
                             steps_per_epoch=a.steps_per_epoch, batch_size=16, patch_size=32,
                             learning_rate=3e-3,
                             # the paper's widths (anchored): keeps the demo's budget
                             model_kwargs={"stackwise_num_filters": (64, 32),
                                           "activation": "tanh"},
                             export=True, export_formats=("float32", "int8"), verbose=0,
                             overwrite=a.overwrite)
    print("sr_demo: " + sr_summary_line(s), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
