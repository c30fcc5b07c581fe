"""Dataset sources; importing this package registers every source module in it."""

from kerascv_apps.models import import_submodules

import_submodules(__name__, __path__)
