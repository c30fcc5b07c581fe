"""ONNX export (export/onnx.py): the exporter's onnx / onnx_int8 rows verified by onnxruntime,
the int8 gate, the project's custom layers as standard ONNX ops at several sizes, and a model
with an op ONNX lacks refused by name."""

import json
import os

import keras
import numpy as np
import onnx
import pytest

from kerascv_apps import build_model
from kerascv_apps.export.onnx import (DEFAULT_OPSET, OnnxConversionError, OnnxRunner,
                                      convert_to_onnx, dynamic_model, nonstandard_ops)
from kerascv_apps.export.pipeline import (ExportQualityError, export_model, format_export_report,
                                          markdown_export_report)
from kerascv_apps.models.outputs import inference_model
from tests.models.segmentation.seg_common import NUM_CLASSES


def _ops(data):
    return {n.op_type for n in onnx.load_from_string(data).graph.node}


def test_lenet_onnx_rows_match_keras_and_pass_the_int8_gate(trained_lenet, tmp_path):
    model, splits, task = trained_lenet
    out = tmp_path / "export"
    report = export_model(model, task, splits, str(out), "digits",
                          formats=("float32", "onnx", "onnx_int8"), latency_runs=3)
    rows = report["formats"]
    keras_value = report["keras"]["value"]
    assert abs(rows["onnx"]["value"] - keras_value) <= 1e-4
    assert rows["onnx_int8"]["quality_drop"] <= 0.01 and report["passed"]
    assert rows["onnx"]["num_images"] == report["keras"]["num_images"] == 270
    assert rows["onnx"]["batch_size"] == 32  # dynamic batch: the batch equals one at a time
    # LeNet's Flatten/Dense head fixes height and width; the batch stays dynamic
    assert rows["onnx"]["input_shape"] == [None, 32, 32, 1]
    assert rows["onnx"]["opset"] == DEFAULT_OPSET and rows["onnx"]["non_builtin_ops"] == []
    float_file = out / "onnx" / "digits.onnx"
    int8_file = out / "onnx" / "digits_int8.onnx"
    assert rows["onnx"]["path"] == os.path.join("onnx", "digits.onnx")
    int8_ops = _ops(int8_file.read_bytes())
    assert {"QuantizeLinear", "DequantizeLinear"} <= int8_ops  # QDQ format
    assert rows["onnx_int8"]["size_bytes"] < 0.4 * rows["onnx"]["size_bytes"]
    # the file itself: outputs equal the Keras model's, labels in its metadata
    images = np.stack([x for x, _ in splits.test.take(5).as_numpy_iterator()])
    np.testing.assert_allclose(OnnxRunner(str(float_file))(images), model(images), atol=1e-5)
    meta = {p.key: p.value for p in onnx.load(str(float_file)).metadata_props}
    assert meta["labels"].split("\n") == list(task.class_names) and meta["task"] == task.name
    saved = json.loads((out / "export_report.json").read_text())
    assert set(saved["formats"]) == {"float32", "onnx", "onnx_int8"}
    assert "onnx_int8" in format_export_report(report)
    assert "| onnx | " in markdown_export_report(report)
    assert "onnxruntime" in format_export_report(report)


def test_onnx_int8_gate_refuses_a_badly_calibrated_file(trained_lenet, tmp_path, monkeypatch):
    model, splits, task = trained_lenet
    # calibrated on almost black images, the activation ranges clip real digits
    monkeypatch.setattr(task, "calibration_images",
                        lambda splits, count: np.full((8, 32, 32, 1), 1.0, np.float32))
    with pytest.raises(ExportQualityError, match="onnx_int8 accuracy dropped"):
        export_model(model, task, splits, str(tmp_path / "bad"), "digits",
                     formats=("onnx_int8",), latency_runs=1, limit=64)
    assert not os.path.exists(tmp_path / "bad")


def _tiny(name):
    if name == "segnet":
        return build_model("segnet", num_classes=NUM_CLASSES,
                           stackwise_num_filters=(4, 8, 8), stackwise_num_blocks=(1, 1, 2))
    if name == "aligned":  # PSPNet's and the backbone U-Net's alignment layers, without the
        # backbone (a tiny PSPNet takes ~50 s to convert on two cores)
        from kerascv_apps.layers.alignment import AlignedResize, CropToMatch, PadToMultiple

        inputs = keras.Input((None, None, 3))
        padded = PadToMultiple(8)(inputs)
        x = keras.layers.Rescaling(1 / 255.0)(padded)
        x = keras.layers.Conv2D(NUM_CLASSES, 8, strides=8)(x)  # stride 8, offset 3.5
        x = AlignedResize(8, 3.5)([x, padded])
        x = CropToMatch()([x, inputs])
        return keras.Model(inputs, keras.layers.Activation("softmax")(x))
    if name == "unet":  # the paper's valid convolutions: centre-cropped skips
        return build_model("unet", num_classes=NUM_CLASSES, base_filters=4, depth=2)
    if name == "espcn_paper_x2":  # on Y: colour conversion and chroma bicubic inside
        return build_model("espcn_paper_x2", stackwise_num_filters=(8, 4))
    return build_model("espcn_x2", stackwise_num_filters=(8, 4))


