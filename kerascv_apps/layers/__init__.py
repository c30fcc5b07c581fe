"""Reusable NHWC blocks and the few custom layers (each registered and serializable).

Custom layers are registered under the ``kerascv_apps`` package so that saved models reload
with ``keras.models.load_model(path, safe_mode=True)``; importing ``kerascv_apps.layers``
registers all of them (``import_submodules`` below), so a loader only needs this import.
"""

from kerascv_apps.models import import_submodules

import_submodules(__name__, __path__)
