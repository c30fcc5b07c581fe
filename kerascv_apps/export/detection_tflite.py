"""TFLite files of anchor detectors that end in TFLite's ``DETECTION_POSTPROCESS`` custom op,
the layout MediaPipe Tasks' ``ObjectDetector`` and the TF Object Detection API's phone models
use: one RGB image in, four outputs

    boxes   (1, N, 4) float32  top, left, bottom, right in ratios of the input
    classes (1, N)    float32  class ids (0-based: our class ids, no background class)
    scores  (1, N)    float32  in [0, 1]
    count   (1,)      float32  valid rows

How (as the TF Object Detection API's ``export_tflite_graph_lib_tf2.py`` does): the serving
function runs the Keras model, applies the sigmoid to the class logits and hands the box
encodings, the scores and the anchors (``y_centre, x_centre, h, w`` ratios, a constant) to a
``tf.function`` annotated ``experimental_implements="name: \\"TFLite_Detection_PostProcess\\"
attr {...}"``; the converter (``allow_custom_ops``) replaces that function by the custom op with
those attributes. The op decodes ``y = ty / y_scale * h_a + y_a``, ``h = exp(th / h_scale) *
h_a``: with SSD's variances (0.1, 0.1, 0.2, 0.2) the scales are 10, 10, 5, 5.

Metadata is MediaPipe's object-detector layout (what its ``object_detector.MetadataWriter.
create_for_models_with_nms`` writes; that writer does not import from the mediapipe 1.2.2 wheel,
see :mod:`kerascv_apps.export.metadata`): an image input with normalization, the four output
tensors named ``location`` (BoundingBoxProperties, index 1, 0, 3, 2: top/left/bottom/right,
BOUNDARIES, RATIO), ``category`` (labels file, TENSOR_VALUE_LABELS), ``score`` and ``number of
detections``, the first three grouped as ``detection_result``.

From the detection task's export: :func:`export_detector_tflite` (``float32`` / ``int8`` with
the task's class names and calibration images, optionally a JSON contract as an extra file),
verified with :func:`run_litert` + :func:`pack_results` in the task's prediction format.
"""

import io
import zipfile

import numpy as np

from kerascv_apps.export import metadata as _metadata
from kerascv_apps.export.tflite import (TFLiteConversionError, check_prepares,
                                        convert_serving_function, finish_integer_file)

POSTPROCESS_OP = "TFLite_Detection_PostProcess"
OUTPUT_NAMES = ("location", "category", "score", "number of detections")
# every mode of export/tflite.py but int16x8 (the converter has no 16x8 path around a custom
# op); float16 / dynamic quantize the weights only, the op and the I/O stay float32
MODES = ("float32", "float16", "dynamic", "int8")
LABELS_FILE = "labels.txt"
DETECTION_OUTPUT_NAMES = ("boxes", "classes", "scores", "count")


def _implements_signature(num_classes, variance, max_detections, max_classes_per_detection,
                          score_threshold, iou_threshold, use_regular_nms,
                          detections_per_class):
    y_scale, x_scale, h_scale, w_scale = (1.0 / v for v in variance)
    attrs = [
        f'name: "{POSTPROCESS_OP}"',
        f'attr {{ key: "max_detections" value {{ i: {int(max_detections)} }} }}',
        f'attr {{ key: "max_classes_per_detection" value {{ i: {int(max_classes_per_detection)} }} }}',
        f'attr {{ key: "detections_per_class" value {{ i: {int(detections_per_class)} }} }}',
        f'attr {{ key: "use_regular_nms" value {{ b: {str(bool(use_regular_nms)).lower()} }} }}',
        f'attr {{ key: "nms_score_threshold" value {{ f: {float(score_threshold):f} }} }}',
        f'attr {{ key: "nms_iou_threshold" value {{ f: {float(iou_threshold):f} }} }}',
        f'attr {{ key: "y_scale" value {{ f: {y_scale:f} }} }}',
        f'attr {{ key: "x_scale" value {{ f: {x_scale:f} }} }}',
        f'attr {{ key: "h_scale" value {{ f: {h_scale:f} }} }}',
        f'attr {{ key: "w_scale" value {{ f: {w_scale:f} }} }}',
        f'attr {{ key: "num_classes" value {{ i: {int(num_classes)} }} }}',
    ]
    return " ".join(attrs)


