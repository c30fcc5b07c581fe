"""Data sources and tf.data pipelines.

Every source returns a :class:`DatasetSplits` whose ``train``/``val``/``test`` are *unbatched*
``tf.data.Dataset`` of ``(image, target)``: images float32 (H, W, C) pixel values in [0, 255];
targets as the task defines them (int32 class id; int32 (H, W) mask with 255 = ignore; HR image).
"""

from kerascv_apps.data.sources.base import (  # noqa: F401
    DataError, DatasetSplits, list_datasets, load_dataset, register_source)
from kerascv_apps.data.pipeline import make_pipeline  # noqa: F401
