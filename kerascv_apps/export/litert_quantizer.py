"""The LiteRT Quantizer path (``ai-edge-quantizer``): quantizes a float32 .tflite directly,
the way LiteRT's documentation now recommends over the converter's post-training options.

Recipes used: ``static_wi8_ai8`` (int8 weights and activations, float I/O), ``static_wi8_ai16``
(16x8) and ``dynamic_wi8_afp32`` (dynamic range). Calibration feeds images one at a time
through the ``serve`` signature that ``convert_to_tflite`` writes.
"""

import numpy as np

RECIPES = ("static_wi8_ai8", "static_wi8_ai16", "dynamic_wi8_afp32")


def quantize_tflite(float_tflite, recipe="static_wi8_ai8", calibration_images=None, limit=100,
                    layer_names=()):
    """Returns the quantized flatbuffer (bytes) of a float32 ``convert_to_tflite`` result.

    Raises ``TFLitePrepareError`` (naming the layer and the reason) when LiteRT cannot prepare
    the quantized file; ``layer_names``: the Keras model's, for that message.
    """
    from kerascv_apps.export.tflite import check_prepares

    from ai_edge_quantizer import quantizer
    from ai_edge_quantizer import recipe as recipes

    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {RECIPES}, got {recipe!r}")
    qt = quantizer.Quantizer(bytearray(float_tflite))
    qt.load_quantization_recipe(getattr(recipes, recipe)())
    calibration = None
    if recipe.startswith("static"):
        if calibration_images is None:
            raise ValueError(f"recipe {recipe} needs calibration_images (from the training split)")
        images = np.asarray(calibration_images, np.float32)[:limit]
        calibration = qt.calibrate({"serve": [{"images": im[None]} for im in images]})
    result = qt.quantize(calibration, enable_progress_report=False)
    data = bytes(result.quantized_model)
    check_prepares(data, f"LiteRT Quantizer {recipe} file", layer_names)
    return data
