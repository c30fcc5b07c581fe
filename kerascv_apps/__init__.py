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
