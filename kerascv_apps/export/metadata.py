"""Embedded TFLite metadata (the ``TFLITE_METADATA`` buffer + zipped associated files).

Why written here: the maintained metadata schema now ships with MediaPipe
(``mediapipe/tasks/metadata/metadata_schema_py_generated.py`` and the TFLite model schema
``schema_py_generated.py``), but MediaPipe's own metadata writer does not import from the
mediapipe 1.2.2 wheel (its compiled ``_pywrap_metadata_version`` is missing) and
``tflite-support`` needs protobuf < 4 (TensorFlow 2.21 needs protobuf >= 5). So this module builds
the same flatbuffers with MediaPipe's generated schema classes and ``flatbuffers``, and attaches
them the way MediaPipe's ``MetadataPopulator`` does: the packed ``ModelMetadata`` goes into a new
model buffer named ``TFLITE_METADATA`` and the associated files (``labels.txt``, the JSON contract)
are appended to the flatbuffer as a zip archive, which MediaPipe Tasks and the LiteRT support
library read.

Everything written comes from the contract (:mod:`kerascv_apps.export.contract`).
"""

import io
import json
import zipfile

METADATA_NAME = "TFLITE_METADATA"
CONTRACT_FILE = "contract.json"
# The oldest metadata parser that reads every field written here (MediaPipe's writer computes
# the same value for these fields: associated files, normalization, value ranges, custom metadata).
MIN_PARSER_VERSION = "1.2.1"


def _schemas():
    from mediapipe.tasks.metadata import metadata_schema_py_generated as md
    from mediapipe.tasks.metadata import schema_py_generated as sc
    return md, sc


def _image_content(md, color_space, value_range=None):
    content = md.ContentT()
    content.contentPropertiesType = md.ContentProperties.ImageProperties
    content.contentProperties = md.ImagePropertiesT()
    content.contentProperties.colorSpace = (md.ColorSpaceType.RGB if color_space == "RGB"
                                            else md.ColorSpaceType.GRAYSCALE)
    if value_range is not None:
        content.range = md.ValueRangeT()
        content.range.min, content.range.max = value_range
    return content


def _stats(md, lo, hi, n=1):
    stats = md.StatsT()
    stats.min, stats.max = [float(lo)] * n, [float(hi)] * n
    return stats


def _label_file(md, name):
    f = md.AssociatedFileT()
    f.name = name
    f.description = "Class names, one per line, in class-id order."
    f.type = md.AssociatedFileType.TENSOR_AXIS_LABELS
    return f


METADATA_KINDS = ("classifier", "segmenter", "image", "generator")


def metadata_kind(contract, kind=None):
    """How the outputs are described: ``kind`` or the contract's task's ``metadata_kind``:
    ``classifier`` (feature vector + labels), ``segmenter`` (per-pixel class maps + labels +
    MediaPipe's segmenter options), ``image`` (an RGB/greyscale image) or ``generator`` (a
    float latent vector in, described as a feature vector without normalization; an image
    out)."""
    if kind is None:
        from kerascv_apps.tasks.base import get_task_class

        kind = get_task_class(contract["task"]).metadata_kind
    if kind not in METADATA_KINDS:
        raise ValueError(f"task {contract['task']!r}: TFLite metadata kind must be one of "
                         f"{METADATA_KINDS}, got {kind!r} (set the Task's metadata_kind)")
    return kind