def _postprocess_fn(signature):
    import tensorflow as tf

    @tf.function(experimental_implements=signature)
    def postprocess(box_encodings, class_predictions, anchors):
        # placeholders: the converter replaces this whole function by the custom op
        del box_encodings, class_predictions, anchors
        boxes = tf.constant(0.0, dtype=tf.float32, name="boxes")
        classes = tf.constant(0.0, dtype=tf.float32, name="classes")
        scores = tf.constant(0.0, dtype=tf.float32, name="scores")
        count = tf.constant(0.0, dtype=tf.float32, name="num_detections")
        return boxes, classes, scores, count

    return postprocess


def convert_detector(model, mode="float32", representative_data=None, max_detections=100,
                     score_threshold=0.05, iou_threshold=0.5, use_regular_nms=False,
                     max_classes_per_detection=1, detections_per_class=100,
                     num_calibration_batches=100):
    """Converts an anchor detector (a model whose head has ``anchors`` (A, 4) rel_yxyx,
    ``variance`` and ``num_classes``, e.g. :class:`~kerascv_apps.models.detection.ssd.SSDHead`)
    to a TFLite flatbuffer ending in ``DETECTION_POSTPROCESS``; returns its bytes.

    ``mode``: ``float32`` (float input, raw [0, 255] pixels), ``float16`` (float16 weights)
    or ``dynamic`` (int8 weights, dynamic-range activations), both with float I/O, or
    ``int8`` (int8 weights and activations, uint8 input taking raw pixels at scale 1; the op's
    outputs stay float32).
    ``use_regular_nms=False`` is the op's fast NMS (one class per box,
    ``max_classes_per_detection``); ``True`` is per-class NMS (slower, what evaluation
    matches best). Outputs are reordered to boxes, classes, scores, count.
    """
    import tensorflow as tf

    from kerascv_apps.models.detection.ssd import SSDHead, anchors_center_yxhw

    if mode not in MODES:
        raise ValueError(f"detection TFLite mode must be one of {MODES}, got {mode!r}")
    if mode == "int8" and representative_data is None:
        raise ValueError("int8 conversion needs representative_data (images from the training "
                         "split)")
    head = SSDHead(model)  # refuses a model without an anchor description
    shape = (1,) + tuple(model.inputs[0].shape[1:])
    if None in shape:
        raise ValueError(f"model {model.name!r}: the detection export needs a static input "
                         f"size, got {shape}")
    anchors = tf.constant(anchors_center_yxhw(head.anchors))
    postprocess = _postprocess_fn(_implements_signature(
        head.num_classes, head.variance, max_detections, max_classes_per_detection,
        score_threshold, iou_threshold, use_regular_nms, detections_per_class))

    def serve(images):
        raw = model(images, training=False)
        scores = tf.sigmoid(tf.cast(raw["classes"], tf.float32))
        return postprocess(tf.cast(raw["boxes"], tf.float32), scores, anchors)

    data = convert_serving_function(
        model, serve, shape, mode, representative_data=representative_data,
        num_calibration_batches=num_calibration_batches, input_type="uint8",
        output_type="float32", allow_custom_ops=True,
        serving_key=("detection_postprocess", max_detections, max_classes_per_detection,
                     score_threshold, iou_threshold, use_regular_nms, detections_per_class),
        what=f"TFLite {mode} detection conversion of model {model.name!r}")
    return _checked_file(order_outputs(data), mode, model)


