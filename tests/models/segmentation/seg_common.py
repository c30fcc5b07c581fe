"""What the segmentation family tests share: tiny backbones, a small batch and the harness
call with a registered name."""

import numpy as np

from kerascv_apps.losses.segmentation import SegmentationCrossentropy
from tests.harness import STEP_OPTIMIZER, run_model_test

NUM_CLASSES = 3
# Small widths and one block per stage (strides and offsets do not depend on either).
TINY_BACKBONES = {
    "vgg16": dict(stackwise_num_filters=(4, 4, 8, 8, 8), stackwise_num_blocks=(1, 1, 1, 1, 1)),
    "resnet50": dict(stackwise_num_filters=(4, 4, 8, 8), stackwise_num_blocks=(1, 1, 1, 1),
                     stem_filters=8),
    "mobilenet_v2": dict(alpha=0.35, stackwise_num_blocks=(1, 1, 1, 1, 1, 1, 1), last_filters=8),
}
BACKBONES = sorted(TINY_BACKBONES)


def batch(size=32, n=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, (n, size, size, 3)).astype(np.float32)
    y = rng.integers(0, NUM_CLASSES, (n, size, size)).astype(np.int32)
    y[:, :2] = 255  # some ignored pixels
    return x, y


def check_segmentation(name, size=32, harness=None, **kwargs):
    """Runs the shared harness (``run_model_test``) on the registered ``name`` with
    ``num_classes`` = 3 and a ``size`` x ``size`` batch; returns (trained model, report)."""
    x, y = batch(size)
    report = run_model_test(name, {"num_classes": NUM_CLASSES, **kwargs}, x, y,
                            SegmentationCrossentropy(), mixed_precision=False,
                            **{"optimizer": STEP_OPTIMIZER, **(harness or {})})
    assert report["output_shapes"][0][1:] == (size, size, NUM_CLASSES)
    assert abs(report["loss"] - np.log(NUM_CLASSES)) < 1.5  # a sane start for 3 classes
    return report["model"], report
