"""``export_model``: SavedModel + TFLite variants, verified against the Keras model, atomically.

Output layout (``out_dir`` is published only when everything succeeded)::

    out_dir/
      savedmodel/<name>/1/            TF Serving layout (serving_default + serving_bytes)
      tflite/<name>_<mode>.tflite     float32, float16, dynamic, int8 (uint8 I/O), int16x8;
                                      each embeds TFLite metadata + labels.txt + contract.json
      tflite/<name>_<mode>.json       phone contract (export/contract.py), the same as embedded
      onnx/<name>.onnx, <name>_int8.onnx
                                      ONNX float32 / QDQ int8 (export/onnx.py), verified
                                      by onnxruntime
      labels.txt                      class names, one per line (when the task has them)
      export_report.json
"""

import json
import os

import numpy as np

from kerascv_apps.export.contract import build_contract
# onnx, onnxruntime and tf2onnx are imported only when an ONNX format is asked for
from kerascv_apps.export.onnx import ONNX_FORMATS
from kerascv_apps.export.savedmodel import export_savedmodel
from kerascv_apps.export.tflite import (MODES, TFLiteConversionError, convert_to_tflite,
                                        layer_names, shared_saved_models, with_rgb_input)
from kerascv_apps.export.verify import machine_info, verify_keras, verify_tflite
from kerascv_apps.io import atomic_dir

# LiteRT Quantizer (ai-edge-quantizer) variants, quantized from the float32 file
QUANTIZER_FORMATS = {"litert_int8": "static_wi8_ai8", "litert_int16x8": "static_wi8_ai16"}
FORMATS = ("savedmodel",) + MODES + tuple(QUANTIZER_FORMATS) + ONNX_FORMATS
TFLITE_FORMATS = MODES + tuple(QUANTIZER_FORMATS)


class ExportQualityError(RuntimeError):
    """A quantized model lost more quality than allowed; nothing was published."""


