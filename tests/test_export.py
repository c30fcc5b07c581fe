import io
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerascv_apps.export.pipeline import ExportQualityError, export_model, format_export_report
from kerascv_apps.export.savedmodel import export_savedmodel
from kerascv_apps.export.tflite import (TFLitePrepareError, TFLiteRunner, check_prepares,
                                        convert_to_tflite, shared_saved_models)
from kerascv_apps.export.verify import predict_split
from kerascv_apps.io import atomic_dir, atomic_write_bytes
from tests.tree_snapshot import assert_unchanged, snapshot


@pytest.fixture(scope="module")
def trained(trained_lenet):
    """A LeNet-5 trained briefly on digits (shared by the export tests)."""
    return trained_lenet


def _png_bytes(image):
    buf = io.BytesIO()
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)[..., 0]).save(buf, format="PNG")
    return buf.getvalue()


def test_savedmodel_layout_and_both_signatures(trained, tmp_path):
    model, splits, task = trained
    images = np.stack([x for x, _ in splits.test.take(4).as_numpy_iterator()])
    images = np.round(images)  # what a PNG round trip keeps
    path = export_savedmodel(model, tmp_path, "digits", task)
    assert path == os.path.join(tmp_path, "digits", "1")
    assert os.path.exists(os.path.join(path, "saved_model.pb"))
    loaded = tf.saved_model.load(path)
    assert set(loaded.signatures) == {"serving_default", "serving_bytes"}
    expected = np.asarray(model(images))
    out = loaded.signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)
    np.testing.assert_array_equal(out["class_id"].numpy(), expected.argmax(-1))
    encoded = tf.constant([_png_bytes(im) for im in images])
    out_bytes = loaded.signatures["serving_bytes"](image_bytes=encoded)
    np.testing.assert_allclose(out_bytes["probabilities"].numpy(), expected, atol=1e-4)
    # versions are never overwritten: the next export is version 2
    assert export_savedmodel(model, tmp_path, "digits", task).endswith(os.path.join("digits", "2"))
    before = snapshot(tmp_path)
    with pytest.raises(FileExistsError, match="immutable"):
        export_savedmodel(model, tmp_path, "digits", task, version=1)
    assert_unchanged(tmp_path, before)  # versions 1 and 2 byte for byte, nothing beside them


def test_tflite_modes_sizes_and_int8_io(trained):
    model, splits, _ = trained
    rep = np.stack([x for x, _ in splits.train.take(64).as_numpy_iterator()])
    with shared_saved_models():
        sizes = {m: len(convert_to_tflite(model, m, representative_data=[rep])) for m in
                 ("float32", "float16", "dynamic")}
        int8 = convert_to_tflite(model, "int8", representative_data=[rep])
        int8_io = convert_to_tflite(model, "int8", representative_data=[rep],
                                    integer_io="int8")
    assert sizes["float16"] < 0.6 * sizes["float32"]
    assert sizes["dynamic"] < 0.35 * sizes["float32"]
    assert len(int8) < 0.35 * sizes["float32"]
    runner = TFLiteRunner(int8)
    assert runner.input_details["dtype"] == np.uint8  # the default: raw uint8 pixels
    assert runner.output_details[0]["dtype"] == np.uint8
    scale, zero = runner.input_details["quantization"]
    assert scale == pytest.approx(1.0, rel=0.01) and zero == 0
    runner = TFLiteRunner(int8_io)
    assert runner.input_details["dtype"] == np.int8
    assert runner.output_details[0]["dtype"] == np.int8
    scale, zero = runner.input_details["quantization"]
    assert scale == pytest.approx(1.0, rel=0.01) and zero == -128  # int8 = pixel - 128
    with pytest.raises(ValueError, match="integer_io"):
        convert_to_tflite(model, "int8", representative_data=[rep], integer_io="int16")
    with pytest.raises(ValueError, match="representative_data"):
        convert_to_tflite(model, "int8")
    with pytest.raises(ValueError, match="mode must be one of"):
        convert_to_tflite(model, "int4")


