"""TFLite / LiteRT conversion (float32, float16, dynamic-range, full-integer int8, 16x8) and running.

Conversion goes through a SavedModel written by ``keras.export.ExportArchive`` so that the input
signature (batch 1 for phones, or ``None`` spatial dims for fully convolutional models) is chosen
here, not inherited from the Keras model. Only TFLite builtin ops are allowed: a model that needs
Flex (SELECT_TF_OPS) kernels fails to convert with the converter's own message.
"""

import contextlib
import contextvars
import dataclasses
import os
import tempfile

import numpy as np

MODES = ("float32", "float16", "dynamic", "int8", "int16x8")
# Full-integer I/O types: uint8 (default) is what MediaPipe Tasks and Android bitmaps take as
# they are (MediaPipe's ImageClassifier refuses int8 inputs); int8 on request.
INTEGER_IO = ("uint8", "int8")


class TFLiteConversionError(RuntimeError):
    pass


class TFLitePrepareError(TFLiteConversionError):
    """The converted file does not run: LiteRT refused to prepare one of its ops."""


def with_rgb_input(model):
    """A grayscale model behind an RGB input, for runtimes that feed RGB only.

    MediaPipe Tasks refuses models whose input is not RGB ("Only RGB color space is supported"),
    and Android bitmaps are RGB. The first layer is a frozen 1x1 convolution with the ITU-R
    BT.601 luma weights (what PIL's ``convert("L")`` uses), so a gray image given as three
    equal channels reaches the model unchanged. Models with 3 input channels are returned as is.
    """
    import keras

    if model.inputs[0].shape[-1] != 1:
        return model
    shape = tuple(model.inputs[0].shape[1:-1]) + (3,)
    inputs = keras.Input(shape, name="rgb_image")
    luma = keras.layers.Conv2D(1, 1, use_bias=False, trainable=False, name="rgb_to_gray")
    gray = luma(inputs)
    luma.set_weights([np.array([0.299, 0.587, 0.114], np.float32).reshape(1, 1, 3, 1)])
    return keras.Model(inputs, model(gray), name=model.name)


# Writing the SavedModel (tracing the serving function) is most of a conversion's time; within
# ``shared_saved_models()`` conversions of one model, serving function and shape in several
# modes read one SavedModel (see ``convert_serving_function``'s ``serving_key``).
_SHARED = contextvars.ContextVar("kerascv_apps_shared_saved_models", default=None)


@contextlib.contextmanager
def shared_saved_models():
    """Within it, TFLite conversions of the same model object, serving function (its
    ``serving_key``) and input shape share one SavedModel write; a model whose weights change
    inside the block must not be converted again in it. Measured: a tiny MobileNetV2 U-Net
    converted to float32 and int8 spends ~55% of each conversion writing the SavedModel."""
    with tempfile.TemporaryDirectory(prefix=f"kcv_tflite_{os.getpid()}_") as tmp:
        token = _SHARED.set({"dir": tmp, "saved": {}})
        try:
            yield
        finally:
            _SHARED.reset(token)


def _serving_input_shape(model, input_shape):
    if input_shape is not None:
        return tuple(input_shape)
    shape = tuple(model.inputs[0].shape)
    return (1,) + shape[1:]