def convert_decoded_detector(model, head, mode="float32", representative_data=None,
                             max_detections=100, score_threshold=0.05, iou_threshold=0.5,
                             num_calibration_batches=100):
    """Converts a detector without an anchor description (e.g. YOLO v1's grid, whose boxes
    the ``DETECTION_POSTPROCESS`` op cannot decode) with its head's own decode in the graph:
    ``head.decode`` (score threshold, per-class NMS as a ``WHILE`` loop, top ``max_detections``)
    in TFLite builtins. The file has :func:`convert_detector`'s four outputs in the same order
    and types (boxes (1, N, 4) rel_yxyx, classes (1, N) float32, scores (1, N), count (1,)
    float32), so the task's verification, the metadata and the phone code read it alike.
    ``mode``: ``float32``, ``float16`` or ``dynamic`` (as :func:`convert_detector`); ``int8``
    is refused: the converter quantizes the decode and NMS too, and LiteRT's int8 ``DIV`` of
    the IoUs stops on a zero-point divisor (an int8 network with a float decode would need the
    decode outside the quantized graph)."""
    import tensorflow as tf

    if mode not in MODES:
        raise ValueError(f"detection TFLite mode must be one of {MODES}, got {mode!r}")
    if mode == "int8":
        raise ValueError(f"model {model.name!r}: no int8 file for a detector whose head decodes "
                         f"in the graph (its NMS IoUs would be quantized: LiteRT's int8 DIV "
                         f"fails on them); export float32, float16 or dynamic")
    shape = (1,) + tuple(model.inputs[0].shape[1:])
    if None in shape:
        raise ValueError(f"model {model.name!r}: the detection export needs a static input "
                         f"size, got {shape}")

    def serve(images):
        out = head.decode(model(images, training=False), max_detections=max_detections,
                          score_threshold=score_threshold, iou_threshold=iou_threshold)
        return {"boxes": tf.cast(out["boxes"], tf.float32),
                "classes": tf.cast(out["classes"], tf.float32),
                "scores": tf.cast(out["scores"], tf.float32),
                "count": tf.cast(out["count"], tf.float32)}

    data = convert_serving_function(
        model, serve, shape, mode, representative_data=representative_data,
        num_calibration_batches=num_calibration_batches, input_type="uint8",
        output_type="float32", allow_custom_ops=False,
        serving_key=("head_decode", type(head).__name__, max_detections, score_threshold,
                     iou_threshold),
        what=f"TFLite {mode} detection conversion of model {model.name!r}")
    return _checked_file(order_outputs_by_name(data, DETECTION_OUTPUT_NAMES), mode, model)


def _checked_file(data, mode, model):
    """A detection file LiteRT prepares (an int8 one also taking raw uint8 pixels)."""
    what = f"{mode} detection file of model {model.name!r}"
    if mode == "int8":
        return finish_integer_file(data, "uint8", what)
    check_prepares(data, what)
    return data


def order_outputs_by_name(tflite_bytes, names):
    """The file with its subgraph and signature outputs in the order of ``names`` (the
    signature's output names; the converter orders them alphabetically, phone code reads
    them by position). Raises when the signature's names are not ``names``."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as sc

    data = bytes(tflite_bytes)
    model = sc.ModelT.InitFromObj(sc.Model.GetRootAsModel(data, 0))
    graph = model.subgraphs[0]
    signatures = model.signatureDefs or []
    if len(signatures) != 1:
        raise TFLiteConversionError(f"expected one signature, found {len(signatures)}")
    by_name = {(t.name.decode() if isinstance(t.name, bytes) else t.name): t
               for t in signatures[0].outputs}
    if sorted(by_name) != sorted(names):
        raise TFLiteConversionError(f"the file's outputs are {sorted(by_name)}, expected "
                                    f"{list(names)}")
    ordered = [by_name[n] for n in names]
    outputs = [int(t.tensorIndex) for t in ordered]
    if sorted(outputs) != sorted(int(i) for i in graph.outputs):
        raise TFLiteConversionError(f"the signature's outputs {outputs} are not the graph's "
                                    f"{list(graph.outputs)}")
    if [int(i) for i in graph.outputs] == outputs and [
            int(t.tensorIndex) for t in signatures[0].outputs] == outputs:
        return data
    graph.outputs = outputs
    signatures[0].outputs = ordered
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), b"TFL3")
    return bytes(builder.Output())


def _postprocess_op(model, graph):
    from ai_edge_litert import schema_py_generated as sc

    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        custom = code.customCode.decode() if isinstance(code.customCode, bytes) else \
            code.customCode
        if code.builtinCode == sc.BuiltinOperator.CUSTOM and custom == POSTPROCESS_OP:
            return op
    return None


def order_outputs(tflite_bytes):
    """The file with its subgraph outputs set to the postprocess op's four outputs in the op's
    order (boxes, classes, scores, count): the converter orders signature outputs by name,
    MediaPipe reads them by position. Raises when the file has no postprocess op."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as sc

    data = bytes(tflite_bytes)
    model = sc.ModelT.InitFromObj(sc.Model.GetRootAsModel(data, 0))
    graph = model.subgraphs[0]
    op = _postprocess_op(model, graph)
    if op is None:
        raise TFLiteConversionError(f"the converted file has no {POSTPROCESS_OP} op")
    outputs = [int(i) for i in op.outputs]
    if [int(i) for i in graph.outputs] == outputs:
        return data
    if sorted(int(i) for i in graph.outputs) != sorted(outputs):
        raise TFLiteConversionError(f"the file's outputs {list(graph.outputs)} are not the "
                                    f"{POSTPROCESS_OP} op's outputs {outputs}")
    graph.outputs = outputs
    for signature in model.signatureDefs or []:
        by_index = {int(t.tensorIndex): t for t in signature.outputs}
        signature.outputs = [by_index[i] for i in outputs]
        names = ("boxes", "classes", "scores", "count")
        for t, name in zip(signature.outputs, names):
            t.name = name
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), b"TFL3")
    return bytes(builder.Output())


