"""ONNX export (float32 and QDQ int8), checked by onnxruntime.

Conversion goes through Keras' public ``model.export(format="onnx")``, which hands the model's
``tf.function`` to tf2onnx (``tf2onnx.convert.from_function``) after patching it for numpy 2.
Calling ``tf2onnx.convert.from_function`` ourselves gives the same graph (measured on LeNet-5,
U-Net "same", SegNet and ESPCN x2 at opset 17: the same node count and op set, file sizes within
0.01 % (node names); outputs equal to 1e-7 relative); the Keras path is used because it needs no
private patch.

Shapes: the batch dimension is always dynamic. Height and width are dynamic when the model is
fully convolutional: its own input has ``None`` spatial sizes, or (``dynamic_spatial="auto"``)
its layers can be rebuilt on a ``(None, None, C)`` input (a model with a ``Flatten``/``Dense``
head cannot, and keeps its trained size).

Standard ops only: every node of the converted graph must be an op of the default ONNX domain
at the chosen opset (``onnx.defs``); tf2onnx leaves a TensorFlow op it cannot map in the graph
under its TF name, and such a model is refused naming the op and the node (whose name carries
the Keras layer). The project's custom layers (SegNet switch pooling/unpooling, pixel shuffle,
aligned resize, pad/crop) convert to standard ops (tests/test_onnx.py).

int8: onnxruntime's static quantization in QDQ format (QuantizeLinear/DequantizeLinear pairs
around standard ops, int8 weights per channel, int8 activations), calibrated (MinMax) on the
same training images as the int8 TFLite file; float32 input and output.
"""

import os
import tempfile

import numpy as np

# ONNX opset of the exported files. tf2onnx 1.17 converts up to opset 18; 17 is the first with
# LayerNormalization (ViT), and onnxruntime >= 1.14 runs it.
DEFAULT_OPSET = 17
ONNX_FORMATS = ("onnx", "onnx_int8")
INPUT_NAME = "images"
OUTPUT_NAME = "output"


class OnnxConversionError(RuntimeError):
    """The model cannot be written as standard ONNX ops (the message names the op)."""


def _require():
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError as e:
        raise ImportError(f"ONNX export needs onnx, onnxruntime and tf2onnx ({e}); install the "
                          f"'onnx' extra: pip install -e \".[onnx]\"") from e


def dynamic_model(model, dynamic_spatial="auto"):
    """``(model, shape)``: the model to convert and its input shape, batch ``None``.

    Height and width become ``None`` when the model's input already has them ``None``, or when
    ``dynamic_spatial`` is ``"auto"``/``True`` and the model allows other sizes: its layers
    rebuild on a ``(None, None, C)`` input (``clone_model`` with the same weights) and it runs
    on an image twice its trained height and width (a ``Flatten``/``Dense`` head
    does not). ``True`` raises when it does not; ``False`` keeps the model's own size.
    """
    import keras

    shape = (None,) + tuple(model.inputs[0].shape[1:])
    if len(shape) != 4 or (shape[1] is None and shape[2] is None) or not dynamic_spatial:
        return model, shape
    try:
        # a functional model's input spec pins its trained size: rebuild it on the new input
        inputs = keras.Input((None, None, shape[3]), name=INPUT_NAME)
        wrapped = keras.models.clone_model(model, input_tensors=inputs)
        wrapped.set_weights(model.get_weights())
        probe = np.zeros((1, 2 * (shape[1] or 8), 2 * (shape[2] or 8), shape[3]), np.float32)
        wrapped(probe, training=False)
    except Exception as e:  # a head that needs the trained size (Flatten, Dense, static reshape)
        if dynamic_spatial == "auto":
            return model, shape
        raise OnnxConversionError(
            f"model {model.name!r} does not run on a (None, None, {shape[3]}) input at twice its "
            f"size, so its height and width cannot be dynamic: {str(e)[:500]}") from e
    return wrapped, (None, None, None, shape[3])


def nonstandard_ops(model_proto):
    """``[(op_type, node_name)]`` of nodes that are not ops of the default ONNX domain at the
    model's opset (what tf2onnx leaves behind for a TensorFlow op it could not map)."""
    import onnx

    opset = {o.domain or "": o.version for o in model_proto.opset_import}.get("", DEFAULT_OPSET)
    bad = []
    graphs = [model_proto.graph]
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            known = False
            if node.domain in ("", "ai.onnx"):
                try:
                    onnx.defs.get_schema(node.op_type, opset, "")
                    known = True
                except Exception:  # SchemaError: no such op at this opset
                    known = False
            if not known:
                bad.append((node.op_type, node.name))
            graphs.extend(a.g for a in node.attribute if a.type == onnx.AttributeProto.GRAPH)
            graphs.extend(g for a in node.attribute for g in a.graphs)
    return bad