def build_metadata(contract, kind=None):
    """Packs the contract into a ``ModelMetadata`` flatbuffer (bytes); ``kind``: see
    :func:`metadata_kind`."""
    import flatbuffers

    kind = metadata_kind(contract, kind)
    md, _ = _schemas()
    inp = contract["input"]
    tin = _generator_input(md, inp) if kind == "generator" else _image_input(md, inp)

    outputs = []
    for out in contract["outputs"]:
        t = md.TensorMetadataT()
        t.name = {"probabilities": "probability", "logits": "logits", "image": "image"}.get(
            out["meaning"], "segmentation_masks")
        t.description = f"{out['meaning']}; {out['postprocess']}"
        if kind == "classifier":
            t.content = md.ContentT()
            t.content.contentPropertiesType = md.ContentProperties.FeatureProperties
            t.content.contentProperties = md.FeaturePropertiesT()
        elif kind == "segmenter":
            # MediaPipe's segmentation mask tensor: [1, H, W, classes] grayscale bitmaps.
            t.content = _image_content(md, "GRAYSCALE", (1, 2))
        else:
            t.content = _image_content(md, out.get("color_space", "RGB"))
        if out["range"] is not None:
            t.stats = _stats(md, *out["range"])
        if contract["labels_file"] and kind in ("classifier", "segmenter"):
            t.associatedFiles = [_label_file(md, contract["labels_file"])]
        outputs.append(t)

    subgraph = md.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [tin]
    subgraph.outputTensorMetadata = outputs
    if kind == "segmenter":
        subgraph.customMetadata = [_segmenter_options()]

    meta = md.ModelMetadataT()
    meta.name = contract["model"]["name"]
    meta.description = contract["model"]["description"]
    meta.version = contract["model"]["version"]
    meta.author = "kerascv_apps"
    meta.minParserVersion = MIN_PARSER_VERSION
    contract_file = md.AssociatedFileT()
    contract_file.name = CONTRACT_FILE
    contract_file.description = "The phone contract (JSON): input/output tensors, quantization, labels."
    contract_file.type = md.AssociatedFileType.DESCRIPTIONS
    meta.associatedFiles = [contract_file]
    meta.subgraphMetadata = [subgraph]
    b = flatbuffers.Builder(0)
    b.Finish(meta.Pack(b), b"M001")
    return bytes(b.Output())


def _image_input(md, inp):
    tin = md.TensorMetadataT()
    tin.name = "image"
    tin.description = (f"{inp['color_space']} image, NHWC, raw pixel values in [0, 255] "
                       f"(the model rescales inside itself); resize bilinear, half-pixel centres.")
    tin.content = _image_content(md, inp["color_space"])
    norm = md.ProcessUnitT()
    norm.optionsType = md.ProcessUnitOptions.NormalizationOptions
    norm.options = md.NormalizationOptionsT()
    norm.options.mean = list(inp["normalization"]["mean"])
    norm.options.std = list(inp["normalization"]["std"])
    tin.processUnits = [norm]
    tin.stats = _stats(md, 0, 255, inp["channels"])
    return tin


def _generator_input(md, inp):
    """A generator's input: a float32 latent vector (N, latent_dim), no normalization (the
    values are drawn from the prior as they are), no value range (Gaussian, unbounded)."""
    tin = md.TensorMetadataT()
    tin.name = "latent"
    tin.description = (f"{inp.get('meaning', 'latent vector')}: float32, layout "
                       f"{inp.get('layout', 'NC')}, {inp['channels']} values per sample, fed "
                       f"as drawn (no normalization).")
    tin.content = md.ContentT()
    tin.content.contentPropertiesType = md.ContentProperties.FeatureProperties
    tin.content.contentProperties = md.FeaturePropertiesT()
    return tin


def _segmenter_options():
    """MediaPipe ImageSegmenter options: the outputs already went through softmax (or are
    logits); the category mask is the argmax either way, so no activation is applied again."""
    import flatbuffers
    from mediapipe.tasks.metadata import image_segmenter_metadata_schema_py_generated as seg

    md, _ = _schemas()
    options = seg.ImageSegmenterOptionsT()
    options.activation = 0  # NONE
    b = flatbuffers.Builder(0)
    b.Finish(options.Pack(b), b"V001")
    custom = md.CustomMetadataT()
    custom.name = "SEGMENTER_METADATA"
    custom.data = list(b.Output())
    return custom


def embed_metadata(tflite_bytes, contract, kind=None):
    """Returns ``tflite_bytes`` with the contract embedded (metadata buffer + zipped files).

    Replaces metadata written earlier; associated files are ``contract.json`` and, when the
    task has class names, ``labels.txt``. ``kind``: see :func:`metadata_kind`.
    """
    files = {CONTRACT_FILE: json.dumps(contract, indent=2)}
    if contract.get("labels_file"):
        files[contract["labels_file"]] = "\n".join(contract["labels"]) + "\n"
    return attach_metadata(tflite_bytes, build_metadata(contract, kind), files)


