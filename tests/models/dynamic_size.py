"""Any input size, checked the way the artifacts are used: graph-mode ``model.predict`` at
several sizes (some not divisible by the model's total stride), and one dynamic-shape TFLite
conversion that LiteRT's interpreter resizes (``resize_tensor_input``) to each size."""

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from kerascv_apps.export.tflite import convert_to_tflite


def _first(out):
    return out[0] if isinstance(out, (list, tuple)) else out


def run_tflite(interpreter, x):
    """Resizes the interpreter's input to ``x.shape`` and runs it; returns the first output."""
    inp = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(inp["index"], list(x.shape), strict=False)
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], x.astype(inp["dtype"]))
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def check_any_size(model, sizes, scale=1, channels=3, seed=0):
    """Predicts at each ``(h, w)`` in graph mode, converts once with dynamic H and W and runs
    LiteRT at the same sizes. Asserts output size = ``scale`` x input size and returns rows
    ``(size, output size, max |keras - tflite|)``."""
    rng = np.random.default_rng(seed)
    data = convert_to_tflite(model, "float32", input_shape=(1, None, None, channels),
                             graph="frozen")
    interpreter = Interpreter(model_content=data)
    rows = []
    for h, w in sizes:
        x = rng.uniform(0, 255, (1, h, w, channels)).astype(np.float32)
        ref = np.asarray(_first(model.predict(x, verbose=0)))
        assert ref.shape[1:3] == (scale * h, scale * w), (model.name, (h, w), ref.shape)
        got = run_tflite(interpreter, x)
        assert got.shape == ref.shape, (model.name, (h, w), got.shape, ref.shape)
        rows.append(((h, w), ref.shape[1:3], float(np.max(np.abs(got - ref)))))
    return rows
