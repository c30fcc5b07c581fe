"""tfmot through the tf_keras twin: parity first, then QAT / pruning / clustering."""

import numpy as np
import pytest

from kerascv_apps import build_model
from kerascv_apps.export.tflite import TFLiteRunner
from kerascv_apps.optimize.tfmot_ops import optimize
from kerascv_apps.optimize.twin import TwinError, check_parity, tf_keras_twin
from tests.tree_snapshot import assert_unchanged, snapshot


@pytest.mark.parametrize("name,kwargs", [
    ("mobilenet_v2", dict(input_shape=(32, 32, 3), num_classes=5)),
    ("resnet18", dict(input_shape=(32, 32, 3), num_classes=5)),
    ("unet_same", dict(input_shape=(32, 32, 3), num_classes=3, base_filters=4, depth=2)),
])
def test_twin_has_the_same_outputs(name, kwargs):
    model = build_model(name, **kwargs)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    twin = tf_keras_twin(model)
    assert type(twin).__module__.startswith("tf_keras")
    assert len(twin.weights) == len(model.weights)
    assert check_parity(model, twin, x) <= 1e-4


def test_twin_refuses_layers_without_tf_keras_class():
    model = build_model("segnet", input_shape=(32, 32, 3), num_classes=3)
    with pytest.raises(TwinError, match="no tf_keras equivalent"):
        tf_keras_twin(model)


@pytest.fixture(scope="module")
def lenet(trained_lenet):
    model, splits, _ = trained_lenet
    images = np.stack([x for x, _ in splits.test.as_numpy_iterator()])
    labels = np.stack([y for _, y in splits.test.as_numpy_iterator()])
    acc = float(np.mean(model.predict(images, verbose=0).argmax(-1) == labels))
    return model, splits, images, labels, acc


def _calibration(splits, n=64):
    return np.stack([x for x, _ in splits.train.take(n).as_numpy_iterator()])


def test_qat_ranges_start_from_calibration_images(lenet):
    """tfmot starts every activation range at [-6, 6]; calibrate_ranges sets them to the
    min/max the float activations reach on the calibration images (what PTQ uses)."""
    import keras

    from kerascv_apps.optimize.qat_ranges import calibrate_ranges
    from kerascv_apps.optimize.tfmot_ops import _quantize

    model, splits = lenet[:2]
    qat, _ = _quantize(tf_keras_twin(model))
    ranges = lambda: {w.name.split(":")[0]: float(np.asarray(w)) for w in qat.weights  # noqa: E731
                      if w.name.endswith(("output_min:0", "output_max:0", "activation_max:0"))}
    assert set(ranges().values()) <= {-6.0, 6.0}
    rep = _calibration(splits)
    assert calibrate_ranges(qat, rep) == 7
    after = ranges()
    pooled = np.asarray(keras.Model(model.input, model.get_layer("s4").output)(rep))
    logits = np.asarray(keras.Model(model.input, model.get_layer("predictions_dense").output)(rep))
    # weights are fake-quantized during calibration (as in QAT), so the ranges are within a
    # few percent of the float model's
    assert after["quant_s4/output_min"] == pytest.approx(min(pooled.min(), 0), rel=0.05)
    assert after["quant_s4/output_max"] == pytest.approx(max(pooled.max(), 0), rel=0.05)
    assert after["quant_predictions_dense/post_activation_max"] == pytest.approx(
        logits.max(), rel=0.05)


@pytest.fixture(scope="module")
def undertrained_lenet():
    """LeNet-5 after 10 SGD steps (test accuracy ~0.16): far enough from its optimum that a
    QAT which trains shows it in the int8 file's accuracy, which a QAT that does nothing
    cannot (the trained LeNet-5's PTQ file is already as good as the float model)."""
    import keras

    from kerascv_apps.data import load_dataset

    keras.utils.set_random_seed(0)
    splits = load_dataset("digits")
    model = build_model("lenet5")
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    model.fit(splits.train.batch(32).take(10), epochs=1, verbose=0)
    images = np.stack([x for x, _ in splits.test.as_numpy_iterator()])
    labels = np.stack([y for _, y in splits.test.as_numpy_iterator()])
    return model, splits, images, labels


def _quantizer_ranges(qat_model):
    return {w.name.split(":")[0]: np.asarray(w).copy() for w in qat_model.weights
            if w.name.endswith(("_min:0", "_max:0"))}