def _rename_io(model_proto):
    """The one input is called ``images`` and the one output ``output`` (tf2onnx names them
    after TF tensors, e.g. ``Identity:0``); dynamic sizes ``batch``, ``height``, ``width``."""
    graph = model_proto.graph
    # symbolic sizes get readable names (tf2onnx writes unk__N)
    for values, names in ((graph.input, ("batch", "height", "width")),
                          (graph.output, ("batch", "out_height", "out_width"))):
        for value in values[:1]:
            for dim, name in zip(value.type.tensor_type.shape.dim, names):
                if dim.dim_param:
                    dim.dim_param = name
    renames = {}
    if len(graph.output) == 1 and graph.output[0].name != OUTPUT_NAME:
        renames[graph.output[0].name] = OUTPUT_NAME
    if len(graph.input) == 1 and graph.input[0].name != INPUT_NAME:
        renames[graph.input[0].name] = INPUT_NAME
    if not renames:
        return
    for value in list(graph.input) + list(graph.output):
        value.name = renames.get(value.name, value.name)
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in renames:
                node.input[i] = renames[name]
        for i, name in enumerate(node.output):
            if name in renames:
                node.output[i] = renames[name]


def convert_to_onnx(model, opset=DEFAULT_OPSET, dynamic_spatial="auto", metadata=None):
    """Converts a single-input Keras image model to ONNX and returns the file's bytes.

    Args:
        model: the (inference) Keras model taking float images in pixel values.
        opset: ONNX opset (default ``DEFAULT_OPSET``).
        dynamic_spatial: see :func:`dynamic_model`; the batch is always dynamic.
        metadata: ``{key: str}`` written as the model's ``metadata_props`` (labels, task).

    Raises:
        OnnxConversionError: tf2onnx failed, or the graph holds a non-standard op (named).
    """
    _require()
    import onnx
    import tensorflow as tf

    converted, shape = dynamic_model(model, dynamic_spatial)
    with tempfile.TemporaryDirectory(prefix=f"kcv_onnx_{os.getpid()}_") as tmp:
        path = os.path.join(tmp, "model.onnx")
        try:
            converted.export(path, format="onnx", verbose=False, opset_version=opset,
                             input_signature=[tf.TensorSpec(shape, tf.float32, name=INPUT_NAME)])
        except Exception as e:  # tf2onnx raises the handler's own exception types
            raise OnnxConversionError(f"ONNX conversion of model {model.name!r} failed: "
                                      f"{type(e).__name__}: {str(e)[-1500:]}") from e
        proto = onnx.load(path)
    bad = nonstandard_ops(proto)
    if bad:
        ops = sorted({op for op, _ in bad})
        nodes = ", ".join(f"{op} (node {node})" for op, node in bad[:5])
        raise OnnxConversionError(
            f"model {model.name!r} cannot be exported to ONNX opset {opset}: op(s) {ops} have "
            f"no standard ONNX equivalent in tf2onnx: {nodes}. Replace the layer using them, "
            f"or export TFLite/SavedModel only.")
    _rename_io(proto)
    proto.producer_name = "kerascv_apps"
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = str(key), str(value)
    try:
        onnx.checker.check_model(proto)
    except Exception as e:
        raise OnnxConversionError(
            f"ONNX file of model {model.name!r} fails onnx.checker: {e}") from e
    return proto.SerializeToString()


class _Calibration:
    """onnxruntime's CalibrationDataReader protocol over calibration images, one at a time."""

    def __init__(self, images, name):
        self._items = iter([{name: np.asarray(im, np.float32)[None]} for im in images])

    def get_next(self):
        return next(self._items, None)


def quantize_onnx_int8(float_onnx, calibration_images, per_channel=True):
    """QDQ int8 ONNX from a float file: onnxruntime ``quantize_static`` (int8 weights per
    channel, int8 activations, MinMax calibration on ``calibration_images``, float I/O),
    after onnxruntime's ``quant_pre_process`` (shape inference and graph optimization)."""
    _require()
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    images = np.asarray(calibration_images, np.float32)
    if images.ndim != 4 or not len(images):
        raise ValueError(f"calibration_images must be a non-empty (N, H, W, C) batch, got shape "
                         f"{images.shape}")
    with tempfile.TemporaryDirectory(prefix=f"kcv_onnx_{os.getpid()}_") as tmp:
        src, pre, out = (os.path.join(tmp, f) for f in ("float.onnx", "pre.onnx", "int8.onnx"))
        with open(src, "wb") as f:
            f.write(bytes(float_onnx))
        try:
            quant_pre_process(src, pre, skip_symbolic_shape=False)
        except Exception:  # symbolic shape inference does not follow every graph
            pre = src
        import onnx

        name = onnx.load(pre, load_external_data=False).graph.input[0].name
        try:
            quantize_static(pre, out, _Calibration(images, name), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                            per_channel=per_channel)
        except Exception as e:
            raise OnnxConversionError(f"onnxruntime static (QDQ) quantization failed: "
                                      f"{type(e).__name__}: {e}") from e
        with open(out, "rb") as f:
            return f.read()


