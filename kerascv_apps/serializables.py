"""Reload guarantee: every custom Keras object of this package resolves on ``import kerascv_apps``.

A ``.keras`` file stores custom layers, losses, metrics and schedules by registered name
(``"kerascv_apps>PixelShuffle"``). Keras finds them only if the module that registers them was
imported. Importing every such module eagerly would import Keras and TensorFlow on
``import kerascv_apps`` (seconds), so the names are kept here, in a plain dict that costs
nothing, and Keras' registered-object lookup is extended to import the owning module the
first time a saved file asks for one of these names. When Keras is imported after this
package, the extension is installed right after Keras' registration module loads.

Adding a registered object: add its name and module to :data:`SERIALIZABLES` (a test
compares this table with what the modules actually register). A name missing from the
table still resolves, more slowly: every module of :data:`FALLBACK_PACKAGES` is imported.
"""

import importlib
import sys

PACKAGE = "kerascv_apps"
KERAS_REGISTRATION_MODULE = "keras.src.saving.object_registration"

# registered name (without the package prefix) -> module whose import registers it
SERIALIZABLES = {
    # layers
    "ClassToken": "kerascv_apps.layers.vit",
    "PositionEmbedding": "kerascv_apps.layers.vit",
    "TokenDense": "kerascv_apps.layers.vit",
    "MultiHeadSelfAttention": "kerascv_apps.layers.vit",
    "LocalResponseNormalization": "kerascv_apps.layers.lrn",
    "PixelShuffle": "kerascv_apps.layers.pixel_shuffle",
    "RGBToYCbCr": "kerascv_apps.layers.color",
    "YCbCrToRGB": "kerascv_apps.layers.color",
    "BicubicUpsampling": "kerascv_apps.layers.color",
    "ConnectionTableConv2D": "kerascv_apps.layers.connection_table",
    "ZeroPadShortcut": "kerascv_apps.layers.shortcuts",
    "MaxPoolingWithSwitches": "kerascv_apps.layers.pooling_indices",
    "MaxUnpoolingWithSwitches": "kerascv_apps.layers.pooling_indices",
    "MirrorPadding2D": "kerascv_apps.layers.segmentation",
    "CenterCropToMatch": "kerascv_apps.layers.segmentation",
    "ResizeToMatch": "kerascv_apps.layers.segmentation",
    "AdaptiveAveragePooling2D": "kerascv_apps.layers.segmentation",
    "BilinearUpsamplingInitializer": "kerascv_apps.layers.segmentation",
    "AuxiliaryOutput": "kerascv_apps.layers.outputs",
    "PadToMultiple": "kerascv_apps.layers.alignment",
    "CropToMatch": "kerascv_apps.layers.alignment",
    "AlignedResize": "kerascv_apps.layers.alignment",
    "SizeConstraint": "kerascv_apps.layers.alignment",
    "ImagePreprocessing": "kerascv_apps.layers.preprocessing",
    # losses
    "SegmentationCrossentropy": "kerascv_apps.losses.segmentation",
    "FocalLoss": "kerascv_apps.losses.segmentation",
    "DiceLoss": "kerascv_apps.losses.segmentation",
    "CombinedLoss": "kerascv_apps.losses.segmentation",
    "PixelLoss": "kerascv_apps.losses.super_resolution",
    # metrics
    "SegmentationMeanIoU": "kerascv_apps.metrics.segmentation",
    "psnr_metric": "kerascv_apps.metrics.super_resolution",
    # training: learning-rate schedules and the SRGAN wrapper model
    "WarmupSchedule": "kerascv_apps.training.optimizers",
    "SRGAN": "kerascv_apps.training.gan",
}

# imported, every public module in them, when a kerascv_apps name is not in the table
FALLBACK_PACKAGES = ("kerascv_apps.layers", "kerascv_apps.losses", "kerascv_apps.metrics")


def ensure_registered(registered_name):
    """Imports the module that registers ``registered_name`` (``"kerascv_apps>X"`` or ``"X"``)."""
    name = registered_name.split(">", 1)[1] if ">" in registered_name else registered_name
    module = SERIALIZABLES.get(name)
    if module is not None:
        importlib.import_module(module)
        return
    from kerascv_apps.registry import import_package

    for package in FALLBACK_PACKAGES:
        import_package(package)


def register_all():
    """Imports every module in the table (tests and tools that list registered objects)."""
    for module in sorted(set(SERIALIZABLES.values())):
        importlib.import_module(module)


def _extend_lookup(registration):
    """Wraps ``registration.get_registered_object`` (what Keras' deserializer calls) so that
    a ``kerascv_apps>`` name not registered yet imports its module first."""
    original = registration.get_registered_object
    if getattr(original, "_kerascv_apps_lazy", False):
        return

    def get_registered_object(name, custom_objects=None, module_objects=None):
        if (isinstance(name, str) and name.startswith(PACKAGE + ">")
                and name not in registration.GLOBAL_CUSTOM_OBJECTS):
            ensure_registered(name)
        return original(name, custom_objects=custom_objects, module_objects=module_objects)

    get_registered_object._kerascv_apps_lazy = True
    get_registered_object.__doc__ = original.__doc__
    registration.get_registered_object = get_registered_object


class _Loader:
    """Runs the real loader, then extends the lookup of the module it loaded (a plain class:
    ``importlib.abc`` would add its own import time)."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _extend_lookup(module)

    def __getattr__(self, name):  # get_source, get_filename, ... of the real loader
        return getattr(self._loader, name)


class _OnKerasImport:
    """Finds Keras' registration module with the other finders and wraps its loader."""

    def find_spec(self, fullname, path, target=None):
        if fullname != KERAS_REGISTRATION_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _Loader(spec.loader)
                return spec
        return None


def install():
    """Makes the table effective now (Keras already imported) or when Keras gets imported."""
    module = sys.modules.get(KERAS_REGISTRATION_MODULE)
    if module is not None:
        _extend_lookup(module)
    elif not any(isinstance(f, _OnKerasImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _OnKerasImport())