def test_qat_trains_weights_and_ranges_and_beats_untrained_fake_quant(undertrained_lenet):
    """The same calibrated fake-quant model, converted untrained (``epochs=0``: the baseline)
    and after one short QAT epoch: QAT must move the float weights, its kernel ranges must be
    the trained kernels' own, its activation ranges must move from the calibration values,
    and the int8 file must be far more accurate than the baseline's."""
    model, splits, images, labels = undertrained_lenet
    float_acc = float(np.mean(model.predict(images, verbose=0).argmax(-1) == labels))
    common = dict(loss="sparse_categorical_crossentropy", parity_images=images[:8],
                  learning_rate=1e-3, representative_images=_calibration(splits))
    base_data, base = optimize(model, "qat", None, epochs=0, **common)
    data, info = optimize(model, "qat", splits.train.shuffle(2048, seed=0).batch(32).take(20),
                          epochs=1, **common)
    kernels = {l.name: np.asarray(l.kernel) for l in model.layers if hasattr(l, "kernel")}
    base_kernels = {w.name.split("/")[0]: np.asarray(w) for w in base["model"].weights
                    if w.name.endswith("/kernel:0")}
    trained = {w.name.split("/")[0]: np.asarray(w) for w in info["model"].weights
               if w.name.endswith("/kernel:0")}
    assert set(trained) == set(kernels) == {"c1", "c3", "c5", "f6", "predictions_dense"}
    for name, kernel in kernels.items():
        np.testing.assert_array_equal(base_kernels[name], kernel)  # the baseline is untrained
        moved = float(np.max(np.abs(trained[name] - kernel)))
        assert moved > 5e-3, (name, moved)  # five Adam steps of lr 1e-3 (20 were taken)
    # weight quantizers: symmetric per-channel (conv) / per-tensor (dense) range of the
    # kernel the last training step saw (one Adam step, at most ~lr per weight, before the
    # final kernel), away from the untrained kernel's range the baseline keeps
    ranges, start = _quantizer_ranges(info["model"]), _quantizer_ranges(base["model"])
    for name, kernel in trained.items():
        hi, lo = f"quant_{name}/kernel_max", f"quant_{name}/kernel_min"
        per_channel = ranges[hi].size > 1  # Conv2D per output channel, Dense per tensor
        assert per_channel == (name in ("c1", "c3")), name
        axes = tuple(range(kernel.ndim - 1)) if per_channel else None
        for seen, final in ((ranges, kernel), (start, kernels[name])):
            bound = np.ravel(np.max(np.abs(final), axis=axes))
            np.testing.assert_allclose(seen[hi].ravel(), bound, atol=1.5e-3, err_msg=name)
            np.testing.assert_array_equal(seen[lo], -seen[hi])
        assert float(np.max(np.abs(ranges[hi] - start[hi]))) > 3e-3, name
    # activation ranges: the calibrated start, moved by the training steps' moving averages
    activation = [k for k in start if "activation" in k or "output" in k]
    assert len(activation) == 14, activation
    shift = {k: float(np.max(np.abs(ranges[k] - start[k]))) for k in activation}
    assert max(shift.values()) > 0.01, shift  # 20 steps of a 0.999 moving average: ~2%
    assert sum(v > 1e-4 for v in shift.values()) >= 10, shift
    base_acc = float(np.mean(TFLiteRunner(base_data).predict(images).argmax(-1) == labels))
    acc = float(np.mean(TFLiteRunner(data).predict(images).argmax(-1) == labels))
    print(f"under-trained LeNet-5: float {float_acc:.4f}, untrained fake-quant int8 "
          f"{base_acc:.4f}, QAT int8 {acc:.4f}; largest activation range shift "
          f"{max(shift.values()):.4f}")
    assert acc >= base_acc + 0.3 and acc >= float_acc + 0.3, (acc, base_acc, float_acc)


@pytest.fixture(scope="module")
def ptq_accuracy(lenet):
    from kerascv_apps.export.tflite import convert_to_tflite

    model, splits, images, labels, _ = lenet
    data = convert_to_tflite(model, "int8", [_calibration(splits)], num_calibration_batches=64)
    return float(np.mean(TFLiteRunner(data).predict(images).argmax(-1) == labels))


