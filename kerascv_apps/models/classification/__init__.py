"""Importing this package registers every model family module inside it."""

from kerascv_apps.models import import_submodules

import_submodules(__name__, __path__)
