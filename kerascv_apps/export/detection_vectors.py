"""Test vectors of the phone core's detection contract (``android_demo/core``,
``Detection`` and ``Preprocess``): a small seeded anchor detector exported by the detection
task's TFLite path (full-integer, ending in ``TFLITE_DETECTION_POSTPROCESS``, with the contract
the exporter writes) and run by LiteRT on a photo that is not square.

Two folders, one file::

    detection/            the exported contract as written (``input.resize.fit`` "stretch")
    detection_letterbox/  the same contract declaring ``fit: "letterbox"``, ``pad_value`` 114
                          (what a model trained on letterboxed images ships)

each with ``contract.json source.png input.bin`` (the uint8 input tensor),
``boxes.bin classes.bin scores.bin count.bin`` (the four raw outputs as LiteRT returned them)
and ``expected.json``: the fit (``kerascv_apps.inference.letterbox.Fit``), the score threshold,
and the detections from it in the op's order (``class_id``, ``label``, ``score``,
``box_pixels`` y_min, x_min, y_max, x_max in photo pixels, ``box`` in input ratios).

Written by :func:`kerascv_apps.export.phone_vectors.write_test_vectors` (and so by the JVM
tests' fixture); ``python -m kerascv_apps.export.detection_vectors OUT_DIR`` writes these alone.
"""

import argparse
import json
import os
from dataclasses import asdict

import numpy as np

CLASS_NAMES = ["circle", "square", "triangle"]
INPUT_SIZE = 64
SOURCE_SIZE = (45, 70)  # wider than tall: the letterbox pads above and below
LETTERBOX_PAD = 114.0
# a small detector (MobileNetV2 alpha 0.25, one block per stage, 8-channel FPN/head)
SMALL = dict(input_shape=(INPUT_SIZE, INPUT_SIZE, 3), num_classes=len(CLASS_NAMES),
             fpn_filters=8, head_filters=8, head_depth=1,
             backbone_kwargs=dict(alpha=0.25, stackwise_num_blocks=(1,) * 7, last_filters=16))
MAX_DETECTIONS = 100


def _detector(rng):
    """Untrained, with class scores that differ from anchor shape to anchor shape and class to
    class (random class biases around 0: the untrained backbone's features are close to
    zero, so the biases decide the scores) and box deltas far from zero (the decoding's scales
    and the anchors matter)."""
    from kerascv_apps.registry import build_model

    model = build_model("ssd_mobilenet_v2_tiny", **SMALL)
    layer = model.get_layer("class_predictions")
    kernel, bias = layer.get_weights()
    layer.set_weights([rng.normal(0, 0.5, kernel.shape).astype(np.float32),
                       rng.normal(0.0, 2.0, bias.shape).astype(np.float32)])
    layer = model.get_layer("box_predictions")
    kernel, bias = layer.get_weights()
    layer.set_weights([rng.normal(0, 0.3, kernel.shape).astype(np.float32),
                       rng.normal(0, 1.0, bias.shape).astype(np.float32)])
    return model


def _run(tflite_bytes, tensor):
    """The four raw outputs (boxes, classes, scores, count) of one LiteRT run."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=bytes(tflite_bytes))
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    interpreter.set_tensor(inp["index"], tensor)
    interpreter.invoke()
    return [np.array(interpreter.get_tensor(o["index"])) for o in interpreter.get_output_details()]


def _case(folder, tflite_bytes, contract, source):
    from kerascv_apps.inference.letterbox import boxes_to_pixels, fit_image

    os.makedirs(folder)
    resize = contract["input"]["resize"]
    fit = resize.get("fit", "stretch")
    x, geometry = fit_image(source.astype(np.float32), INPUT_SIZE, INPUT_SIZE, fit,
                            pad_value=resize.get("pad_value", 0.0),
                            antialias=resize["antialias"])
    # uint8 input at scale 1, zero point 0 (checked): the tensor is the rounded pixels
    quant = contract["input"]["quantization"]
    assert contract["input"]["dtype"] == "uint8" and quant == {"scale": 1.0, "zero_point": 0}, quant
    tensor = np.clip(np.round(x), 0, 255).astype(np.uint8)[None]
    outputs = _run(tflite_bytes, tensor)
    with open(os.path.join(folder, "contract.json"), "w") as f:
        json.dump(contract, f, indent=2)
    from PIL import Image

    Image.fromarray(source).save(os.path.join(folder, "source.png"))
    tensor.tofile(os.path.join(folder, "input.bin"))
    for name, value in zip(("boxes", "classes", "scores", "count"), outputs):
        value.tofile(os.path.join(folder, f"{name}.bin"))
    boxes, classes, scores, count = outputs
    n = int(count.reshape(-1)[0])
    boxes, classes, scores = boxes[0, :n], classes[0, :n], scores[0, :n]
    distinct = np.unique(scores)
    if n < 4 or len(distinct) < 2:
        raise RuntimeError(f"detection vectors: {n} detections with scores {scores}; the "
                           f"vector needs several of different scores")
    # a threshold between the scores, so some detections are kept and some dropped
    threshold = float(distinct[len(distinct) // 2])
    keep = scores >= threshold
    pixels = boxes_to_pixels(boxes, geometry)
    rows = [{"class_id": int(round(float(c))), "label": CLASS_NAMES[int(round(float(c)))],
             "score": float(s), "box": [float(v) for v in b], "box_pixels": [float(v) for v in p]}
            for b, c, s, p in zip(boxes, classes, scores, pixels)]
    detections = [r for r, k in zip(rows, keep) if k]
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump({"fit": asdict(geometry), "score_threshold": threshold, "count": n,
                   "detections": detections, "all_detections": rows}, f, indent=2)
    return detections


def write_detection_vectors(stage, rng):
    """Writes ``detection/`` and ``detection_letterbox/`` under ``stage`` (a folder being
    written, e.g. inside :func:`~kerascv_apps.io.atomic_dir`)."""
    import copy

    import keras

    from kerascv_apps.export.contract import build_contract
    from kerascv_apps.export.phone_vectors import _calibration, _sample_photo
    from kerascv_apps.tasks.base import get_task

    model = _detector(rng)
    task = get_task("detection", num_classes=len(CLASS_NAMES), class_names=CLASS_NAMES,
                    max_detections=MAX_DETECTIONS)
    source = _sample_photo(SOURCE_SIZE, "astronaut")
    # calibration: random pixels and the vector's photo at the input size (the activation
    # ranges of a photo, not only of noise)
    from kerascv_apps.inference.letterbox import fit_image

    photo, _ = fit_image(source, INPUT_SIZE, INPUT_SIZE)
    calibration = np.concatenate([_calibration(rng, (INPUT_SIZE, INPUT_SIZE, 3), count=4),
                                  photo[None]], axis=0)
    data = task.convert_tflite(model, "int8", [calibration], None, "uint8")
    contract = build_contract(task, data, "detector", "int8", model=model)
    data = task.embed_tflite_metadata(data, contract)
    _case(os.path.join(stage, "detection"), data, contract, source)
    letterbox = copy.deepcopy(contract)
    letterbox["input"]["resize"].update(fit="letterbox", pad_value=LETTERBOX_PAD)
    _case(os.path.join(stage, "detection_letterbox"), data, letterbox, source)
    keras.backend.clear_session()


def main(argv=None):
    import keras

    from kerascv_apps.io import atomic_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="folder to write (replaced if it exists)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    with atomic_dir(args.out_dir, overwrite=True) as stage:
        write_detection_vectors(stage, np.random.default_rng(args.seed))


if __name__ == "__main__":
    main()
