"""TFLite export of SR generators with dynamic input sizes, verified by PSNR-Y against the
Keras model on whole held-out images (each image its own size, so every file is run at
several input sizes)."""

import json
import os


from kerascv_apps.export.tflite import TFLiteRunner, builtin_op_names, convert_to_tflite
from kerascv_apps.io import atomic_write_bytes, atomic_write_text
from kerascv_apps.tasks.super_resolution import evaluate_sr

SR_MODES = ("float32", "float16", "int8")


def export_sr_tflite(model, splits, out_dir, name, modes=SR_MODES, calibration_images=8,
                     limit=None):
    """Writes ``<name>_<mode>.tflite`` files (input ``(1, None, None, 3)``) and a report.

    Returns a dict: for the Keras model and each mode the PSNR-Y on ``splits.test``, the
    drop vs Keras (dB), the input sizes it ran at, file size and ops; the bicubic baseline.
    Calibration for int8 uses whole training LR images (several sizes).
    """
    scale = splits.info["scale"]
    os.makedirs(out_dir, exist_ok=True)
    reference = evaluate_sr(model, splits.test, scale, limit=limit)
    report = {"scale": scale, "keras": {"psnr_y": reference["psnr_y"], "ssim_y": reference["ssim_y"]},
              "bicubic": {"psnr_y": reference["bicubic_psnr_y"],
                          "ssim_y": reference["bicubic_ssim_y"]}, "tflite": {}}
    rep = [lr[None] for lr, _ in splits.train.take(calibration_images).as_numpy_iterator()]
    for mode in modes:
        data = convert_to_tflite(model, mode, representative_data=rep if mode == "int8" else None,
                                 input_shape=(1, None, None, 3))
        path = os.path.join(out_dir, f"{name}_{mode}.tflite")
        atomic_write_bytes(path, data)
        runner = TFLiteRunner(data)
        sizes = []

        def run(x):
            sizes.append(list(x.shape[1:3]))
            return runner(x)

        res = evaluate_sr(run, splits.test, scale, limit=limit)
        report["tflite"][mode] = {
            "path": path, "bytes": len(data), "ops": builtin_op_names(data),
            "psnr_y": res["psnr_y"], "ssim_y": res["ssim_y"],
            "psnr_y_drop_vs_keras": reference["psnr_y"] - res["psnr_y"],
            "input_sizes": sizes}
    atomic_write_text(os.path.join(out_dir, f"{name}_tflite_report.json"),
                      json.dumps(report, indent=2, default=float))
    return report
