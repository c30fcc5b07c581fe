"""U-Net on the embedded ``shapes`` dataset (Ronneberger et al. 2015), then int8 TFLite export
with mIoU verification against the Keras model.

    python recipes/segmentation/unet_shapes.py [--run-dir runs/segmentation/unet_shapes]
    python recipes/segmentation/unet_shapes.py --variant paper   # valid convs, mirrored input

Default: the same-padded U-Net (batch norm, 16 base filters, depth 3) at 64x64, a CPU budget.
``--border-weights`` trains with the paper's border weight map (w0 = 10, sigma = 5 px)
computed from the instance ids.
"""

import sys

from shapes_recipe import main

FLAGS = {"variant": ("same", "same: padded convs (unet_same); paper: valid convs, the model "
                             "mirror-pads its input (unet)", ("same", "paper")),
         "base_filters": (16, "filters of the first level"), "depth": (3, "levels")}


def model_for(a):
    model_kwargs = {"base_filters": a.base_filters, "depth": a.depth}
    if a.variant == "paper":  # valid convs; the model mirror-pads its 64x64 input itself
        model_kwargs.update(pad_input=True, batch_norm=True)
    return ("unet_same" if a.variant == "same" else "unet"), model_kwargs


if __name__ == "__main__":
    sys.exit(0 if main("unet_same", {"run_dir": "runs/segmentation/unet_shapes", "epochs": 12,
                                     "batch_size": 8, "learning_rate": 3e-3, "export": True},
                       __doc__, flags=FLAGS, model_for=model_for) else 1)