def test_tflite_modes_share_one_savedmodel_and_the_frozen_graph_converts_alike(trained,
                                                                               monkeypatch):
    """Inside ``shared_saved_models`` the modes of one model read one SavedModel (another
    model object gets its own); the frozen-graph route the model tests use makes files with
    the same outputs as the SavedModel route."""
    from kerascv_apps.export import tflite

    model, splits, _ = trained
    rep = np.stack([x for x, _ in splits.train.take(16).as_numpy_iterator()])
    images = rep[:8]
    writes = []
    write = tflite._write_serving
    monkeypatch.setattr(tflite, "_write_serving",
                        lambda m, *a: writes.append(m.name) or write(m, *a))
    alone = {m: convert_to_tflite(model, m, representative_data=[rep])
             for m in ("float32", "int8")}
    assert len(writes) == 2
    other = keras.models.clone_model(model)
    other.set_weights(model.get_weights())
    with tflite.shared_saved_models():
        shared = {m: convert_to_tflite(model, m, representative_data=[rep])
                  for m in ("float32", "dynamic", "int8")}
        convert_to_tflite(other, "float32")
    assert len(writes) == 2 + 2  # one for the three modes of ``model``, one for ``other``
    frozen = {m: convert_to_tflite(model, m, representative_data=[rep], graph="frozen")
              for m in ("float32", "int8")}
    assert len(writes) == 4
    for mode in ("float32", "int8"):
        want = TFLiteRunner(alone[mode]).predict(images, batch_size=1)
        for data in (shared[mode], frozen[mode]):
            np.testing.assert_allclose(TFLiteRunner(data).predict(images, batch_size=1), want,
                                       atol=1e-6, err_msg=mode)
    with pytest.raises(ValueError, match="graph must be"):
        convert_to_tflite(model, "float32", graph="saved")


def test_export_model_verifies_and_reports(trained, tmp_path, monkeypatch):
    from kerascv_apps.export import tflite

    model, splits, task = trained
    out = tmp_path / "exports"
    writes = []
    write = tflite._write_serving
    monkeypatch.setattr(tflite, "_write_serving", lambda *a: writes.append(1) or write(*a))
    # gray input kept (rgb_input=False): the RGB phone input is covered in test_phone_export
    report = export_model(model, task, splits, str(out), "lenet5",
                          formats=("savedmodel", "float32", "int8"), limit=120, latency_runs=5,
                          rgb_input=False)
    assert len(writes) == 1  # both TFLite files from one SavedModel of the model
    keras_acc = report["keras"]["value"]
    assert report["passed"] and report["metric"] == "accuracy"
    # --limit: every run saw exactly 120 images; the Keras model in batches, the batch-1
    # LeNet files one at a time (their RESHAPE hard-codes batch 1, so batching is refused)
    assert report["keras"]["num_images"] == 120 and report["keras"]["batch_size"] == 32
    for mode in ("float32", "int8"):
        assert report["formats"][mode]["num_images"] == 120, mode
        assert report["formats"][mode]["batch_size"] == 1, mode
    machine = report["machine"]  # what the latency figures were measured on
    assert machine["cpu"] and machine["logical_cpus"] >= 1
    if machine["arch"] == "x86_64" and machine["cpu_flags"] is not None:
        assert {"avx2", "avx512_vnni"} <= set(machine["cpu_flags"])
    assert "Latency measured on:" in (out / "export_report.md").read_text()
    assert report["formats"]["float32"]["value"] == pytest.approx(keras_acc, abs=1e-9)
    assert abs(report["formats"]["int8"]["quality_drop"]) <= 0.01
    assert report["formats"]["int8"]["size_vs_float32"] < 0.35
    assert report["formats"]["int8"]["latency_ms_median"] > 0
    for rel in ("savedmodel/lenet5/1/saved_model.pb", "tflite/lenet5_int8.tflite",
                "tflite/lenet5_int8.json", "labels.txt", "export_report.json"):
        assert (out / rel).exists(), rel
    contract = json.loads((out / "tflite/lenet5_int8.json").read_text())
    assert contract["input"]["dtype"] == "uint8" and contract["input"]["shape"] == [1, 32, 32, 1]
    assert (out / "labels.txt").read_text().split() == [str(i) for i in range(10)]
    table = format_export_report(report)
    assert "int8" in table and "savedmodel" in table
    # which of its files is fastest here: measured, not assumed to be int8
    latencies = {m: report["formats"][m]["latency_ms_median"] for m in ("float32", "int8")}
    fastest = report["fastest_on_this_machine"]
    assert fastest["format"] == min(latencies, key=latencies.get)
    assert fastest["latency_ms_median"] == min(latencies.values())
    assert f"Fastest file on this machine: {fastest['format']}" in table
    assert "Fastest file on this machine" in (out / "export_report.md").read_text()
    before = snapshot(tmp_path)
    with pytest.raises(FileExistsError, match="already exists"):
        export_model(model, task, splits, str(out), "lenet5", formats=("float32",), limit=10)
    assert_unchanged(tmp_path, before)


