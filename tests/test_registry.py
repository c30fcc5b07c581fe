import pytest

from kerascv_apps import build_model, list_models, register_model
from kerascv_apps.registry import UnknownModelError


def test_unknown_model_lists_known_names():
    with pytest.raises(UnknownModelError) as info:
        build_model("lenet6")
    message = str(info.value)
    assert "lenet6" in message
    for name in ("lenet5", "mlp"):
        assert name in message


def test_list_models_filters_by_task():
    classification = list_models(task="classification")
    assert {"lenet5", "mlp"} <= set(classification)
    assert set(classification) <= set(list_models())
    with pytest.raises(ValueError, match="task must be one of"):
        list_models(task="pose_estimation")


def test_register_refuses_duplicate_name_and_bad_task():
    with pytest.raises(ValueError, match="already registered"):
        register_model("lenet5", task="classification")(lambda **kw: None)
    with pytest.raises(ValueError, match="task must be one of"):
        register_model("x", task="pose_estimation")


def test_build_model_passes_kwargs():
    model = build_model("lenet5", num_classes=7, input_shape=(28, 28, 1))
    assert model.output_shape == (None, 7)
    assert model.input_shape == (None, 28, 28, 1)
