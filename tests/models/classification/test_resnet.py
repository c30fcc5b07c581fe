"""ResNet / Wide ResNet: parameter counts, shortcut options, dilated trunk, shared harness."""

import keras
import numpy as np
import pytest

from kerascv_apps import build_model, list_models
from kerascv_apps.layers.shortcuts import ZeroPadShortcut
from kerascv_apps.models.classification.resnet import ResNet
from tests.harness import STEP_OPTIMIZER, check_mixed_precision, image_batch, run_model_test

TINY = dict(stackwise_num_filters=(8, 8, 16, 16), stem_filters=8)


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# Full-size (224x224, 1000 classes) counts: keras.applications for 50/101/152 (total, incl. BN
# moving statistics and conv biases); the paper/torchvision layout for 18/34/wide (trainable).
TOTAL_COUNTS = {"resnet50": 25_636_712, "resnet101": 44_707_176, "resnet152": 60_419_944}
TRAINABLE_COUNTS = {"resnet18": 11_689_512, "resnet34": 21_797_672,
                    "wide_resnet50_2": 68_883_240}


@pytest.mark.parametrize("name", sorted(set(list_models(family="resnet"))))
def test_every_variant_builds_by_name_with_its_parameter_count(name):
    model = build_model(name)
    assert model.name == name
    assert tuple(model.output.shape) == (None, 1000)
    last = [layer.name for layer in model.layers if layer.name.endswith("_out")][-1]
    assert last in ("conv5_block2_out", "conv5_block3_out")
    assert model.get_layer(last).output.shape[1:3] == (7, 7)
    if name in TOTAL_COUNTS:
        assert model.count_params() == TOTAL_COUNTS[name]
    if name in TRAINABLE_COUNTS:
        assert _trainable(model) == TRAINABLE_COUNTS[name]


def test_resnet50_matches_keras_applications_layout():
    ours = build_model("resnet50", input_shape=(64, 64, 3), include_top=False, pooling=None)
    ref = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(64, 64, 3))
    ref_shapes = {layer.name: [tuple(w.shape) for w in layer.weights] for layer in ref.layers}
    our_shapes = {layer.name: [tuple(w.shape) for w in layer.weights] for layer in ours.layers}
    weighted = {k: v for k, v in ref_shapes.items() if v}
    assert {k: our_shapes.get(k) for k in weighted} == weighted
    assert ours.output.shape[1:] == ref.output.shape[1:] == (2, 2, 2048)


def test_shortcut_options_order_parameters_a_lt_b_lt_c():
    counts = {s: build_model("resnet34", input_shape=(32, 32, 3), shortcut=s).count_params()
              for s in "ABC"}
    assert counts["A"] < counts["B"] < counts["C"]
    # B adds three 1x1 projections (conv without bias + BN with 4 statistics per channel).
    projections = sum(c_in * c_out + 4 * c_out for c_in, c_out in ((64, 128), (128, 256),
                                                                    (256, 512)))
    assert counts["B"] - counts["A"] == projections == 175_616


def test_zero_pad_shortcut_subsamples_and_appends_zero_channels():
    x = np.arange(2 * 5 * 5 * 3, dtype="float32").reshape(2, 5, 5, 3)
    y = np.asarray(ZeroPadShortcut(7, strides=2)(x))
    assert y.shape == (2, 3, 3, 7)
    np.testing.assert_array_equal(y[..., :3], x[:, ::2, ::2, :])
    assert not y[..., 3:].any()
    assert ZeroPadShortcut(7, 2).compute_output_shape((None, 5, None, 3)) == (None, 3, None, 7)
    with pytest.raises(ValueError, match="channels"):
        ZeroPadShortcut(2)(x)


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="shortcut"):
        build_model("resnet18", shortcut="D")
    with pytest.raises(ValueError, match="output_stride"):
        build_model("resnet50", output_stride=12)
    with pytest.raises(ValueError, match="block_type"):
        ResNet(block_type="dense")


@pytest.mark.parametrize("input_shape", [(64, 64, 3), (None, None, 3)])
def test_dilated_resnet50_output_stride_8(input_shape):
    model = build_model("resnet50", input_shape=input_shape, include_top=False, pooling=None,
                        output_stride=8, **TINY)
    assert model.get_layer("conv4_block6_2_conv").dilation_rate == (2, 2)
    assert model.get_layer("conv5_block3_2_conv").dilation_rate == (4, 4)
    taps = keras.Model(model.input, [model.get_layer(n).output for n in
                                     ("conv3_block4_out", "conv4_block6_out", "conv5_block3_out")])
    sizes = [(64, 64), (48, 80)] if input_shape[0] is None else [(64, 64)]
    for h, w in sizes:
        outs = taps(np.zeros((1, h, w, 3), "float32"))
        assert [tuple(o.shape[1:3]) for o in outs] == [(h // 8, w // 8)] * 3
    assert model.output.shape[-1] == 64  # 4 x 16


def test_output_stride_16_dilates_only_the_last_stage():
    model = build_model("resnet18", input_shape=(64, 64, 3), include_top=False, pooling=None,
                        output_stride=16, **TINY)
    assert model.output.shape[1:3] == (4, 4)
    assert model.get_layer("conv4_block1_1_conv").strides == (2, 2)
    assert model.get_layer("conv5_block1_1_conv").strides == (1, 1)
    assert model.get_layer("conv5_block2_2_conv").dilation_rate == (2, 2)


def test_harness_resnet18_option_a():
    x, y = image_batch((32, 32, 3), classes=3)
    report = run_model_test("resnet18", dict(input_shape=(32, 32, 3), num_classes=3, shortcut="A",
                                             **TINY), x, y, output_shapes=[(4, 3)],
                            mixed_precision=False, optimizer=STEP_OPTIMIZER)
    assert any(isinstance(layer, ZeroPadShortcut) for layer in report["model"].layers)


def test_harness_wide_bottleneck_option_c_dilated():
    x, y = image_batch((40, 40, 3), classes=3)
    # Any-size input through TFLite too (what PSPNet's dilated backbone needs).
    report = run_model_test("wide_resnet50_2", dict(
        input_shape=(None, None, 3), num_classes=3, shortcut="C", output_stride=16, dropout=0.1,
        stackwise_num_blocks=(1, 1, 1, 1), **TINY), x, y, output_shapes=[(4, 3)],
        tflite_input_shape=(1, None, None, 3), mixed_precision=False,
        optimizer=STEP_OPTIMIZER)
    assert report["model"].get_layer("conv2_block1_2_conv").filters == 16  # 2 x 8 inner


def test_mixed_precision_resnet50():
    x, _ = image_batch((32, 32, 3), n=2)
    model = check_mixed_precision(
        lambda: build_model("resnet50", input_shape=(32, 32, 3), num_classes=3, **TINY), x)
    assert model.get_layer("conv2_block1_1_conv").compute_dtype == "float16"
