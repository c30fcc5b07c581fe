"""Quick segmentation demo (sized for at most 90 s on 2 CPU cores): trains a small same-padded U-Net
on the embedded ``shapes`` dataset, evaluates mIoU / boundary F1 on the test split, writes
prediction figures (coloured mask, overlay, legend), exports int8 TFLite (builtin ops only)
verified against the Keras model, and prints one summary line.

    python recipes/segmentation_demo.py [--run-dir runs/segmentation_demo]

The full-budget recipe is recipes/segmentation/unet_shapes.py.
"""

import os
import time

from kerascv_apps.config import config_from_args, recipe_parser
from kerascv_apps.end_to_end import SEGMENTATION_DEFAULTS
from kerascv_apps.end_to_end import run_segmentation as run

FLAGS = ("epochs",)  # the TrainConfig keys this recipe lets you change
CONFIG = {**SEGMENTATION_DEFAULTS, "epochs": 8, "batch_size": 8, "learning_rate": 3e-3,
          "model_kwargs": {"base_filters": 16, "depth": 3}}
OWN_FLAGS = {"num_train": (640, "training images"), "image_size": (48, "image side (pixels)")}


def main(argv=None):
    a = recipe_parser(__doc__, "runs/segmentation_demo", FLAGS, CONFIG, OWN_FLAGS).parse_args(argv)
    start = time.time()
    config = config_from_args(a, FLAGS, "unet_same", **CONFIG, dataset_kwargs={
        "num_train": a.num_train, "num_val": 50, "num_test": 100, "image_size": a.image_size})
    s = run(config, a.run_dir, export=True, export_formats=("int8",), max_quality_drop=1.0,
            verbose=0, num_figures=2, overwrite=a.overwrite)
    t, e = s["test"], s["export"]
    print(f"segmentation_demo: unet_same on shapes {a.image_size}x{a.image_size}, "
          f"{config.epochs} epochs x {a.num_train} images: "
          f"test mIoU {t['miou']:.4f}, boundary F1 {t['boundary_f1']:.4f}; int8 TFLite mIoU "
          f"{e['int8']['miou']:.4f} (Keras {e['keras_miou']:.4f}, drop {e['int8']['drop']:+.4f}); "
          f"figures in {os.path.join(a.run_dir, 'predictions')}; {time.time() - start:.0f} s")
    return s


if __name__ == "__main__":
    main()