def test_failed_quality_check_publishes_nothing(trained, tmp_path):
    model, splits, task = trained
    out = tmp_path / "exports"
    (tmp_path / "notes.txt").write_text("a user's file beside the destination")
    before = snapshot(tmp_path)
    # an impossible bound (int8 must be better than float by 5 points) forces the failure path
    with pytest.raises(ExportQualityError, match="int8 accuracy dropped"):
        export_model(model, task, splits, str(out), "lenet5", formats=("savedmodel", "int8"),
                     max_quality_drop=-0.05, limit=60, latency_runs=2)
    assert_unchanged(tmp_path, before)  # no destination, no staging, no lock left


def test_atomic_helpers_leave_nothing_on_failure(tmp_path):
    target = tmp_path / "dir"
    with pytest.raises(RuntimeError):
        with atomic_dir(str(target)) as stage:
            open(os.path.join(stage, "half"), "w").write("x")
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []
    atomic_write_bytes(str(tmp_path / "f.bin"), b"abc")
    assert (tmp_path / "f.bin").read_bytes() == b"abc" and os.listdir(tmp_path) == ["f.bin"]
    with atomic_dir(str(target)) as stage:
        open(os.path.join(stage, "ok"), "w").write("x")
    assert (target / "ok").exists()
    before = snapshot(tmp_path)
    with pytest.raises(FileExistsError):
        with atomic_dir(str(target)):
            pass
    assert_unchanged(tmp_path, before)


def test_serving_client_request_matches_bytes_signature(trained, tmp_path):
    """The REST client's b64 body, decoded as TF Serving does, feeds serving_bytes."""
    import base64
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "serving_client", os.path.join(os.path.dirname(__file__), "..", "export", "serving", "client.py"))
    client = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(client)
    model, splits, task = trained
    image = np.round(next(splits.test.as_numpy_iterator())[0])
    png = tmp_path / "x.png"
    png.write_bytes(_png_bytes(image))
    body = client.build_request([str(png)])
    assert body["signature_name"] == "serving_bytes"
    raw = base64.b64decode(body["instances"][0]["image_bytes"]["b64"])
    loaded = tf.saved_model.load(export_savedmodel(model, tmp_path / "sm", "digits", task))
    out = loaded.signatures["serving_bytes"](image_bytes=tf.constant([raw]))
    np.testing.assert_allclose(out["probabilities"].numpy(), np.asarray(model(image[None])), atol=1e-4)


def test_runner_falls_back_to_builtin_kernels_when_xnnpack_refuses(trained, monkeypatch):
    model, splits, _ = trained
    data = convert_to_tflite(model, "float32")
    x = np.stack([a for a, _ in splits.test.take(1).as_numpy_iterator()])  # batch-1 model
    reference = TFLiteRunner(data)(x)
    runner = TFLiteRunner(data)
    original = runner.interpreter.allocate_tensors

    def refuse():
        original()
        raise RuntimeError("failed to create XNNPACK runtimeNode number 3 failed to prepare.")

    monkeypatch.setattr(runner.interpreter, "allocate_tensors", refuse)
    np.testing.assert_allclose(runner(x), reference, rtol=1e-5, atol=1e-6)
    assert runner.delegate.startswith("none")


