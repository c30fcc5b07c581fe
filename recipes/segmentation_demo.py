"""Quick segmentation demo (sized for at most 90 s on 2 CPU cores): trains a small same-padded U-Net
on the embedded ``shapes`` dataset, evaluates mIoU / boundary F1 on the test split, writes
prediction figures (coloured mask, overlay, legend), exports int8 TFLite (builtin ops only)
verified against the Keras model, and prints one summary line.

    python recipes/segmentation_demo.py [--run-dir runs/segmentation_demo]

The full-budget recipe is recipes/segmentation/unet_shapes.py.
"""

import argparse
import os
import time

from kerascv_apps.end_to_end import run_segmentation as run


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", default="runs/segmentation_demo")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--num-train", type=int, default=640)
    p.add_argument("--image-size", type=int, default=48)
    p.add_argument("--overwrite", action="store_true", help="replace a finished run in --run-dir")
    a = p.parse_args(argv)
    start = time.time()
    s = run("unet_same", a.run_dir, epochs=a.epochs, batch_size=8, learning_rate=3e-3,
            model_kwargs={"base_filters": 16, "depth": 3},
            dataset_kwargs={"num_train": a.num_train, "num_val": 50, "num_test": 100,
                            "image_size": a.image_size},
            export=True, export_formats=("int8",), max_quality_drop=1.0, verbose=0,
            num_figures=2, overwrite=a.overwrite)
    t, e = s["test"], s["export"]
    print(f"segmentation_demo: unet_same on shapes {a.image_size}x{a.image_size}, {a.epochs} epochs "
          f"x {a.num_train} images: "
          f"test mIoU {t['miou']:.4f}, boundary F1 {t['boundary_f1']:.4f}; int8 TFLite mIoU "
          f"{e['int8']['miou']:.4f} (Keras {e['keras_miou']:.4f}, drop {e['int8']['drop']:+.4f}); "
          f"figures in {os.path.join(a.run_dir, 'predictions')}; {time.time() - start:.0f} s")
    return s


if __name__ == "__main__":
    main()