def convert_to_tflite(model, mode="float32", representative_data=None, input_shape=None,
                      num_calibration_batches=100, integer_io="uint8", graph="savedmodel"):
    """Converts a single-input Keras model to a TFLite flatbuffer and returns its bytes.

    Args:
        model: a Keras model taking float images (pixel values, as the pipelines yield them).
        mode: one of ``MODES``. ``int8`` quantizes weights and activations to int8 and makes
            the input and output tensors ``integer_io`` (read their scale and zero point to
            (de)quantize; with uint8 I/O the input takes raw uint8 pixels: scale 1, zero 0,
            see ``raw_pixel_uint8_input``).
            ``int16x8``: int16 activations, int8 weights, float32 I/O (more accurate, slower).
        representative_data: for ``int8``/``int16x8``, an iterable of float image batches (numpy or
            tensors) drawn from the training split; each is fed one image at a time.
        input_shape: the TFLite input shape including batch; default ``(1,) + model input``.
            ``None`` entries stay dynamic (resized with ``resize_tensor_input`` at run time).
        num_calibration_batches: at most this many images are used for calibration.
        integer_io: ``"uint8"`` (default) or ``"int8"`` input/output tensors for ``int8``.
        graph: what the converter reads, ``"savedmodel"`` (what every exported file goes
            through) or ``"frozen"`` (see ``convert_serving_function``).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if integer_io not in INTEGER_IO:
        raise ValueError(f"integer_io must be one of {INTEGER_IO}, got {integer_io!r}")
    if mode in ("int8", "int16x8") and representative_data is None:
        raise ValueError(f"{mode} conversion needs representative_data (images from the training split)")
    shape = _serving_input_shape(model, input_shape)
    io_type = integer_io if mode == "int8" else None
    data = convert_serving_function(
        model, lambda images: model(images, training=False), shape, mode,
        representative_data=representative_data,
        num_calibration_batches=num_calibration_batches, input_type=io_type,
        output_type=io_type, serving_key="model", graph=graph,
        what=f"TFLite {mode} conversion of model {model.name!r} (builtin ops only)")
    if mode in ("int8", "int16x8"):
        data = finish_integer_file(data, integer_io if mode == "int8" else None,
                                   f"{mode} file of model {model.name!r}", layer_names(model))
    return data


def convert_serving_function(model, serve, shape, mode, *, representative_data=None,
                             num_calibration_batches=100, input_type=None, output_type=None,
                             allow_custom_ops=False, what=None, serving_key=None,
                             graph="savedmodel"):
    """The converter step every TFLite file of this package goes through: ``serve`` (a
    function of one float32 ``images`` tensor of ``shape``, tracking ``model``'s variables) is
    written as a SavedModel by ``keras.export.ExportArchive``, converted in ``mode`` (one of
    ``MODES``) and the flatbuffer's bytes returned.

    ``input_type`` / ``output_type`` (``"uint8"``, ``"int8"``, ``"float32"`` or ``None`` for the
    converter's default) set the file's I/O types of ``int8``. ``allow_custom_ops``: the graph
    may end in a custom op the converter keeps (e.g. ``TFLite_Detection_PostProcess``); then
    ``int8`` falls back to float builtin kernels for what has no int8 kernel (the op's float
    outputs). ``serving_key``: a hashable naming what ``serve`` computes from ``model`` (with
    every parameter it closes over); inside ``shared_saved_models()`` calls with the same
    model, key and shape reuse one SavedModel. ``graph="frozen"``: the converter reads
    ``serve``'s concrete function with its variables frozen in memory instead (TF's older
    converter entry, which it flags as deprecated), no SavedModel written: the same float32 and
    int8 outputs for a MobileNetV2 U-Net and ~5x less CPU, what the tests' per-model conversion
    checks use; exported files keep the SavedModel route. Converter failures, whatever their
    type, become :class:`TFLiteConversionError` starting with ``what``."""
    if graph not in ("savedmodel", "frozen"):
        raise ValueError(f"graph must be 'savedmodel' or 'frozen', got {graph!r}")
    if graph == "frozen":
        import warnings

        with warnings.catch_warnings():  # this entry asks for input statistics it never uses
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
            return _convert(_frozen_converter(serve, shape), model, shape, mode,
                            representative_data, num_calibration_batches, input_type,
                            output_type, allow_custom_ops, what)
    shared = _SHARED.get()
    if shared is None or serving_key is None:
        with tempfile.TemporaryDirectory(prefix=f"kcv_tflite_{os.getpid()}_") as tmp:
            saved = _write_serving(model, serve, shape, os.path.join(tmp, "saved"))
            return _convert(_saved_converter(saved), model, shape, mode, representative_data,
                            num_calibration_batches, input_type, output_type,
                            allow_custom_ops, what)
    key = (id(model), serving_key, tuple(shape))
    entry = shared["saved"].get(key)
    if entry is None:  # the entry keeps the model alive, so its id is not reused meanwhile
        path = os.path.join(shared["dir"], f"saved_{len(shared['saved'])}")
        entry = shared["saved"][key] = (model, _write_serving(model, serve, shape, path))
    return _convert(_saved_converter(entry[1]), model, shape, mode, representative_data,
                    num_calibration_batches, input_type, output_type, allow_custom_ops, what)


def _write_serving(model, serve, shape, path):
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", serve,
                         input_signature=[tf.TensorSpec(shape, tf.float32, name="images")])
    _quietly(archive.write_out, path)
    return path


def _saved_converter(saved):
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=["serve"])


class _NoDeprecationNote:
    def filter(self, record):
        return "trackable_obj" not in record.getMessage()


def _frozen_converter(serve, shape):
    import logging

    import tensorflow as tf

    concrete = tf.function(serve, input_signature=[
        tf.TensorSpec(shape, tf.float32, name="images")]).get_concrete_function()
    quiet = _NoDeprecationNote()
    logging.getLogger("absl").addFilter(quiet)
    try:
        return tf.lite.TFLiteConverter.from_concrete_functions([concrete])
    finally:
        logging.getLogger("absl").removeFilter(quiet)


def _convert(converter, model, shape, mode, representative_data, num_calibration_batches,
             input_type, output_type, allow_custom_ops, what):
    import tensorflow as tf

    types = {None: None, "uint8": tf.uint8, "int8": tf.int8, "float32": tf.float32}
    converter.allow_custom_ops = bool(allow_custom_ops)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if mode == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif mode == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8] + (
            [tf.lite.OpsSet.TFLITE_BUILTINS] if allow_custom_ops else [])
        if types[input_type] is not None:
            converter.inference_input_type = types[input_type]
        if types[output_type] is not None:
            converter.inference_output_type = types[output_type]
        converter.representative_dataset = _calibration_feed(
            representative_data, shape, num_calibration_batches)
    elif mode == "int16x8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        converter.representative_dataset = _calibration_feed(
            representative_data, shape, num_calibration_batches)
    try:
        return converter.convert()
    except Exception as e:  # the converter raises several unrelated types
        raise TFLiteConversionError(
            f"{what or f'TFLite {mode} conversion of model {model.name!r}'} failed: "
            f"{str(e)[-2000:]}") from e


def finish_integer_file(data, integer_io, what, names=()):
    """What every quantized file from the converter gets (this exporter's and the tfmot
    path's): a uint8 input takes raw pixels (``raw_pixel_uint8_input``), and LiteRT must be
    able to prepare it (``check_prepares``)."""
    if integer_io == "uint8":
        data = raw_pixel_uint8_input(data)
    check_prepares(data, what, names)
    return data


# fused activations whose bounds LiteRT quantizes at the op's output scale when preparing it
_BOUNDED_ACTIVATIONS = {1: ("RELU", (0.0,)), 2: ("RELU_N1_TO_1", (-1.0, 1.0)),
                        3: ("RELU6", (0.0, 6.0))}


@dataclasses.dataclass(frozen=True)
class _OpRow:
    """One op of a .tflite file: its index and builtin name, fused activation code, output
    tensor name, output scale (None: not quantized) and output tensor type."""

    index: int
    name: str
    activation: object
    tensor: str
    scale: object
    kind: object


def _op_table(tflite_bytes):
    """An :class:`_OpRow` per op of the file's first subgraph."""
    from ai_edge_litert import schema_py_generated as sc

    names = {v: k for k, v in vars(sc.BuiltinOperator).items() if not k.startswith("_")}
    model = sc.Model.GetRootAsModel(bytes(tflite_bytes), 0)
    graph = model.Subgraphs(0)
    rows = []
    for n in range(graph.OperatorsLength()):
        op = graph.Operators(n)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
        activation = None
        options = op.BuiltinOptions()
        cls = getattr(sc, _options_class(name), None) if _options_class(name) else None
        if options is not None and cls is not None:
            opt = cls()
            opt.Init(options.Bytes, options.Pos)
            activation = opt.FusedActivationFunction()
        tensor = graph.Tensors(op.Outputs(0)) if op.OutputsLength() else None
        q = tensor.Quantization() if tensor is not None else None
        scale = float(q.ScaleAsNumpy().min()) if q is not None and q.ScaleLength() else None
        rows.append(_OpRow(n, name, activation,
                           tensor.Name().decode() if tensor is not None else "", scale,
                           tensor.Type() if tensor is not None else None))
    return rows


def _options_class(op_name):
    return {"CONV_2D": "Conv2DOptions", "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
            "FULLY_CONNECTED": "FullyConnectedOptions", "ADD": "AddOptions",
            "SUB": "SubOptions", "MUL": "MulOptions", "AVERAGE_POOL_2D": "Pool2DOptions",
            "MAX_POOL_2D": "Pool2DOptions", "CONCATENATION": "ConcatenationOptions",
            "TRANSPOSE_CONV": "TransposeConvOptions"}.get(op_name, "")


def layer_names(model):
    """Names of every layer of a Keras model, nested models included."""
    names = set()
    stack = [model]
    while stack:
        layer = stack.pop()
        names.add(layer.name)
        stack.extend(getattr(layer, "layers", []) or [])
    return names


def _layer_of(tensor_name, names=()):
    """The Keras layer a converter tensor name points at: its ``model/layer/op`` part, matched
    against ``names`` (the converter's name scopes may add a ``_1`` suffix)."""
    import re

    for last in reversed(tensor_name.split(";")):
        parts = [p for p in last.split("/") if p]
        for part in reversed(parts):
            for candidate in (part, re.sub(r"_\d+$", "", part)):
                if candidate in names:
                    return candidate
    parts = [p for p in tensor_name.split(";")[-1].split("/") if p]
    return parts[-2] if len(parts) >= 2 else tensor_name


def check_prepares(tflite_bytes, what="the .tflite file", names=()):
    """Raises :class:`TFLitePrepareError` naming the layer and the reason when LiteRT's builtin
    kernels refuse to prepare the file (instead of an interpreter stack at verification).

    The known case: an op with a fused ReLU/ReLU6 whose output scale is so small that
    LiteRT's ``CalculateActivationRangeQuantized`` cannot quantize the activation bound
    (``6.0 / scale`` must fit in int32; ``kernel_util.cc``'s
    ``no_integer_overflow_from_quantization`` check). 16x8 output scales are ``max|x| / 32767``,
    so a layer whose calibrated activations are below ~1e-4 (vanishing activations, e.g. an
    untrained MobileNetV2 at 224x224: 1.4e-05 at ``block_4_depthwise``) fails there; the
    weights' per-channel or per-tensor scales and the bias type do not enter this check.
    """
    from ai_edge_litert import schema_py_generated as sc
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    limit = float(np.iinfo(np.int32).max)
    for row in _op_table(tflite_bytes):
        scale = row.scale
        if row.activation not in _BOUNDED_ACTIVATIONS or not scale:
            continue
        act, bounds = _BOUNDED_ACTIVATIONS[row.activation]
        bound = max(bounds, key=abs)
        if abs(bound) / scale > limit:
            largest = scale * (32767 if row.kind == sc.TensorType.INT16 else 255)
            raise TFLitePrepareError(
                f"{what} does not run in LiteRT: op {row.index} ({row.name}, layer "
                f"{_layer_of(row.tensor, names)!r}) has a fused {act} whose bound {bound} cannot be "
                f"quantized at its output scale {scale:.3g} (int32 overflow; LiteRT's "
                f"no_integer_overflow_from_quantization check). The calibration images give "
                f"this layer activations of at most {largest:.3g}: vanishing activations (an "
                f"untrained or collapsed model). Export int8 or float16 instead, or calibrate "
                f"a trained model.")
    try:
        Interpreter(model_content=bytes(tflite_bytes),
                    experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
                    ).allocate_tensors()
    except (RuntimeError, ValueError) as e:
        raise TFLitePrepareError(
            f"{what} does not run in LiteRT: {_explain(tflite_bytes, e, names)}") from None


def _explain(tflite_bytes, error, names=()):
    """LiteRT's 'Node number N (OP) failed to prepare' with the layer that op came from."""
    import re

    text = str(error).strip()
    found = re.search(r"Node number (\d+) \((\w+)\) failed to prepare", text)
    if not found:
        return text.splitlines()[0][:500]
    n = int(found.group(1))
    rows = _op_table(tflite_bytes)
    layer = _layer_of(rows[n].tensor, names) if n < len(rows) else "?"
    check = text.split("Node number")[0].strip()
    return f"op {n} ({found.group(2)}, layer {layer!r}) failed to prepare: {check}"


def raw_pixel_uint8_input(tflite_bytes):
    """Sets a uint8 input tensor's quantization to scale 1, zero point 0 (raw pixels in).

    The converter gives the uint8 input the scale of the calibrated input range, e.g.
    0.944 when the calibration images' brightest pixel is 241, so that ``q = pixel / 0.944``.
    MediaPipe Tasks (and Android code that copies bitmap bytes) ignore that scale: for a uint8
    input tensor MediaPipe's image preprocessing writes the pixel values 0..255 as they are
    (``output_tensor_uint_range`` 0..255 in its ``ImageToTensorCalculator`` options). A model
    fed raw pixels then saw images 6% brighter than LiteRT fed by the contract, and the
    per-pixel classes of an int8 segmenter agreed on 98.5% of pixels only.

    The converter's uint8 input always feeds a ``QUANTIZE`` (uint8 -> int8) op; with scale 1
    that op requantizes raw pixels to the calibrated int8 scale, which saturates above the
    calibrated range exactly as before. Returns the flatbuffer unchanged when the input is not
    uint8 or is already at scale 1, zero point 0; refuses a uint8 input read by other ops.
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as sc

    data = bytes(tflite_bytes)
    model = sc.ModelT.InitFromObj(sc.Model.GetRootAsModel(data, 0))
    graph = model.subgraphs[0]
    index = int(graph.inputs[0])
    tensor = graph.tensors[index]
    q = tensor.quantization
    if tensor.type != sc.TensorType.UINT8 or q is None or q.scale is None:
        return data
    if list(q.scale) == [1.0] and list(q.zeroPoint) == [0]:
        return data
    codes = model.operatorCodes
    readers = [max(codes[op.opcodeIndex].builtinCode, codes[op.opcodeIndex].deprecatedBuiltinCode)
               for op in graph.operators if index in list(op.inputs)]
    if not readers or any(code != sc.BuiltinOperator.QUANTIZE for code in readers):
        raise TFLiteConversionError(
            "the uint8 input tensor is read by ops other than QUANTIZE; cannot give it "
            "scale 1 (raw pixels) without changing the model")
    q.scale, q.zeroPoint = [1.0], [0]
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), b"TFL3")
    return bytes(builder.Output())


def _quietly(fn, *args):
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


def _calibration_feed(representative_data, shape, limit):
    def feed():
        count = 0
        for batch in representative_data:
            batch = np.asarray(batch, dtype=np.float32)
            if batch.ndim == len(shape) - 1:
                batch = batch[None]
            for image in batch:
                yield [image[None]]
                count += 1
                if count >= limit:
                    return
    return feed


class TFLiteRunner:
    """Runs a .tflite model with LiteRT's interpreter on float inputs.

    Quantized (int8/uint8) inputs are quantized with the tensor's scale and zero point, and
    quantized outputs are dequantized, so callers always see float arrays. Dynamic input
    dims are resized per call. Gray images given to an RGB-input file (``with_rgb_input``) are
    repeated to three channels.
    """

    def __init__(self, model, num_threads=None):
        if isinstance(model, (str, os.PathLike)):
            with open(model, "rb") as f:
                model = f.read()
        self._content = bytes(model)
        self._num_threads = num_threads
        self.delegate = "xnnpack"
        self.interpreter = self._interpreter()
        # Tensors are allocated on the first call, at that call's input shape: a model with
        # dynamic dims cannot always be allocated at its placeholder size (e.g. 1x1 images
        # through a 2x2 pooling).
        self._input = self.interpreter.get_input_details()[0]
        self._outputs = self.interpreter.get_output_details()
        self._shape = None

    def _interpreter(self, with_delegates=True):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        kwargs = {} if with_delegates else {
            "experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
        return Interpreter(model_content=self._content, num_threads=self._num_threads, **kwargs)

    def _allocate(self, shape):
        self.interpreter.resize_tensor_input(self._input["index"], shape, strict=False)
        try:
            self.interpreter.allocate_tensors()
        except RuntimeError as e:
            # XNNPACK refuses some int8 graphs (quantization parameters outside its kernels'
            # range); the reference builtin kernels run every builtin op, so verification
            # falls back to them and records it rather than failing the export.
            if "xnnpack" not in str(e).lower() or self.delegate != "xnnpack":
                raise
            self.delegate = "none (XNNPACK refused the graph)"
            self.interpreter = self._interpreter(with_delegates=False)
            self.interpreter.resize_tensor_input(self._input["index"], shape, strict=False)
            self.interpreter.allocate_tensors()

    @property
    def input_details(self):
        return self._input

    @property
    def output_details(self):
        return self._outputs

    def _prepare(self, images):
        images = np.asarray(images, dtype=np.float32)
        if images.shape[-1] == 1 and self._input["shape"][-1] == 3:
            images = np.repeat(images, 3, axis=-1)  # gray images into an RGB-input model
        if tuple(images.shape) != self._shape:
            self._shape = None  # a failed resize must not look like the old allocation
            self._allocate(images.shape)
            self._input = self.interpreter.get_input_details()[0]
            self._outputs = self.interpreter.get_output_details()
            self._shape = tuple(images.shape)
        dtype = self._input["dtype"]
        if np.issubdtype(dtype, np.integer):
            scale, zero = self._input["quantization"]
            info = np.iinfo(dtype)
            images = np.clip(np.round(images / scale + zero), info.min, info.max).astype(dtype)
        return images.astype(dtype, copy=False)

    def __call__(self, images):
        """Runs a batch; returns the first output (or a list of all outputs) as float32."""
        prepared = self._prepare(images)  # may replace self.interpreter (delegate fallback)
        self.interpreter.set_tensor(self._input["index"], prepared)
        self.interpreter.invoke()
        results = []
        for detail in self._outputs:
            out = self.interpreter.get_tensor(detail["index"])
            if np.issubdtype(out.dtype, np.integer):
                scale, zero = detail["quantization"]
                out = (out.astype(np.float32) - zero) * scale
            results.append(out.astype(np.float32, copy=False))
        return results[0] if len(results) == 1 else results

    def predict(self, images, batch_size=1):
        """Runs ``images`` through the model ``batch_size`` at a time and concatenates."""
        images = np.asarray(images, dtype=np.float32)
        outs = [self(images[i:i + batch_size]) for i in range(0, len(images), batch_size)]
        return np.concatenate(outs, axis=0)


def builtin_op_names(tflite_bytes):
    """Names of the operators in a flatbuffer (used to prove no Flex/custom ops are present)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=bytes(tflite_bytes))
    return sorted({op["op_name"] for op in interp._get_ops_details()})