# --------------------------------------------------------------------------- metadata

def build_detector_metadata(name, class_names, description="", version="1",
                            input_mean=(0.0,), input_std=(1.0,)):
    """MediaPipe's object-detector ``ModelMetadata`` (bytes) for a file made by
    :func:`convert_detector` (input: raw [0, 255] RGB, so mean 0, std 1)."""
    import flatbuffers

    md, _ = _metadata._schemas()
    tin = md.TensorMetadataT()
    tin.name = "image"
    tin.description = "RGB image, NHWC, raw pixel values in [0, 255]."
    tin.content = _metadata._image_content(md, "RGB")
    norm = md.ProcessUnitT()
    norm.optionsType = md.ProcessUnitOptions.NormalizationOptions
    norm.options = md.NormalizationOptionsT()
    norm.options.mean = [float(v) for v in input_mean]
    norm.options.std = [float(v) for v in input_std]
    tin.processUnits = [norm]
    tin.stats = _metadata._stats(md, 0, 255, 1)

    def value_range():
        r = md.ValueRangeT()
        r.min = r.max = 2  # the detections' dimension of the (1, N, ...) tensors
        return r

    location = md.TensorMetadataT()
    location.name = OUTPUT_NAMES[0]
    location.description = "The locations of the detected boxes."
    location.content = md.ContentT()
    location.content.contentPropertiesType = md.ContentProperties.BoundingBoxProperties
    props = md.BoundingBoxPropertiesT()
    props.index = [1, 0, 3, 2]  # the tensor holds top, left, bottom, right
    props.type = md.BoundingBoxType.BOUNDARIES
    props.coordinateType = md.CoordinateType.RATIO
    location.content.contentProperties = props
    location.content.range = value_range()

    category = md.TensorMetadataT()
    category.name = OUTPUT_NAMES[1]
    category.description = "The categories of the detected boxes."
    category.content = md.ContentT()
    category.content.contentPropertiesType = md.ContentProperties.FeatureProperties
    category.content.contentProperties = md.FeaturePropertiesT()
    category.content.range = value_range()
    labels = md.AssociatedFileT()
    labels.name = LABELS_FILE
    labels.description = "Class names, one per line, in class-id order."
    labels.type = md.AssociatedFileType.TENSOR_VALUE_LABELS
    category.associatedFiles = [labels]

    score = md.TensorMetadataT()
    score.name = OUTPUT_NAMES[2]
    score.description = "The scores of the detected boxes."
    score.content = md.ContentT()
    score.content.contentPropertiesType = md.ContentProperties.FeatureProperties
    score.content.contentProperties = md.FeaturePropertiesT()
    score.content.range = value_range()

    number = md.TensorMetadataT()
    number.name = OUTPUT_NAMES[3]
    number.description = "The number of the detected boxes."
    number.content = md.ContentT()
    number.content.contentPropertiesType = md.ContentProperties.FeatureProperties
    number.content.contentProperties = md.FeaturePropertiesT()

    group = md.TensorGroupT()
    group.name = "detection_result"
    group.tensorNames = list(OUTPUT_NAMES[:3])

    subgraph = md.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [tin]
    subgraph.outputTensorMetadata = [location, category, score, number]
    subgraph.outputTensorGroups = [group]
    meta = md.ModelMetadataT()
    meta.name = name
    meta.description = description or (f"Object detector ({len(class_names)} classes), "
                                        f"{POSTPROCESS_OP} outputs.")
    meta.version = str(version)
    meta.author = "kerascv_apps"
    meta.minParserVersion = _metadata.MIN_PARSER_VERSION
    meta.subgraphMetadata = [subgraph]
    b = flatbuffers.Builder(0)
    b.Finish(meta.Pack(b), b"M001")
    return bytes(b.Output())


