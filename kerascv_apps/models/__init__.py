"""Model builders, one sub-package per task and one module per family."""

import importlib
import pkgutil


def import_submodules(package_name, package_path):
    """Imports every module of a package so that their ``@register_model`` calls run."""
    for info in pkgutil.iter_modules(package_path):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package_name}.{info.name}")
