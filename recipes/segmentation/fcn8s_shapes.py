"""FCN-8s (Long et al. 2015) on the embedded ``shapes`` dataset: a VGG-16 layout (13 convs,
fc6 7x7 / fc7 1x1 as convolutions) narrowed for a CPU budget, pool4 and pool3 skips,
bilinear-initialised transposed convolutions.

    python recipes/segmentation/fcn8s_shapes.py [--run-dir runs/segmentation/fcn8s_shapes]

Compare with fcn32s_shapes.py (same backbone and budget, no skips): the skips sharpen
boundaries (boundary F1).
"""

import sys

from shapes_recipe import main

# shared with fcn32s_shapes.py so the comparison differs only in the skips
FCN_KWARGS = {"backbone_kwargs": {"stackwise_num_filters": (16, 32, 64, 64, 64)},
              "fc_filters": 256}

if __name__ == "__main__":
    sys.exit(0 if main("fcn8s", {"run_dir": "runs/segmentation/fcn8s_shapes", "epochs": 12,
                                 "batch_size": 8, "learning_rate": 1e-3,
                                 "model_kwargs": dict(FCN_KWARGS)}, __doc__) else 1)
