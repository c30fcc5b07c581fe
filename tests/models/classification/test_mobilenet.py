"""MobileNet v1 / v2: keras.applications parameter counts, residual structure, harness."""

import keras
import pytest

from kerascv_apps import build_model, list_models
from kerascv_apps.models.classification.mobilenet import MobileNetV2
from tests.harness import STEP_OPTIMIZER, image_batch, run_model_test

# keras.applications' counts at 224x224 and 1000 classes (alpha 1.0).
COUNTS = {"mobilenet_v1": 4_253_864, "mobilenet_v2": 3_538_984}
# Few-layer versions (short stage tables, small widths) keep the harness cheap while still
# covering strided/non-strided depthwise blocks and residual adds.
SMALL = {
    "mobilenet_v1": dict(alpha=0.25, stackwise_num_filters=(64, 128, 128, 256),
                         stackwise_strides=(1, 2, 1, 2)),
    "mobilenet_v2": dict(alpha=0.35, stackwise_expansion_ratios=(1, 6, 6),
                         stackwise_num_filters=(16, 24, 32), stackwise_num_blocks=(1, 2, 1),
                         stackwise_strides=(1, 2, 2), last_filters=64),
}


@pytest.mark.parametrize("name", list_models(family="mobilenet"))
def test_parameter_counts_match_keras_applications(name):
    model = build_model(name)
    if name in COUNTS:
        assert model.count_params() == COUNTS[name]
    alpha = 0.5 if name.endswith("_050") else 1.0
    factory = keras.applications.MobileNet if "v1" in name else keras.applications.MobileNetV2
    assert model.count_params() == factory(weights=None, alpha=alpha).count_params()


def test_mobilenet_v2_residual_structure():
    model = build_model("mobilenet_v2", input_shape=(64, 64, 3), include_top=False, pooling=None)
    adds = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Add)]
    assert len(adds) == 10  # stride-1 blocks with equal in/out channels
    assert model.output.shape[1:] == (2, 2, 1280)
    assert build_model("mobilenet_v2", alpha=1.4).get_layer("Conv_1").filters == 1792



def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="alpha"):
        build_model("mobilenet_v1", alpha=0)
    with pytest.raises(ValueError, match="stackwise"):
        MobileNetV2(stackwise_num_blocks=(1, 2))


@pytest.mark.parametrize("name", sorted(SMALL))
def test_harness(name):
    x, y = image_batch((32, 32, 3), classes=3)
    report = run_model_test(name, dict(input_shape=(32, 32, 3), num_classes=3, **SMALL[name]),
                            x, y, output_shapes=[(4, 3)], mixed_precision=name == "mobilenet_v2",
                            optimizer=STEP_OPTIMIZER)
    assert any(isinstance(layer, keras.layers.DepthwiseConv2D)
               for layer in report["model"].layers)
    if name == "mobilenet_v2":
        assert report["mixed"].get_layer("Conv1").compute_dtype == "float16"
