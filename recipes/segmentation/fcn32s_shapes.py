"""FCN-32s (Long et al. 2015) on the embedded ``shapes`` dataset: the same narrowed VGG-16
backbone and budget as fcn8s_shapes.py, one x32 bilinear-initialised upsampling, no skips.

    python recipes/segmentation/fcn32s_shapes.py [--run-dir runs/segmentation/fcn32s_shapes]
"""

import sys

from shapes_recipe import main
from fcn8s_shapes import FCN_KWARGS

if __name__ == "__main__":
    sys.exit(0 if main("fcn32s", {"run_dir": "runs/segmentation/fcn32s_shapes", "epochs": 12,
                                  "batch_size": 8, "learning_rate": 1e-3,
                                  "model_kwargs": dict(FCN_KWARGS)}, __doc__) else 1)