def attach_metadata(tflite_bytes, metadata_bytes, files):
    """``tflite_bytes`` with ``metadata_bytes`` (a ``ModelMetadata`` flatbuffer) as its
    ``TFLITE_METADATA`` buffer and ``files`` (``{name: str or bytes}``) zipped after the model,
    where MediaPipe and the TFLite support library read associated files. Metadata and files
    attached earlier are replaced (the buffer in place: no orphan buffer is left behind)."""
    import flatbuffers

    _, sc = _schemas()
    model_bytes = _strip_zip(bytes(tflite_bytes))
    model = sc.ModelT.InitFromObj(sc.Model.GetRootAsModel(model_bytes, 0))
    buffer = sc.BufferT()
    buffer.data = _as_array(metadata_bytes)
    model.buffers = list(model.buffers or [])
    model.metadata = list(model.metadata or [])
    existing = [m for m in model.metadata if _name(m) == METADATA_NAME]
    if existing:
        model.buffers[existing[0].buffer] = buffer
    else:
        model.buffers.append(buffer)
        entry = sc.MetadataT()
        entry.name = METADATA_NAME
        entry.buffer = len(model.buffers) - 1
        model.metadata.append(entry)
    b = flatbuffers.Builder(max(1024, len(model_bytes) + 4096))
    b.Finish(model.Pack(b), b"TFL3")
    out = io.BytesIO()
    out.write(bytes(b.Output()))
    with zipfile.ZipFile(out, "a") as zf:
        for file_name, content in files.items():
            zf.writestr(file_name, content)
    return out.getvalue()


def _as_array(data):
    import numpy as np
    return np.frombuffer(data, dtype=np.uint8)


def _name(entry):
    name = entry.name
    return name.decode() if isinstance(name, bytes) else name


def _strip_zip(data):
    """The flatbuffer without an appended zip of associated files (if any)."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return data
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        # zipfile reports offsets from the start of the whole file (prepended model included)
        offsets = [info.header_offset for info in zf.infolist()]
    return data[:min(offsets)] if offsets else data


def read_metadata(tflite_bytes):
    """Reads back what :func:`embed_metadata` wrote.

    Returns ``{"name", "version", "description", "min_parser_version", "input_mean",
    "input_std", "input_range", "output_ranges", "associated_files": {name: bytes},
    "contract": dict, "input_name", "input_content"}``; mean/std/range are None for an input
    without them (a generator's latent vector). Raises ``ValueError`` when the file carries
    no metadata.
    """
    md, sc = _schemas()
    data = bytes(tflite_bytes)
    model = sc.Model.GetRootAsModel(data, 0)
    buf = None
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name().decode() == METADATA_NAME:
            buf = model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
    if buf is None:
        raise ValueError(f"the .tflite file carries no {METADATA_NAME} metadata")
    meta = md.ModelMetadataT.InitFromObj(md.ModelMetadata.GetRootAsModelMetadata(buf, 0))
    sub = meta.subgraphMetadata[0]
    units = sub.inputTensorMetadata[0].processUnits or []
    norm = units[0].options if units else None  # None: a generator's latent input
    files = {}
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            files = {n: zf.read(n) for n in zf.namelist()}
    stats = sub.inputTensorMetadata[0].stats

    def rng(t):
        return None if t.stats is None else [float(t.stats.min[0]), float(t.stats.max[0])]

    return {"name": _dec(meta.name), "version": _dec(meta.version),
            "description": _dec(meta.description),
            "min_parser_version": _dec(meta.minParserVersion),
            "input_name": _dec(sub.inputTensorMetadata[0].name),
            "input_content": _content_name(md, sub.inputTensorMetadata[0]),
            "input_mean": None if norm is None else [float(v) for v in norm.mean],
            "input_std": None if norm is None else [float(v) for v in norm.std],
            "input_range": None if stats is None else [float(stats.min[0]), float(stats.max[0])],
            "output_ranges": [rng(t) for t in sub.outputTensorMetadata],
            "associated_files": files,
            "contract": json.loads(files[CONTRACT_FILE]) if CONTRACT_FILE in files else None}


def _content_name(md, tensor):
    """``"image"``, ``"feature"`` (or None) for a tensor's content properties."""
    kind = None if tensor.content is None else tensor.content.contentPropertiesType
    return {md.ContentProperties.ImageProperties: "image",
            md.ContentProperties.FeatureProperties: "feature"}.get(kind)


def _dec(value):
    return value.decode() if isinstance(value, bytes) else value
