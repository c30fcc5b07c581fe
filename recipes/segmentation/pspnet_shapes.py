"""PSPNet (Zhao et al. 2017) on the embedded ``shapes`` dataset: dilated ResNet-50 (output
stride 8; block counts 3-4-6-3, widths divided by 4 for a CPU budget), pyramid pooling with
bins 1, 2, 3, 6, and the auxiliary head on conv4 trained with loss weight 0.4 (dropped for
evaluation and export).

    python recipes/segmentation/pspnet_shapes.py [--run-dir runs/segmentation/pspnet_shapes]
"""

import sys

from shapes_recipe import main

if __name__ == "__main__":
    sys.exit(0 if main("pspnet", {"run_dir": "runs/segmentation/pspnet_shapes", "epochs": 12,
                                  "batch_size": 8, "learning_rate": 2e-3,
                                  "model_kwargs": {"include_aux": True, "head_filters": 128,
                                                   "aux_filters": 64, "backbone_kwargs": {
                                                       "stackwise_num_filters": (16, 32, 64, 128),
                                                       "stem_filters": 16}}}, __doc__) else 1)
