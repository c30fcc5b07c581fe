"""Data sources and tf.data pipelines.

Every source returns a :class:`DatasetSplits` whose ``train``/``val``/``test`` are *unbatched*
``tf.data.Dataset`` of ``(image, target)``: images float32 (H, W, C) pixel values in [0, 255];
targets as the task defines them (int32 class id; int32 (H, W) mask with 255 = ignore; HR image).

The embedded datasets (``digits``, ``shapes``) live in memory. Folder sources (``folder:``,
``seg_folder:``) and prepared TFRecords (``tfrecord:``, written by ``kerascv-apps prepare``)
stream from disk (``data/streaming.py``) after a header-only check of every file
(``data/validate.py``); ``tfds:<name>`` reads any prepared tensorflow_datasets dataset.
Every file is decoded by ``data/decode.py`` (16-bit images: ``p8 = p16 >> 8``), the same
function a serving endpoint should call.
"""

from kerascv_apps.data.sources.base import (  # noqa: F401
    DataError, DatasetSplits, list_datasets, load_dataset, register_source)
from kerascv_apps.data.pipeline import make_pipeline  # noqa: F401
