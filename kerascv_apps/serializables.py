"""Reload guarantee: every custom Keras object of this package resolves on ``import kerascv_apps``.

A ``.keras`` file stores custom layers, losses, metrics and schedules by registered name
(``"kerascv_apps>PixelShuffle"``); Keras finds them once the module that registers them (with
the public ``keras.saving.register_keras_serializable``) was imported. Importing them on
``import kerascv_apps`` would import Keras and TensorFlow there (seconds; the CLI starts
without them), so this module registers them when Keras itself is imported: ``install`` puts a
finder for the public ``keras`` package on ``sys.meta_path``; when ``keras`` has finished
importing, every module of :data:`SERIALIZABLES` is imported (they register through Keras'
public API). No Keras internals are touched. If Keras was imported first, ``install``
registers at once.

A module of the table that imports from another one still being imported (the one whose
``import keras`` set this off) cannot be imported yet: it is retried when that module finishes.

Adding a registered object: add its name and module to :data:`SERIALIZABLES` (a test
compares this table with what the modules actually register).
"""

import importlib
import sys

PACKAGE = "kerascv_apps"
KERAS = "keras"

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
    "AnchorPredictions": "kerascv_apps.layers.anchors",
    "RoIPooling": "kerascv_apps.layers.roi_pooling",
    "RegionProposals": "kerascv_apps.layers.proposals",
    "ChannelsToBatch": "kerascv_apps.layers.patches",
    "BatchToChannels": "kerascv_apps.layers.patches",
    "PatchFold": "kerascv_apps.layers.patches",
    "Reparameterize": "kerascv_apps.layers.generation",
    # models: a backbone's feature extractor (its feature levels in its config)
    "BackboneModel": "kerascv_apps.models.backbones",
    # losses
    "SegmentationCrossentropy": "kerascv_apps.losses.segmentation",
    "FocalLoss": "kerascv_apps.losses.segmentation",
    "DiceLoss": "kerascv_apps.losses.segmentation",
    "CombinedLoss": "kerascv_apps.losses.segmentation",
    "PixelLoss": "kerascv_apps.losses.super_resolution",
    "BernoulliReconstructionLoss": "kerascv_apps.losses.generation",
    # metrics
    "SegmentationMeanIoU": "kerascv_apps.metrics.segmentation",
    "psnr_metric": "kerascv_apps.metrics.super_resolution",
    # training: learning-rate schedules and the SRGAN wrapper model
    "WarmupSchedule": "kerascv_apps.training.optimizers",
    "SRGAN": "kerascv_apps.training.gan",
    # the detection task's training graph (a detector that trains through its head's loss)
    "DetectionTrainingModel": "kerascv_apps.tasks.detection",
    "TiedDenoisingAutoencoder": "kerascv_apps.training.layerwise",
    "half_sum_squared_error": "kerascv_apps.training.layerwise",
    "DCGAN": "kerascv_apps.training.gan",
}

def register_all():
    """Imports every module in the table (raises what a module raises)."""
    for module in sorted(set(SERIALIZABLES.values())):
        importlib.import_module(module)
    _state["pending"].clear()


_state = {"keras_loaded": False, "running": False, "pending": set(SERIALIZABLES.values())}


def _register_pending():
    """Imports the table's modules not imported yet (once Keras is loaded)."""
    if _state["running"] or not _state["keras_loaded"]:
        return
    _state["running"] = True
    try:
        for module in sorted(_state["pending"]):
            try:
                importlib.import_module(module)
            except ImportError:
                # it imports from a module of the table still being imported: retried when
                # that one finishes (see _Loader)
                continue
            _state["pending"].discard(module)
    finally:
        _state["running"] = False
    if not _state["pending"]:
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _OnKerasImport)]


def _loaded(fullname):
    if fullname == KERAS:
        _state["keras_loaded"] = True
    else:
        _state["pending"].discard(fullname)
    _register_pending()


class _Loader:
    """Runs the real loader, then registers what is pending (a plain class:
    ``importlib.abc`` would add its own import time)."""

    def __init__(self, loader, fullname):
        self._loader = loader
        self._fullname = fullname

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _loaded(self._fullname)

    def __getattr__(self, name):  # get_source, get_filename, ... of the real loader
        return getattr(self._loader, name)


class _OnKerasImport:
    """Finds ``keras`` (and the table's modules) with the other finders and wraps their
    loaders, so that registration runs when they have finished importing."""

    def find_spec(self, fullname, path, target=None):
        if fullname != KERAS and fullname not in _state["pending"]:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _Loader(spec.loader, fullname)
                return spec
        return None


def install():
    """Registers the table now (Keras already imported) or when Keras gets imported."""
    if KERAS in sys.modules:
        _state["keras_loaded"] = True
        _register_pending()
    elif not any(isinstance(f, _OnKerasImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _OnKerasImport())
