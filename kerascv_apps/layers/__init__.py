"""Reusable NHWC blocks and the few custom layers (each registered and serializable).

Custom layers are registered under the ``kerascv_apps`` package so that saved models reload
with ``keras.models.load_model(path, safe_mode=True)``; importing ``kerascv_apps.layers``
registers all of them (``import_package`` below), so a loader only needs this import.
"""

from kerascv_apps.registry import import_package

import_package(__name__)
