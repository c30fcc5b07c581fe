"""GoogLeNet: Table 1 parameter count, auxiliary classifiers (dropped for inference, loss
weight 0.3 by output name), shared harness."""

import keras
import numpy as np
import pytest

from kerascv_apps import build_model, list_models
from kerascv_apps.models.classification import googlenet as gnet
from kerascv_apps.models.outputs import inference_model, output_loss_weights
from tests.harness import (STEP_OPTIMIZER, check_mixed_precision, check_model, image_batch,
                           run_model_test)


def test_registered_variants():
    assert set(list_models(family="googlenet")) == {"googlenet", "googlenet_bn"}


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="aux_after"):
        build_model("googlenet", aux_logits=True, aux_after=("inception9z",))
    with pytest.raises(ValueError, match="aux_logits"):
        build_model("googlenet", aux_logits=True, include_top=False)


# A GoogLeNet small enough for the harness: Table 1 filters divided by 8 (at least 4) and
# four of the nine blocks (one or two per stage; the auxiliary heads stay on 4a and 4d).
_KEEP = ("inception3a", "inception4a", "inception4d", "inception5b")
SMALL_STAGES = tuple(tuple((name, tuple(max(4, f // 8) for f in filters))
                           for name, filters in stage if name in _KEEP)
                     for stage in gnet.INCEPTION_V1_STAGES)
SMALL_GOOGLENET = dict(input_shape=(64, 64, 3), num_classes=10, stem_filters=(8, 8, 24),
                       stackwise_inception_filters=SMALL_STAGES, aux_conv_filters=8,
                       aux_fc_units=16)


def _table1_param_count(num_classes=1000, aux=False):
    """GoogLeNet's parameters from Table 1 with the (k²·m+1)·n formula, written independently."""
    conv = lambda k, m, n: (k * k * m + 1) * n  # noqa: E731
    total = conv(7, 3, 64) + conv(1, 64, 64) + conv(3, 64, 192)
    channels, aux_inputs = 192, []
    for stage in gnet.INCEPTION_V1_STAGES:
        for name, (c1, c3r, c3, c5r, c5, pp) in stage:
            m = channels
            total += conv(1, m, c1) + conv(1, m, c3r) + conv(3, c3r, c3) + conv(1, m, c5r) \
                + conv(5, c5r, c5) + conv(1, m, pp)
            channels = c1 + c3 + c5 + pp
            if name in gnet.AUX_AFTER:
                aux_inputs.append(channels)
    total += (channels + 1) * num_classes
    if aux:  # 1x1 conv 128, FC 4·4·128 -> 1024, FC 1024 -> classes
        total += sum(conv(1, m, 128) + (16 * 128 + 1) * 1024 + (1024 + 1) * num_classes
                     for m in aux_inputs)
    return total


def test_googlenet_full_size_matches_table_1():
    model = build_model("googlenet")
    assert model.count_params() == _table1_param_count() == 6_998_552
    # 224 -> 112 -> 56 -> 28 (stage 3) -> 14 (stage 4) -> 7 (stage 5), 1024 channels
    assert model.get_layer("inception3b_concat").output.shape[1:] == (28, 28, 480)
    assert model.get_layer("inception4e_concat").output.shape[1:] == (14, 14, 832)
    assert model.get_layer("inception5b_concat").output.shape[1:] == (7, 7, 1024)
    train = build_model("googlenet", aux_logits=True)
    assert train.count_params() == _table1_param_count(aux=True)
    assert train.output_names == ["predictions", "aux1", "aux2"]
    assert train.get_layer("aux1_pool").output.shape[1:3] == (4, 4)  # 5x5/3 pooling on 14x14
    assert build_model("googlenet_bn").name == "googlenet_bn"


def test_inference_model_shares_weights_and_drops_the_auxiliary_heads():
    train = build_model("googlenet", aux_logits=True, **SMALL_GOOGLENET)
    infer = inference_model(train)
    assert len(infer.outputs) == 1 and infer.output_names == ["predictions"]
    aux_params = sum(layer.count_params() for layer in train.layers if layer.name.startswith("aux"))
    assert aux_params > 0 and infer.count_params() == train.count_params() - aux_params
    x, _ = image_batch((64, 64, 3))
    np.testing.assert_allclose(np.asarray(infer(x)), np.asarray(train(x)[0]), rtol=1e-6)
    # same variables: changing one in the training model changes the inference model
    kernel = train.get_layer("predictions_dense").kernel
    kernel.assign(kernel.numpy() * 0)
    out = np.asarray(infer(x))
    np.testing.assert_allclose(out, np.full_like(out, 0.1), rtol=1e-5)


def test_auxiliary_losses_are_weighted_by_0_3():
    train = build_model("googlenet", aux_logits=True, classifier_activation=None, dropout=0.0,
                        **SMALL_GOOGLENET)
    weights = output_loss_weights(train)
    assert weights == {"predictions": 1.0, "aux1": 0.3, "aux2": 0.3}
    assert train.output_names == ["predictions", "aux1", "aux2"]
    x, y = image_batch((64, 64, 3), n=6, seed=3)
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    train.compile(loss=[ce, ce, ce], loss_weights=list(weights.values()))
    total = train.evaluate(x, [y, y, y], batch_size=6, verbose=0, return_dict=True)["loss"]
    main, aux1, aux2 = (float(ce(y, o)) for o in train.predict(x, verbose=0))
    assert abs(aux1 - main) > 1e-4  # the heads differ, so the weighting is visible
    assert total == pytest.approx(main + 0.3 * aux1 + 0.3 * aux2, rel=1e-5)


def test_googlenet_training_model_through_the_harness():
    x, y = image_batch((64, 64, 3), seed=1)
    report = run_model_test("googlenet", dict(aux_logits=True, **SMALL_GOOGLENET), x, [y, y, y],
                            ["sparse_categorical_crossentropy"] * 3, output_shapes=[(4, 10)] * 3,
                            loss_weights=[1.0, 0.3, 0.3], tflite=False, mixed_precision=False,
                            optimizer=STEP_OPTIMIZER)
    train = report["model"]
    # the deployable model: one output, int8 TFLite with builtin ops (LRN as EXP/LOG)
    report = check_model(inference_model(train), x, y, "sparse_categorical_crossentropy",
                         train_step=False)
    assert {"EXP", "LOG", "CONCATENATION"} <= set(report["int8_ops"])
    mixed = check_mixed_precision(
        lambda: build_model("googlenet_bn", aux_logits=True, **SMALL_GOOGLENET), x)
    assert len(mixed.outputs) == 3