def export_model(model, task, splits, out_dir, name, config=None, *, overwrite=False,
                 progress=print, show_progress=None, **options):
    """Exports ``model`` and verifies every TFLite file on ``splits.test`` with ``task.score``.

    Args:
        model: the trained (inference) Keras model.
        task: the Task; its ``quality_metric`` is compared between Keras and each TFLite file.
        splits: ``DatasetSplits``; calibration data comes from ``train``, verification ``test``.
        out_dir: destination folder (refused if it exists, unless ``overwrite``).
        name: model name used for file and SavedModel folder names.
        config: an :class:`~kerascv_apps.config.ExportConfig` (default: its defaults, with
            the task's ``export_formats`` when it declares them and ``formats`` is not given): the
            formats, the int8 quality gate (``max_quality_drop``), ``limit``,
            ``num_calibration``, ``integer_io``, ``tflite_input_shape``, ``rgb_input``,
            ``version``/``description`` (contract and embedded metadata), verification
            ``batch_size`` and ``latency_runs``; see its docstring.
        **options: keys of ``ExportConfig`` given one by one (``formats=("int8",)``); they
            replace those of ``config``, and the result is validated once.
        show_progress: progress bars of the verification runs on stderr: ``None`` (default)
            when stderr is a terminal, or ``True``/``False``. ``progress`` prints stage lines.

    Returns:
        The report dict (also written to ``export_report.json``; ``config``: the
        ExportConfig it followed).

    Raises:
        ExportQualityError: int8 quality dropped more than ``max_quality_drop``; nothing is
            left at ``out_dir``.
    """
    if config is None and "formats" not in options and task.export_formats:
        options["formats"] = tuple(task.export_formats)  # what this task's files can be
    config = export_config(config, **options)
    formats, max_quality_drop, limit = config.formats, config.max_quality_drop, config.limit
    tflite_input_shape, integer_io = config.tflite_input_shape, config.integer_io
    num_calibration, latency_runs, batch_size = (config.num_calibration, config.latency_runs,
                                                 config.batch_size)
    version, description = config.version, config.description
    from kerascv_apps.models.outputs import float32_model

    # what the task ships (a generation model: its decoder / generator, on latent vectors)
    model = task.export_network(float32_model(model))
    rgb_input = config.rgb_input and task.image_input  # a latent-vector input stays as it is
    if os.path.exists(out_dir) and not overwrite:
        raise FileExistsError(f"export directory {out_dir} already exists; choose another or overwrite")
    report = {"name": name, "task": task.name, "metric": task.quality_metric,
              "higher_is_better": task.higher_is_better, "max_quality_drop": max_quality_drop,
              "dataset": splits.name, "config": _jsonable_config(config), "formats": {}}
    progress(f"[export] evaluating the Keras model on the test split ({task.quality_metric})")
    test = task.verification_data(model, splits, limit=limit)
    keras_figures = verify_keras(model, task, test, limit=limit, batch_size=batch_size,
                                 label="[verify] keras", show_progress=show_progress)
    report["keras"] = keras_figures
    report["machine"] = machine_info()
    with atomic_dir(out_dir, overwrite=overwrite) as stage:
        if "savedmodel" in formats:
            progress("[export] SavedModel (TF Serving layout)")
            path = export_savedmodel(model, os.path.join(stage, "savedmodel"), name, task)
            report["formats"]["savedmodel"] = {
                "path": os.path.relpath(path, stage),
                "size_bytes": _dir_size(path),
                "signatures": ["serving_default"] + (["serving_bytes"] if task.image_input
                                                     else [])}
        tflite_dir = os.path.join(stage, "tflite")
        phone_model = with_rgb_input(model) if rgb_input else model
        if tflite_input_shape is not None and phone_model is not model:
            tflite_input_shape = tuple(tflite_input_shape[:-1]) + (3,)
        calibration = None
        with shared_saved_models():  # one SavedModel write for all the TFLite modes
            for mode in (f for f in formats if f in TFLITE_FORMATS):
                progress(f"[export] TFLite {mode}: converting")
                calibrated = mode in ("int8", "int16x8") or mode in QUANTIZER_FORMATS
                if calibrated and calibration is None:
                    calibration = task.calibration_images(splits, num_calibration)
                    if phone_model.inputs[0].shape[-1] == 3 and calibration.shape[-1] == 1:
                        calibration = np.repeat(calibration, 3, axis=-1)
                try:
                    data = task.convert_tflite(phone_model, mode,
                                               calibration if calibrated else None,
                                               tflite_input_shape, integer_io)
                    if data is None:
                        data = _convert(phone_model, mode, calibration if calibrated else None,
                                        tflite_input_shape, integer_io)
                except TFLiteConversionError as e:
                    if mode in ("int8", "float32"):
                        raise
                    # a variant the converter cannot make (e.g. an op without a 16x8 kernel) or
                    # LiteRT cannot run is refused with its reason, the others go on
                    progress(f"[export] TFLite {mode}: refused: {e}")
                    report["formats"][mode] = {"refused": str(e)}
                    continue
                os.makedirs(tflite_dir, exist_ok=True)
                file = os.path.join(tflite_dir, f"{name}_{mode}.tflite")
                contract = build_contract(task, data, name, mode, model=model, version=version,
                                          description=description, file_name=os.path.basename(file))
                if task.embeds_metadata:
                    data = task.embed_tflite_metadata(data, contract)
                with open(file, "wb") as f:
                    f.write(data)
                with open(os.path.join(tflite_dir, f"{name}_{mode}.json"), "w") as f:
                    json.dump(contract, f, indent=2)
                progress(f"[export] TFLite {mode}: verifying on the test split")
                figures = verify_tflite(data, task, test, limit=limit, latency_runs=latency_runs,
                                        batch_size=batch_size, label=f"[verify] {mode}",
                                        show_progress=show_progress)
                figures["path"] = os.path.relpath(file, stage)
                figures["quality_drop"] = float(task.quality_drop(keras_figures["value"],
                                                                  figures["value"]))
                report["formats"][mode] = figures
        if any(f in ONNX_FORMATS for f in formats):
            report["formats"].update(_export_onnx(model, task, splits, stage, name, formats,
                                                  keras_figures, num_calibration, limit=limit,
                                                  latency_runs=latency_runs, batch_size=batch_size,
                                                  progress=progress, show_progress=show_progress))
        if "float32" in report["formats"]:
            for mode, figures in report["formats"].items():
                if mode in TFLITE_FORMATS and "refused" not in figures:
                    figures["size_vs_float32"] = figures["size_bytes"] / report["formats"]["float32"]["size_bytes"]
        if task.class_names:
            with open(os.path.join(stage, "labels.txt"), "w") as f:
                f.write("\n".join(task.class_names) + "\n")
        # the int8 gate: the full-integer TFLite file and the QDQ int8 ONNX file alike
        failed = [(mode, report["formats"][mode]) for mode in ("int8", "onnx_int8")
                  if mode in report["formats"]
                  and report["formats"][mode]["quality_drop"] > max_quality_drop]
        report["passed"] = not failed
        report["fastest_on_this_machine"] = fastest_file(report)
        if failed:
            mode, int8 = failed[0]
            progress(format_export_report(report))
            raise ExportQualityError(
                f"{mode} {task.quality_metric} dropped by {int8['quality_drop']:.4f} "
                f"({keras_figures['value']:.4f} -> {int8['value']:.4f}), more than the allowed "
                f"{max_quality_drop}; nothing was written to {out_dir}. Use more or more "
                f"representative calibration data, or export float16/dynamic instead.")
        with open(os.path.join(stage, "export_report.json"), "w") as f:
            json.dump(report, f, indent=2)
        with open(os.path.join(stage, "export_report.md"), "w") as f:
            f.write(markdown_export_report(report))
    return report


