"""The contract between detection models and the detection task.

Examples (what every detection source yields, what ``prepare`` stores and what the loss
receives): ``(image, boxes)`` where ``image`` is float32 ``(H, W, 3)`` raw pixels in [0, 255]
and ``boxes`` is float32 ``(max_boxes, 5)``: one row per object, ``y_min, x_min, y_max, x_max``
in ratios of the image's height and width (``rel_yxyx``, the order TFLite's
DETECTION_POSTPROCESS and MediaPipe use) then the class id (0-based, no background class);
unused rows are padding with class id ``PAD_CLASS`` and zero coordinates. An image without
objects is a background example: every row is padding.

A detection model is a functional Keras model from raw pixels to its raw training outputs (one
tensor or a dict). Its family registers a :class:`DetectionHead` factory here; the task finds
the head of a built or reloaded model from the model's registered name, trains through
``head.loss`` and decodes through ``head.decode`` (evaluation, SavedModel, predict).
"""

TARGET_COLUMNS = ("y_min", "x_min", "y_max", "x_max", "class_id")
PAD_CLASS = -1
DEFAULT_MAX_BOXES = 32

_HEADS = {}


class DetectionHead:
    """How the detection task trains and decodes one model family's raw outputs.

    Subclasses are built by the family's factory from the model (its config holds what they
    need: anchors, grid size, number of classes)."""

    def __init__(self, model):
        self.model = model
        self.training = True  # whether ``loss`` runs in a training step (set by the trainer)

    def loss(self, y_true, y_pred):
        """Scalar loss from padded targets ``(B, max_boxes, 5)`` and the model's raw outputs
        (``keras.ops`` only, so it runs in the compiled train step)."""
        raise NotImplementedError

    def training_outputs(self):
        """Tensors of the model's graph (name -> KerasTensor) the training model outputs
        beside the model's own outputs, for ``loss`` to read from ``y_pred`` (Faster R-CNN:
        the shared feature map, to pool the ground-truth boxes as RoIs); none by default."""
        return {}

    def decode(self, y_pred, max_detections=100, score_threshold=0.05, iou_threshold=0.5):
        """Final detections from raw outputs: a dict of ``boxes`` (B, K, 4) rel_yxyx clipped to
        [0, 1], ``classes`` (B, K) int32, ``scores`` (B, K) float32 in [0, 1], descending, and
        ``count`` (B,) int32 valid rows (rows past ``count`` are zeros)."""
        raise NotImplementedError


def register_head(family):
    """Decorator registering ``factory(model) -> DetectionHead`` for a model family."""

    def decorator(factory):
        previous = _HEADS.get(family)
        if previous is not None and previous is not factory:
            raise ValueError(f"detection head {family!r} is already registered by "
                             f"{previous.__module__}")
        _HEADS[family] = factory
        return factory

    return decorator


def head_for(model):
    """The :class:`DetectionHead` of a detection model (built, or reloaded from a file)."""
    from kerascv_apps.registry import MODELS, get_entry

    MODELS.load_all()  # the families' modules register their heads on import
    try:
        family = get_entry(model.name).family
    except KeyError:
        family = None
    if family not in _HEADS:
        raise ValueError(f"model {model.name!r} is not a registered detection model "
                         f"(detection families: {', '.join(sorted(_HEADS)) or 'none'})")
    return _HEADS[family](model)
