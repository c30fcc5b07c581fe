"""SegNet (Badrinarayanan et al. 2015) on the embedded ``shapes`` dataset: VGG-16 encoder
(13 conv + BN, narrowed for a CPU budget) and the mirrored decoder unpooling with the
encoder's max locations; exported to int8 TFLite (builtin ops only).

    python recipes/segmentation/segnet_shapes.py [--run-dir runs/segmentation/segnet_shapes]
"""

import sys

from shapes_recipe import main

if __name__ == "__main__":
    sys.exit(0 if main("segnet", {"run_dir": "runs/segmentation/segnet_shapes", "epochs": 12,
                                  "batch_size": 8, "learning_rate": 2e-3,
                                  "model_kwargs": {"stackwise_num_filters": (16, 32, 64, 64, 64)},
                                  "export": True}, __doc__) else 1)