@pytest.mark.parametrize("kind", ["qat", "prune", "cluster"])
def test_optimize_lenet(lenet, ptq_accuracy, kind):
    model, splits, images, labels, keras_acc = lenet
    data, info = optimize(model, kind, splits.train.batch(32).take(6),
                          "sparse_categorical_crossentropy", images[:8], epochs=1,
                          representative_images=_calibration(splits))
    assert info["twin_max_abs_diff"] <= 1e-4
    runner = TFLiteRunner(data)
    acc = float(np.mean(runner.predict(images).argmax(-1) == labels))
    assert acc >= keras_acc - 0.05, (kind, acc, keras_acc)
    if kind == "qat":
        # same calibration images as post-training int8: QAT starts from its ranges
        assert acc >= ptq_accuracy - 0.01, (acc, ptq_accuracy)
        assert runner.input_details["dtype"] == np.uint8
        assert runner.output_details[0]["dtype"] == np.uint8
        assert info["not_quantized"] == ["rescale (Rescaling)"]
        assert info["calibrated_ranges"] == 7
    elif kind == "prune":
        assert info["sparsity"] == pytest.approx(0.5, abs=0.02)
    else:
        assert info["unique_kernel_values_max"] <= 16


def test_qat_file_takes_raw_pixels(lenet):
    """Calibration images darker than 255 give the converter's uint8 input a scale below 1;
    the QAT file, like the exporter's int8 files, still takes raw pixels (scale 1, zero 0),
    which is what MediaPipe writes into a uint8 input."""
    model, splits, images = lenet[:3]
    data, _ = optimize(model, "qat", splits.train.batch(32).take(1),
                       "sparse_categorical_crossentropy", images[:8], epochs=1,
                       representative_images=0.8 * _calibration(splits))
    assert TFLiteRunner(data).input_details["quantization"] == (1.0, 0)


def test_optimize_cli(lenet, tmp_path, capsys):
    import json

    from kerascv_apps.cli import main
    from kerascv_apps.export.metadata import read_metadata

    model = lenet[0]
    path = str(tmp_path / "lenet5.keras")
    model.save(path)
    common = ["optimize", "--model-path", path, "--model-name", "lenet5", "--dataset", "digits",
              "--limit", "60", "--epochs", "1"]
    out = tmp_path / "pruned.tflite"
    assert main(common + ["--out", str(out), "--prune", "0.5"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["sparsity"] == pytest.approx(0.5, abs=0.02) and info["metric"] == "accuracy"
    assert info["value"] >= info["keras_value"] - 0.05
    assert read_metadata(out.read_bytes())["contract"]["mode"] == "prune"
    before = snapshot(tmp_path)
    assert main(common + ["--out", str(tmp_path / "bad.tflite"), "--prune", "1.5"]) == 2
    assert "sparsity must be in (0, 1)" in capsys.readouterr().err
    assert_unchanged(tmp_path, before)


def test_qat_folds_batchnorm_into_the_convolutions():
    """Conv+BN(+ReLU6) is annotated as a whole: no layer but Rescaling stays float, and the
    QAT file has BN folded into the convolutions (no MUL/ADD ops: this MobileNetV2 has no
    residual add), as post-training int8 has."""
    from kerascv_apps.export.tflite import builtin_op_names

    model = build_model("mobilenet_v2", input_shape=(16, 16, 3), num_classes=5,
                        stackwise_expansion_ratios=(1, 6), stackwise_num_filters=(16, 24),
                        stackwise_num_blocks=(1, 1), stackwise_strides=(1, 2), last_filters=32)
    import tensorflow as tf

    rep = np.random.default_rng(0).uniform(0, 255, (8, 16, 16, 3)).astype("float32")
    labels = np.arange(8) % 5
    data, info = optimize(model, "qat", tf.data.Dataset.from_tensor_slices((rep, labels)).batch(4),
                          "sparse_categorical_crossentropy", rep[:2], epochs=1,
                          learning_rate=1e-2, representative_images=rep)
    assert info["not_quantized"] == ["rescale (Rescaling)"]
    # the two QAT steps trained the folded layers (kernels of the QAT model, BN included)
    trained = {w.name.split(":")[0]: np.asarray(w) for w in info["model"].weights}
    checked = 0
    for layer in model.layers:
        kind = layer.__class__.__name__
        if kind in ("Conv2D", "DepthwiseConv2D", "BatchNormalization"):
            before = np.asarray(layer.gamma if kind == "BatchNormalization" else layer.kernel)
            var = {"Conv2D": "kernel", "DepthwiseConv2D": "depthwise_kernel"}.get(kind, "gamma")
            assert np.max(np.abs(trained[f"{layer.name}/{var}"] - before)) > 1e-3, layer.name
            checked += 1
    assert checked >= 9, checked
    ops = builtin_op_names(data)
    assert "CONV_2D" in ops and "DEPTHWISE_CONV_2D" in ops
    assert not {"MUL", "ADD"} & set(ops), ops
    assert TFLiteRunner(data).input_details["dtype"] == np.uint8