def export_config(config=None, **options):
    """``config`` (an ExportConfig, default its defaults) with ``options`` (its keys) replaced,
    validated once; an unknown option is refused naming the accepted keys."""
    from kerascv_apps.config import ExportConfig

    config = config if config is not None else ExportConfig()
    if options:
        config = ExportConfig.from_dict({**config.to_dict(), **options},
                                        source="export_model arguments")
    return config


def _jsonable_config(config):
    data = config.to_dict()
    data["formats"] = list(data["formats"])
    if data["tflite_input_shape"] is not None:
        data["tflite_input_shape"] = list(data["tflite_input_shape"])
    return data


def _export_onnx(model, task, splits, stage, name, formats, keras_figures, num_calibration,
                 **kwargs):
    """The ONNX rows of the report (``export/onnx.py``): the model's own input (a gray model
    stays gray), dynamic batch and, for fully convolutional models, dynamic height/width."""
    from kerascv_apps.export.onnx import export_onnx_formats

    metadata = {"task": task.name, "metric": task.quality_metric,
                "input": "float32 NHWC images in pixel values (0-255), as the Keras model takes"}
    if task.class_names:
        metadata["labels"] = "\n".join(task.class_names)
    rows = export_onnx_formats(model, task, splits, os.path.join(stage, "onnx"), name, formats,
                               calibration=lambda: task.calibration_images(splits, num_calibration),
                               metadata=metadata, **kwargs)
    for figures in rows.values():
        figures["path"] = os.path.relpath(figures["path"], stage)
        figures["quality_drop"] = float(task.quality_drop(keras_figures["value"], figures["value"]))
        figures["size_vs_float32"] = figures.pop("size_vs_onnx")  # vs the float32 ONNX file
    return rows


def _convert(model, mode, calibration, input_shape, integer_io):
    if mode in QUANTIZER_FORMATS:
        from kerascv_apps.export.litert_quantizer import quantize_tflite

        float_data = convert_to_tflite(model, "float32", input_shape=input_shape)
        return quantize_tflite(float_data, QUANTIZER_FORMATS[mode], calibration,
                               layer_names=layer_names(model))
    return convert_to_tflite(model, mode,
                             representative_data=None if calibration is None else [calibration],
                             input_shape=input_shape, integer_io=integer_io)


