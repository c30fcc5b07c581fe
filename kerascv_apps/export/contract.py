"""The phone contract: everything an app needs to feed a ``.tflite`` file and read its output.

One function, :func:`build_contract`, builds it from the task, the Keras model and the converted
flatbuffer (shapes, dtypes and quantization are read from the file, never typed by hand). The
same dict is written as ``<file>.json`` next to every ``.tflite`` and embedded in the file as
TFLite metadata (:mod:`kerascv_apps.export.metadata`), so the JSON and the metadata cannot
disagree.

Fields (``format_version`` 1)::

    format_version   1
    task             the task's name ("classification", "segmentation", "super_resolution", ...)
    model            {name, version, description}
    file             the .tflite file name; mode: float32 | float16 | dynamic | int8 | int16x8 | ...
    input            {name, shape (batch first, -1 = resizable), dtype, layout "NHWC",
                      color_space "RGB" | "GRAYSCALE", channels,
                      pixel_range [0, 255]: raw pixel values, the model rescales inside itself,
                      normalization {mean, std}: per channel, (pixel - mean) / std before a float
                          input; always 0 / 1 here because of the in-model rescaling,
                      quantization {scale, zero_point} or null: for integer inputs,
                          q = round(pixel / scale) + zero_point (uint8 I/O: scale 1, zero 0,
                          so the uint8 pixels go in unchanged),
                      resize {algorithm "bilinear", half_pixel_centers true, antialias true,
                          fit "stretch"}: how the Python side resizes images to the input size
                          ("letterbox" + pad_value: see kerascv_apps.inference.letterbox)}
    outputs          [{name, shape, dtype, quantization (real = scale * (q - zero_point)),
                       meaning "probabilities" | "logits" | "class_probabilities_per_pixel" |
                           "class_logits_per_pixel" | "image",
                       range [lo, hi] of the real values (null for logits),
                       postprocess: e.g. "argmax over the last axis = class id"}]
    labels           class names in class-id order (classification, segmentation) or null
    scale            super-resolution upscaling factor, measured on the file; null otherwise
    labels_file      "labels.txt" (embedded in the .tflite as an associated file) or null
"""

import numpy as np

FORMAT_VERSION = 1
# what training, prediction and serving_bytes do (kerascv_apps.data.decode.resize_image)
# "fit": "stretch": the image is resized to the input size, aspect ratio not kept (the phone
# core also implements "letterbox", kerascv_apps.inference.letterbox, for contracts that declare it)
RESIZE = {"algorithm": "bilinear", "half_pixel_centers": True, "antialias": True,
          "fit": "stretch"}


def output_activation(model):
    """The activation of the layer producing the model's (first) output, e.g. ``"softmax"``.

    In this package the output layer is the classifier (Dense/Conv/Activation with an
    activation) or super-resolution's ``Rescaling(255)`` (returned as ``"rescale:255.0"``).
    """
    if model is None:
        return None
    from kerascv_apps.keras_adapter import producing_layer

    layer = producing_layer(model.outputs[0])
    config = layer.get_config()
    if type(layer).__name__ == "Rescaling":
        return f"rescale:{config.get('scale')}"
    return config.get("activation")


def _describe(detail):
    scale, zero = detail["quantization"]
    dtype = np.dtype(detail["dtype"]).name
    quant = {"scale": float(scale), "zero_point": int(zero)} if dtype in ("uint8", "int8", "int16") else None
    return {"name": detail["name"], "shape": [int(s) for s in detail["shape_signature"]],
            "dtype": dtype, "quantization": quant}


def _output_details(runner, tflite_bytes):
    """The file's output details; outputs whose shape the file leaves unknown until it runs
    (a custom op's, e.g. TFLite_Detection_PostProcess: boxes (1, N, 4), classes, scores (1, N),
    count (1,)) get the shape of one run on a blank input."""
    details = [dict(d) for d in runner.output_details]
    if all(len(d["shape_signature"]) for d in details):
        return details
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=bytes(tflite_bytes))
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    if any(s < 0 for s in inp["shape_signature"]):
        return details  # a dynamic input: no single blank run stands for every size
    interp.set_tensor(inp["index"], np.zeros(inp["shape"], inp["dtype"]))
    interp.invoke()
    for d in details:
        if not len(d["shape_signature"]):
            d["shape_signature"] = np.asarray(interp.get_tensor(d["index"]).shape, np.int32)
    return details


def build_contract(task, tflite_bytes, name, mode, model=None, class_names=None,
                   version="1", description=None, file_name=None):
    """The contract dict for one converted file (see the module docstring for the fields).

    Args:
        task: the Task (its ``name``; ``class_names`` unless given; what its outputs mean,
            ``output_contract``; its measured fields, ``contract_fields``).
        tflite_bytes: the converted flatbuffer; I/O shapes, dtypes and quantization come from it.
        name: model name; mode: the conversion mode; model: the Keras model (its output
            activation decides probabilities vs logits).
    """
    from kerascv_apps.export.tflite import TFLiteRunner

    runner = TFLiteRunner(tflite_bytes)
    inp = _describe(runner.input_details)
    channels = inp["shape"][-1]
    inp.update(task.input_contract(channels))
    if task.image_input:
        inp["resize"] = dict(RESIZE)
    labels = list(class_names if class_names is not None else (task.class_names or [])) or None
    activation = output_activation(model)
    outputs = []
    for detail in _output_details(runner, tflite_bytes):
        out = _describe(detail)
        # a scalar output (a detection count) has no last axis
        out.update(task.output_contract(activation, out["shape"][-1] if out["shape"] else 1))
        outputs.append(out)
    if description is None:
        description = f"{name}: {task.name} model exported by kerascv_apps ({mode})"
    return {"format_version": FORMAT_VERSION, "task": task.name,
            "model": {"name": name, "version": str(version), "description": description},
            "file": file_name or f"{name}_{mode}.tflite", "mode": mode,
            "input": inp, "outputs": outputs, "labels": labels,
            "labels_file": "labels.txt" if labels else None,
            **task.contract_fields(runner, inp["shape"])}