def test_batched_verification_counts_and_progress_bar():
    images = np.arange(37 * 4, dtype=np.float32).reshape(37, 2, 2, 1)
    dataset = tf.data.Dataset.from_tensor_slices((images, np.arange(37)))
    calls = []

    def predict(batch):
        calls.append(len(batch))
        return batch.sum(axis=(1, 2, 3))

    shown = io.StringIO()
    targets, preds = predict_split(predict, dataset, batch_size=8, progress="[verify] t",
                                   show_progress=True, stream=shown)
    assert calls == [8, 8, 8, 8, 5] and targets.tolist() == list(range(37))
    np.testing.assert_allclose(preds, images.sum(axis=(1, 2, 3)))
    assert shown.getvalue().endswith("\n") and "] 37/37 images" in shown.getvalue()
    calls.clear()
    shown = io.StringIO()
    targets, _ = predict_split(predict, dataset, limit=10, batch_size=4, progress="[verify] t",
                               show_progress=True, stream=shown)
    assert calls == [4, 4, 2] and len(targets) == 10 and "] 10/10 images" in shown.getvalue()
    quiet = io.StringIO()  # not a terminal: no bar unless asked
    predict_split(predict, dataset, limit=3, progress="[verify] t", stream=quiet)
    predict_split(predict, dataset, limit=3, progress="[verify] t", show_progress=False,
                  stream=quiet)
    assert quiet.getvalue() == ""
    # images of different sizes never share a batch (super-resolution test images)
    mixed = tf.data.Dataset.from_generator(
        lambda: ((np.zeros((s, s, 1), np.float32), 0) for s in (2, 2, 3, 2)),
        output_signature=(tf.TensorSpec((None, None, 1), tf.float32), tf.TensorSpec((), tf.int64)))
    calls.clear()
    _, preds = predict_split(predict, mixed, batch_size=8)
    assert calls == [2, 1, 1] and isinstance(preds, np.ndarray) and preds.shape == (4,)


def test_export_help_documents_limit_and_progress(capsys):
    from kerascv_apps.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["export", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--limit N" in text and "at most N test examples" in text and "progress bar" in text
    assert "--no-progress" in text and "--calibration-images N" in text


def _vanishing_relu6_model():
    """A LeNet-sized model whose ReLU6 layer outputs ~1e-12: its int16 output scale is too small
    for LiteRT to quantize the bound 6.0 (what an untrained MobileNetV2 at 224 does at
    block_4_depthwise)."""
    import keras

    inputs = keras.Input((32, 32, 1), name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu6", name="faint_conv",
                            kernel_initializer=keras.initializers.Constant(1e-14))(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="faint")


def test_int16x8_refused_with_layer_and_reason(trained, tmp_path):
    _, splits, task = trained
    model = _vanishing_relu6_model()
    rep = np.stack([x for x, _ in splits.train.take(8).as_numpy_iterator()])
    with pytest.raises(TFLitePrepareError, match="faint_conv.*RELU6.*no_integer_overflow"):
        convert_to_tflite(model, "int16x8", representative_data=[rep])
    report = export_model(model, task, splits, str(tmp_path / "e"), "faint",
                          formats=("float32", "int16x8"), limit=8, latency_runs=1,
                          rgb_input=False, progress=lambda *_: None)
    refused = report["formats"]["int16x8"]["refused"]
    assert "faint_conv" in refused and "vanishing activations" in refused
    assert report["formats"]["float32"]["num_images"] == 8  # the other variants go on
    assert "| int16x8 | refused: " in (tmp_path / "e" / "export_report.md").read_text()
    assert [p for p in snapshot(tmp_path) if "int16x8" in p] == []  # no file of the refused row
    check_prepares(convert_to_tflite(model, "float32"))  # a file that runs passes quietly


def test_a_model_trained_in_mixed_precision_exports_as_float32(trained, tmp_path):
    """``--precision auto`` may train in mixed_bfloat16: the export runs the same network in
    float32 with the same weights, so int8 conversion and the accuracy check work."""
    import keras

    from kerascv_apps import build_model
    from kerascv_apps.models.outputs import float32_model

    model, splits, task = trained
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        mixed = build_model("lenet5")
    finally:
        keras.config.set_dtype_policy("float32")
    mixed.set_weights(model.get_weights())
    assert any(layer.dtype_policy.name == "mixed_bfloat16" for layer in mixed.layers)
    plain = float32_model(mixed)
    assert all(layer.dtype_policy.name == "float32" for layer in plain.layers)
    x = next(iter(splits.test.batch(8)))[0]
    np.testing.assert_allclose(np.asarray(plain(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-6)
    assert float32_model(model) is model
    report = export_model(mixed, task, splits, str(tmp_path / "out"), "lenet5",
                          formats=("int8",), limit=60, latency_runs=2, rgb_input=False)
    assert report["passed"] and abs(report["formats"]["int8"]["quality_drop"]) <= 0.01