def _dir_size(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def fastest_file(report):
    """The exported file (not Keras) with the lowest median latency on the machine that
    exported it, ``{"format", "latency_ms_median", "vs_float32"}``, or None: int8 is not always
    the fastest (slower than float32 on CPUs without int8 dot-product instructions)."""
    timed = {m: f for m, f in report["formats"].items()
             if "refused" not in f and f.get("latency_ms_median") is not None}
    if not timed:
        return None
    mode = min(timed, key=lambda m: timed[m]["latency_ms_median"])
    base = timed.get("float32")
    return {"format": mode, "latency_ms_median": timed[mode]["latency_ms_median"],
            "vs_float32": (timed[mode]["latency_ms_median"] / base["latency_ms_median"]
                           if base else None)}


def _fastest_line(report):
    fastest = fastest_file(report)
    if fastest is None:
        return None
    ratio = (f", {fastest['vs_float32']:.2f}x the float32 file's latency"
             if fastest["vs_float32"] is not None and fastest["format"] != "float32" else "")
    return (f"Fastest file on this machine: {fastest['format']} "
            f"({fastest['latency_ms_median']:.3f} ms median{ratio}).")


def format_export_report(report):
    """A plain-text table: format, size, quality, drop, latency."""
    metric = report["metric"]
    lines = [f"{'format':<11} {'size':>10} {metric:>10} {'drop':>8} {'latency ms':>11} {'vs float':>9}"]
    keras = report["keras"]
    lines.append(f"{'keras':<11} {'':>10} {keras['value']:>10.4f} {'':>8} "
                 f"{keras['latency_ms_median']:>11.3f} {'':>9}")
    for mode, f in report["formats"].items():
        if mode == "savedmodel":
            lines.append(f"{'savedmodel':<11} {_kb(f['size_bytes']):>10}")
            continue
        if "refused" in f:
            lines.append(f"{mode:<11} refused: {f['refused']}")
            continue
        lines.append(f"{mode:<11} {_kb(f['size_bytes']):>10} {f['value']:>10.4f} "
                     f"{f['quality_drop']:>+8.4f} {f['latency_ms_median']:>11.3f} "
                     f"{f.get('size_vs_float32', 1.0):>8.2f}x")
    if _fastest_line(report):
        lines.append(_fastest_line(report))
    if report.get("machine"):
        lines.append(format_machine(report["machine"]))
    return "\n".join(lines)


def markdown_export_report(report):
    """The export report as a Markdown table (size, metric, drop, latency at 1/2 threads, ops)."""
    metric = report["metric"]
    keras = report["keras"]
    lines = [f"# Export report: {report['name']} ({report['task']}, {report['dataset']})", "",
             f"| variant | size | {metric} | drop vs Keras | 1 thread median / p90 ms | "
             f"2 threads median / p90 ms | input | non-builtin ops |",
             "|---|---|---|---|---|---|---|---|",
             f"| keras | | {keras['value']:.4f} | | {keras['latency_ms_median']:.3f} / "
             f"{keras['latency_ms_p90']:.3f} | | float32 | |"]
    for mode, f in report["formats"].items():
        if mode == "savedmodel":
            lines.append(f"| savedmodel | {_kb(f['size_bytes'])} | | | | | | |")
            continue
        if "refused" in f:
            lines.append(f"| {mode} | refused: {f['refused']} | | | | | | |")
            continue
        lat = f.get("latency_threads", {})
        cells = [f"{lat[t]['median_ms']:.3f} / {lat[t]['p90_ms']:.3f}" if t in lat else ""
                 for t in ("1", "2")]
        lines.append(f"| {mode} | {_kb(f['size_bytes'])} | {f['value']:.4f} | "
                     f"{f['quality_drop']:+.4f} | {cells[0]} | {cells[1]} | {f['input_dtype']} | "
                     f"{', '.join(f.get('non_builtin_ops', [])) or 'none'} |")
    ops = sorted({op for f in report["formats"].values() for op in f.get("ops", [])})
    lines += ["", f"Ops: {', '.join(ops)}", ""]
    if _fastest_line(report):
        lines += [_fastest_line(report), ""]
    if report.get("machine"):
        lines += [format_machine(report["machine"]), ""]
    return "\n".join(lines)


def format_machine(machine):
    """One line for the report: where the latency figures come from."""
    flags = machine.get("cpu_flags")
    present = [k for k, v in (flags or {}).items() if v]
    absent = [k for k, v in (flags or {}).items() if not v]
    text = (f"Latency measured on: {machine['cpu']} ({machine['arch']}, "
            f"{machine['logical_cpus']} logical CPUs), LiteRT {machine.get('litert_version')}, "
            f"XNNPACK" + (f"; onnxruntime {machine['onnxruntime_version']} (CPU provider) for "
                          f"ONNX rows." if machine.get("onnxruntime_version") else "."))
    if flags is not None:
        text += (f" CPU flags present: {', '.join(present) or 'none'}; absent: "
                 f"{', '.join(absent) or 'none'}. Int8 runs faster than float32 mainly with "
                 f"int8 dot-product instructions (avx512_vnni / avx_vnni on x86, asimddp / i8mm "
                 f"on Arm); without them an int8/float32 latency ratio near or above 1 is "
                 f"expected and says little about a phone.")
    return text


def _kb(n):
    return f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.2f} MB"