def embed_detector_metadata(tflite_bytes, name, class_names, extra_files=None, **kwargs):
    """``tflite_bytes`` with the detector metadata, ``labels.txt`` (and ``extra_files``:
    ``{name: bytes or str}``, e.g. the JSON contract) attached as MediaPipe reads them."""
    class_names = [str(c) for c in class_names]
    if not class_names or any(not c or "\n" in c for c in class_names):
        raise ValueError(f"class_names must be non-empty single-line names, got {class_names!r}")
    files = {LABELS_FILE: "\n".join(class_names) + "\n"}
    files.update(extra_files or {})
    return _metadata.attach_metadata(tflite_bytes, build_detector_metadata(name, class_names,
                                                                           **kwargs), files)


def export_detector_tflite(model, class_names, mode="float32", representative_data=None,
                           **kwargs):
    """:func:`convert_detector` then :func:`embed_detector_metadata` (model name, labels)."""
    from kerascv_apps.models.detection.ssd import anchor_config_of

    num_classes = anchor_config_of(model)["num_classes"]
    if len(class_names) != num_classes:
        raise ValueError(f"model {model.name!r} has {num_classes} classes but "
                         f"{len(class_names)} class names were given")
    data = convert_detector(model, mode, representative_data, **kwargs)
    return embed_detector_metadata(data, model.name, class_names)


# --------------------------------------------------------------------------- running

def run_litert(tflite_bytes, images, num_threads=None):
    """Runs a detector file on uint8 ``images`` (N, H, W, 3) with LiteRT; returns one dict
    per image: ``boxes`` (K, 4) rel_yxyx, ``classes`` (K,) int, ``scores`` (K,)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=bytes(tflite_bytes), num_threads=num_threads)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    outs = interpreter.get_output_details()
    results = []
    for image in np.asarray(images):
        interpreter.set_tensor(inp["index"], image[None].astype(inp["dtype"]))
        interpreter.invoke()
        boxes, classes, scores, count = (interpreter.get_tensor(o["index"]) for o in outs)
        n = int(count.reshape(-1)[0])
        results.append({"boxes": boxes[0, :n].astype(np.float32),
                        "classes": classes[0, :n].astype(np.int64),
                        "scores": scores[0, :n].astype(np.float32)})
    return results


def run_mediapipe(tflite_bytes, images, score_threshold=0.0, max_results=-1):
    """Runs a detector file on uint8 ``images`` with MediaPipe Tasks' ``ObjectDetector``;
    returns one dict per image like :func:`run_litert` (boxes converted from MediaPipe's
    pixel ``origin_x, origin_y, width, height`` to rel_yxyx; one row per category of a
    detection), plus ``names``, in descending score.

    MediaPipe reports whole pixels (see :func:`in_mediapipe_pixels`); the mediapipe 1.2.2
    Python binding leaves ``Category.index`` unset, so class ids are looked up from the
    names in the file's ``labels.txt``."""
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions
    from mediapipe.tasks.python import vision

    options = vision.ObjectDetectorOptions(
        base_options=BaseOptions(model_asset_buffer=bytes(tflite_bytes)),
        max_results=max_results, score_threshold=score_threshold)
    labels = read_labels(tflite_bytes)
    results = []
    with vision.ObjectDetector.create_from_options(options) as detector:
        for image in np.asarray(images):
            h, w = image.shape[:2]
            result = detector.detect(mp.Image(image_format=mp.ImageFormat.SRGB,
                                              data=np.ascontiguousarray(image, np.uint8)))
            boxes, classes, scores, names = [], [], [], []
            for d in result.detections:
                bb = d.bounding_box
                box = [bb.origin_y / h, bb.origin_x / w, (bb.origin_y + bb.height) / h,
                       (bb.origin_x + bb.width) / w]
                # MediaPipe merges the op's detections of one box (per-class NMS keeps a box
                # once per class) into one detection with several categories
                for category in d.categories:
                    boxes.append(box)
                    classes.append(category.index if category.index is not None
                                   else labels.index(category.category_name))
                    scores.append(category.score)
                    names.append(category.category_name)
            order = np.argsort(-np.asarray(scores, np.float32), kind="stable")
            results.append({"boxes": np.asarray(boxes, np.float32).reshape(-1, 4)[order],
                            "classes": np.asarray(classes, np.int64)[order],
                            "scores": np.asarray(scores, np.float32)[order],
                            "names": [names[i] for i in order]})
    return results


