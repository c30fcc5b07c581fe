"""U-Net on the embedded ``shapes`` dataset (Ronneberger et al. 2015), then int8 TFLite export
with mIoU verification against the Keras model.

    python recipes/segmentation/unet_shapes.py [--run-dir runs/segmentation/unet_shapes]
    python recipes/segmentation/unet_shapes.py --variant paper   # valid convs, mirrored input

Default: the same-padded U-Net (batch norm, 16 base filters, depth 3) at 64x64, a CPU budget.
``--border-weights`` trains with the paper's border weight map (w0 = 10, sigma = 5 px)
computed from the instance ids.
"""

import argparse
import sys

from shapes_recipe import run, summary_line


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", default="runs/segmentation/unet_shapes")
    p.add_argument("--variant", default="same", choices=["same", "paper"])
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--learning-rate", type=float, default=3e-3)
    p.add_argument("--num-train", type=int, default=800)
    p.add_argument("--base-filters", type=int, default=16)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--loss", default="ce")
    p.add_argument("--augment", default="none", choices=["none", "tf", "albumentations"])
    p.add_argument("--border-weights", action="store_true")
    p.add_argument("--no-export", action="store_true")
    a = p.parse_args(argv)
    model_kwargs = {"base_filters": a.base_filters, "depth": a.depth}
    if a.variant == "paper":  # valid convs; the model mirror-pads its 64x64 input itself
        model_kwargs.update(pad_input=True, batch_norm=True)
    s = run("unet_same" if a.variant == "same" else "unet", a.run_dir, epochs=a.epochs,
            batch_size=a.batch_size, learning_rate=a.learning_rate, model_kwargs=model_kwargs,
            dataset_kwargs={"num_train": a.num_train}, loss=a.loss, augment=a.augment,
            border_weights=a.border_weights, export=not a.no_export)
    print(summary_line(s))
    return s


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