# the custom layers each model carries, and sizes it takes (some not multiples of its stride)
CUSTOM_LAYER_MODELS = {
    "segnet": ("MaxPoolingWithSwitches/MaxUnpoolingWithSwitches", [(32, 32), (30, 33), (17, 45)]),
    "aligned": ("AlignedResize, PadToMultiple, CropToMatch", [(32, 32), (44, 60), (37, 29)]),
    "unet": ("CenterCropToMatch", [(92, 92), (108, 124), (140, 108)]),
    "espcn_x2": ("PixelShuffle", [(16, 16), (9, 11), (24, 17)]),
    "espcn_paper_x2": ("RGBToYCbCr, BicubicUpsampling, YCbCrToRGB, PixelShuffle",
                       [(16, 16), (9, 11), (24, 17)]),
}


@pytest.mark.parametrize("name", sorted(CUSTOM_LAYER_MODELS))
def test_custom_layers_convert_to_standard_ops_at_three_sizes(name):
    model = inference_model(_tiny(name))
    data = convert_to_onnx(model)
    proto = onnx.load_from_string(data)
    assert nonstandard_ops(proto) == []
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "height", "width", 3]  # N, H, W dynamic
    if name.startswith("espcn"):
        assert "DepthToSpace" in _ops(data)
    runner = OnnxRunner(data)
    rng = np.random.default_rng(0)
    for h, w in CUSTOM_LAYER_MODELS[name][1]:
        x = rng.uniform(0, 255, (2, h, w, 3)).astype(np.float32)
        ref = np.asarray(model.predict(x, verbose=0))
        got = runner(x)
        assert got.shape == ref.shape, (name, (h, w))
        tol = 1e-3 if name.startswith("espcn") else 1e-5  # ESPCN outputs pixels (0-255)
        np.testing.assert_allclose(got, ref, atol=tol, err_msg=f"{name} at {h}x{w}")


def test_static_trained_size_becomes_dynamic_only_where_the_model_allows(trained_lenet):
    fcn = build_model("espcn_x2", input_shape=(16, 16, 3), stackwise_num_filters=(8, 4))
    wrapped, shape = dynamic_model(fcn)
    assert shape == (None, None, None, 3)
    x = np.random.default_rng(1).uniform(0, 255, (1, 20, 12, 3)).astype(np.float32)
    np.testing.assert_allclose(OnnxRunner(convert_to_onnx(fcn))(x), wrapped(x), atol=1e-3)
    lenet = trained_lenet[0]
    assert dynamic_model(lenet)[1] == (None, 32, 32, 1)
    with pytest.raises(OnnxConversionError, match="cannot be dynamic"):
        dynamic_model(lenet, dynamic_spatial=True)


@keras.saving.register_keras_serializable(package="tests_onnx")
class _InverseErf(keras.layers.Layer):
    """TensorFlow's Erfinv op, which tf2onnx has no mapping for."""

    def call(self, x):
        return keras.ops.erfinv(0.5 * keras.ops.tanh(x))


def test_a_model_with_an_op_onnx_lacks_is_refused_naming_it():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    model = keras.Model(inputs, _InverseErf(name="inverse_erf")(x), name="odd")
    with pytest.raises(OnnxConversionError, match=r"Erfinv.*inverse_erf"):
        convert_to_onnx(model)


def test_cli_export_formats_onnx(trained_lenet, tmp_path, capsys):
    from kerascv_apps.cli import main
    from kerascv_apps.io import save_model_atomic

    model, splits, _ = trained_lenet
    run = tmp_path / "run"
    run.mkdir()
    save_model_atomic(model, str(run / "model.keras"))
    (run / "run.json").write_text(json.dumps({
        "model": "lenet5", "task": "classification", "dataset": "digits", "model_kwargs": {},
        "data": {"class_names": list(splits.class_names), "num_classes": 10}}))
    out = tmp_path / "export"
    assert main(["export", "--model-path", str(run / "model.keras"), "--out", str(out),
                 "--formats", "onnx", "--limit", "64", "--no-progress"]) == 0
    assert (out / "onnx" / "lenet5.onnx").exists()
    assert not (out / "tflite").exists()
    assert "onnx " in capsys.readouterr().out
    assert main(["export", "--model-path", str(run / "model.keras"), "--out",
                 str(tmp_path / "x"), "--formats", "onnx_fp16"]) == 2