class OnnxRunner:
    """Runs an ONNX file (path or bytes) with onnxruntime's CPU provider on float batches;
    gray images given to an RGB-input file are repeated to three channels."""

    def __init__(self, model, num_threads=None):
        _require()
        import onnxruntime as ort

        if isinstance(model, (str, os.PathLike)):
            with open(model, "rb") as f:
                model = f.read()
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if num_threads:
            options.intra_op_num_threads = int(num_threads)
            options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(bytes(model), options,
                                            providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0]
        self.delegate = "onnxruntime CPUExecutionProvider"

    def __call__(self, images):
        images = np.asarray(images, np.float32)
        if images.shape[-1] == 1 and self.input.shape[-1] == 3:
            images = np.repeat(images, 3, axis=-1)
        return self.session.run(None, {self.input.name: images})[0]


def op_types(data):
    import onnx

    proto = onnx.load_from_string(bytes(data))
    return sorted({n.op_type for n in proto.graph.node})


def verify_onnx(data, task, dataset, limit=None, latency_runs=50, latency_threads=(1, 2),
                batch_size=32, label="verify onnx", show_progress=None):
    """The figures ``verify_tflite`` gives, for an ONNX file run by onnxruntime: the task's
    quality metric on the test split (batched when batch outputs equal one-at-a-time ones),
    size, batch-1 latency at each of ``latency_threads``, ops, input shape and opset."""
    import onnx

    from kerascv_apps.export.verify import (_first_images, measure_latency, predict_split,
                                            tflite_batch_size)

    data = bytes(data)
    runner = OnnxRunner(data)
    probe = _first_images(dataset, min(batch_size, limit or batch_size))
    used = tflite_batch_size(runner, probe, batch_size)
    targets, predictions = predict_split(runner, dataset, limit=limit, batch_size=used,
                                         progress=label, show_progress=show_progress)
    latency = {}
    for threads in latency_threads:
        median, p90 = measure_latency(OnnxRunner(data, num_threads=threads), probe[:1],
                                      runs=latency_runs)
        latency[str(threads)] = {"median_ms": median, "p90_ms": p90, "delegate": runner.delegate}
    head = latency[str(latency_threads[0])]
    proto = onnx.load_from_string(data)
    ops = sorted({n.op_type for n in proto.graph.node})
    return {"metric": task.quality_metric, "value": float(task.score(targets, predictions)),
            "num_images": len(targets), "batch_size": used, "size_bytes": len(data),
            "latency_ms_median": head["median_ms"], "latency_ms_p90": head["p90_ms"],
            "latency_threads": latency, "input_dtype": "float32",
            "input_shape": [d if isinstance(d, int) else None for d in runner.input.shape],
            "opset": {o.domain or "ai.onnx": o.version for o in proto.opset_import}.get("ai.onnx"),
            "delegate": runner.delegate, "ops": ops,
            "non_builtin_ops": sorted({op for op, _ in nonstandard_ops(proto)})}


def export_onnx_formats(model, task, splits, out_dir, name, formats, calibration=None,
                        opset=DEFAULT_OPSET, limit=None, latency_runs=50, batch_size=32,
                        progress=print, show_progress=None, metadata=None):
    """Writes ``out_dir/<name>.onnx`` and/or ``<name>_int8.onnx`` and verifies each on
    ``splits.test``; returns ``{format: figures}`` (the export report's rows).

    ``calibration``: a callable returning the calibration images (only called for int8).
    """
    rows = {}
    wanted = [f for f in ONNX_FORMATS if f in formats]
    if not wanted:
        return rows
    progress(f"[export] ONNX float32 (opset {opset}): converting")
    float_data = convert_to_onnx(model, opset=opset, metadata=metadata)
    os.makedirs(out_dir, exist_ok=True)
    files = {}
    if "onnx" in wanted:
        files["onnx"] = float_data
    if "onnx_int8" in wanted:
        progress("[export] ONNX int8 (QDQ, onnxruntime static quantization): calibrating")
        files["onnx_int8"] = quantize_onnx_int8(float_data, calibration())
    for fmt, data in files.items():
        file = os.path.join(out_dir, f"{name}{'_int8' if fmt == 'onnx_int8' else ''}.onnx")
        with open(file, "wb") as f:
            f.write(data)
        progress(f"[export] {fmt}: verifying on the test split with onnxruntime")
        figures = verify_onnx(data, task, splits.test, limit=limit, latency_runs=latency_runs,
                              batch_size=batch_size, label=f"[verify] {fmt}",
                              show_progress=show_progress)
        figures["path"] = file
        figures["size_vs_onnx"] = len(data) / len(float_data)
        rows[fmt] = figures
    return rows
