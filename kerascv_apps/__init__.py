"""kerascv_apps: classic vision models as production tools (Keras 3, TensorFlow backend).

Conventions shared by every part of the package:
- images are NHWC float32 pixel values in [0, 255]; every model rescales inside itself, so
  a phone or TF Serving client feeds raw pixels;
- classification targets are int class ids; segmentation targets are int masks (H, W) with
  255 meaning "ignore"; super-resolution targets are HR images in [0, 255].
"""

__version__ = "0.1.0"

from kerascv_apps.io import load_model  # noqa: E402,F401
from kerascv_apps.registry import build_model, list_models, register_model  # noqa: E402,F401
from kerascv_apps import serializables as _serializables  # noqa: E402

_serializables.install()  # saved models reload on this import alone (see serializables.py)

# The public API. Names not imported above load on first access (module ``__getattr__``), so
# ``import kerascv_apps`` stays cheap: TensorFlow loads with the first data/training call.
_LAZY = {
    "load_dataset": "kerascv_apps.data.sources.base",
    "train_model": "kerascv_apps.experiment",
    "evaluate_model": "kerascv_apps.experiment",
    "export_run": "kerascv_apps.experiment",
    "Task": "kerascv_apps.tasks.base",
    "ClassificationTask": "kerascv_apps.tasks.classification",
    "SegmentationTask": "kerascv_apps.tasks.segmentation",
    "SuperResolutionTask": "kerascv_apps.tasks.super_resolution",
    "DetectionTask": "kerascv_apps.tasks.detection",
}

__all__ = ["build_model", "list_models", "load_model", "load_dataset", "train_model",
           "evaluate_model", "export_run", "Task", "ClassificationTask", "SegmentationTask",
           "SuperResolutionTask", "DetectionTask"]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kerascv_apps' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