def pack_results(results, max_detections):
    """Per-image detections (:func:`run_litert`, :func:`run_mediapipe`) as the detection
    task's packed predictions: float32 (N, max_detections, 6) rows of ``y_min, x_min, y_max,
    x_max, class_id, score`` (boxes clipped to [0, 1]), descending score, zero rows after the
    last detection (what ``DetectionTask.score`` takes)."""
    packed = np.zeros((len(results), int(max_detections), 6), np.float32)
    for i, r in enumerate(results):
        order = np.argsort(-np.asarray(r["scores"]), kind="stable")[:int(max_detections)]
        n = len(order)
        packed[i, :n, :4] = np.clip(np.asarray(r["boxes"]).reshape(-1, 4)[order], 0.0, 1.0)
        packed[i, :n, 4] = np.asarray(r["classes"])[order]
        packed[i, :n, 5] = np.asarray(r["scores"])[order]
    return packed


def read_labels(tflite_bytes):
    """The class names in a detector file's ``labels.txt`` (empty list when none)."""
    data = bytes(tflite_bytes)
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        if LABELS_FILE not in zf.namelist():
            return []
        return zf.read(LABELS_FILE).decode().splitlines()


def in_mediapipe_pixels(results, height, width):
    """Per-image detections with boxes as MediaPipe's ``ObjectDetector`` reports them for a
    ``height x width`` image (measured against LiteRT on the same file): whole pixels, the
    origin truncated and raised to 0 (``max(0, int(y_min * H))``), the size truncated from the
    unclipped box (``int((y_max - y_min) * H)``), no clipping at the far side; back in ratios.
    Comparing MediaPipe with LiteRT needs this: a 1-pixel truncation alone costs a 20-pixel box
    10% IoU."""
    out = []
    for r in results:
        b = np.asarray(r["boxes"], np.float64).reshape(-1, 4)
        y0 = np.maximum(np.trunc(b[:, 0] * height), 0)
        x0 = np.maximum(np.trunc(b[:, 1] * width), 0)
        hh = np.trunc((b[:, 2] - b[:, 0]) * height)
        ww = np.trunc((b[:, 3] - b[:, 1]) * width)
        boxes = np.stack([y0 / height, x0 / width, (y0 + hh) / height, (x0 + ww) / width], -1)
        out.append(dict(r, boxes=boxes.astype(np.float32)))
    return out


def _iou_matrix(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    y1 = np.maximum(a[:, None, 0], b[None, :, 0])
    x1 = np.maximum(a[:, None, 1], b[None, :, 1])
    y2 = np.minimum(a[:, None, 2], b[None, :, 2])
    x2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(y2 - y1, 0, None) * np.clip(x2 - x1, 0, None)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return inter / np.maximum(union, 1e-12)


def match_detections(reference, other, iou=0.95):
    """How many of ``reference``'s detections (per-image dicts, boxes rel_yxyx) ``other``
    has: greedily by score, the same class and IoU >= ``iou``. Returns ``(matched, total)``
    over all images; detections of ``other`` left over count against it in ``total``."""
    matched = total = 0
    for ref, oth in zip(reference, other):
        total += max(len(ref["scores"]), len(oth["scores"]))
        if not len(ref["scores"]) or not len(oth["scores"]):
            continue
        ious = _iou_matrix(ref["boxes"], oth["boxes"])
        used = set()
        for i in np.argsort(-ref["scores"], kind="stable"):
            candidates = [j for j in np.argsort(-ious[i], kind="stable")
                          if j not in used and ious[i, j] >= iou
                          and oth["classes"][j] == ref["classes"][i]]
            if candidates:
                used.add(candidates[0])
                matched += 1
    return matched, total
