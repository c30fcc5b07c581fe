"""Quick edge super-resolution demo (well under 90 s on 2 CPU cores): trains the ESPCN ×2
edge upscaler on the embedded photos through the same train / evaluate / export workflow as
every task, compares PSNR-Y with bicubic on the held-out photos, exports TFLite (float32 and
int8, dynamic input size) and prints one summary line.

    python recipes/sr_demo.py [--run-dir runs/sr_demo]
"""

import sys

from kerascv_apps.config import config_from_args, recipe_parser
from kerascv_apps.end_to_end import SR_DEFAULTS, run_super_resolution, sr_summary_line

FLAGS = ("epochs", "steps_per_epoch")  # the TrainConfig keys this recipe lets you change
CONFIG = {**SR_DEFAULTS, "epochs": 5, "steps_per_epoch": 80, "batch_size": 16,
          "learning_rate": 3e-3,
          # the paper's widths (anchored): keeps the demo's budget
          "model_kwargs": {"stackwise_num_filters": (64, 32), "activation": "tanh"}}


def main(argv=None):
    """Runs the demo; returns 0 (the exit code ``recipes/demo.py`` expects)."""
    a = recipe_parser(__doc__, "runs/sr_demo", FLAGS, CONFIG).parse_args(argv)
    config = config_from_args(a, FLAGS, "espcn_x2", **CONFIG)
    s = run_super_resolution(config, a.run_dir, patch_size=32, export=True,
                             export_formats=("float32", "int8"), verbose=0,
                             overwrite=a.overwrite)
    print("sr_demo: " + sr_summary_line(s), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
