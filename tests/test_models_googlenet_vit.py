"""GoogLeNet (auxiliary classifiers, inference model) and ViT: counts, formulas, harness."""

import numpy as np
import pytest

from harness import check_mixed_precision, check_model
from kerascv_apps import build_model, list_models
from kerascv_apps.layers.vit import ClassToken, PositionEmbedding
from kerascv_apps.models.classification import googlenet as gnet
from kerascv_apps.models.classification.vit import ViT
from kerascv_apps.models.outputs import inference_model, output_loss_weights

# A GoogLeNet small enough for the harness: Table 1 filters divided by 8 (at least 4) and
# four of the nine blocks (one or two per stage; the auxiliary heads stay on 4a and 4d).
_KEEP = ("inception3a", "inception4a", "inception4d", "inception5b")
SMALL_STAGES = tuple(tuple((name, tuple(max(4, f // 8) for f in filters))
                           for name, filters in stage if name in _KEEP)
                     for stage in gnet.INCEPTION_V1_STAGES)
SMALL_GOOGLENET = dict(input_shape=(64, 64, 3), num_classes=10, stem_filters=(8, 8, 24),
                       stackwise_inception_filters=SMALL_STAGES, aux_conv_filters=8,
                       aux_fc_units=16)
SMALL_VIT = dict(input_shape=(32, 32, 3), num_classes=10, patch_size=8, hidden_dim=32,
                 num_layers=2, num_heads=4, mlp_dim=64)


def _batch(shape, n=4, seed=0, classes=10):
    rng = np.random.default_rng(seed)
    return (rng.uniform(0, 255, (n,) + tuple(shape)).astype("float32"),
            rng.integers(0, classes, n).astype("int32"))


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


def test_registered_variants():
    assert set(list_models(family="googlenet")) == {"googlenet", "googlenet_bn"}
    assert set(list_models(family="vit")) == {"vit_tiny", "vit_small", "vit_base"}


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
    x, _ = _batch((64, 64, 3))
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
    x, y = _batch((64, 64, 3), n=6, seed=3)
    ce = __import__("keras").losses.SparseCategoricalCrossentropy(from_logits=True)
    train.compile(loss=[ce, ce, ce], loss_weights=list(weights.values()))
    total = train.evaluate(x, [y, y, y], batch_size=6, verbose=0, return_dict=True)["loss"]
    main, aux1, aux2 = (float(ce(y, o)) for o in train.predict(x, verbose=0))
    assert abs(aux1 - main) > 1e-4  # the heads differ, so the weighting is visible
    assert total == pytest.approx(main + 0.3 * aux1 + 0.3 * aux2, rel=1e-5)


def test_googlenet_training_model_through_the_harness():
    x, y = _batch((64, 64, 3), seed=1)
    train = build_model("googlenet", aux_logits=True, **SMALL_GOOGLENET)
    report = check_model(train, x, [y, y, y], ["sparse_categorical_crossentropy"] * 3,
                         loss_weights=list(output_loss_weights(train).values()), tflite=False)
    assert report["output_shapes"] == [(4, 10)] * 3
    # the deployable model: one output, int8 TFLite with builtin ops (LRN as EXP/LOG)
    report = check_model(inference_model(train), x, y, "sparse_categorical_crossentropy",
                         train_step=False)
    assert {"EXP", "LOG", "CONCATENATION"} <= set(report["int8_ops"])
    mixed = check_mixed_precision(
        lambda: build_model("googlenet_bn", aux_logits=True, **SMALL_GOOGLENET), x)
    assert len(mixed.outputs) == 3


def test_vit_full_size_parameter_counts():
    # timm's vit_base_patch16_224 / vit_small / vit_tiny counts (1000 classes)
    assert build_model("vit_base").count_params() == 86_567_656
    assert build_model("vit_small").count_params() == 22_050_664
    tiny = build_model("vit_tiny", patch_size=32)
    # 7x7 patches + class token; patch embedding (32²·3+1)·192 = 590,016
    assert tiny.get_layer("pos_embed").output.shape[1:] == (50, 192)
    assert tiny.get_layer("patch_embed").count_params() == 590_016
    assert tiny.name == "vit_ti32"


def test_class_token_and_position_embedding():
    x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    token = ClassToken(initializer="ones")
    y = np.asarray(token(x))
    assert y.shape == (2, 6, 8)
    np.testing.assert_array_equal(y[:, 0], np.ones((2, 8)))
    np.testing.assert_array_equal(y[:, 1:], x)
    pos = PositionEmbedding()
    z = np.asarray(pos(y))
    np.testing.assert_allclose(z - y, np.broadcast_to(pos.embedding.numpy(), z.shape), atol=1e-6)
    assert 0.005 < pos.embedding.numpy().std() < 0.03  # truncated normal, stddev 0.02
    assert PositionEmbedding.from_config(pos.get_config()).get_config() == pos.get_config()
    with pytest.raises(ValueError, match="input_shape"):
        PositionEmbedding()(np.zeros((1, 3, 4, 5), "float32"))


def test_attention_is_softmax_qk_over_sqrt_d_times_v():
    model = ViT(**SMALL_VIT)
    attn = model.get_layer("block0_attn")
    tokens = np.random.default_rng(1).normal(size=(1, 17, 32)).astype("float32")
    ours = np.asarray(attn(tokens, tokens))
    w = [v.numpy() for v in attn.weights]  # q, q bias, k, k bias, v, v bias, out, out bias
    q, k, v = (np.einsum("td,dhe->the", tokens[0], w[i]) + w[i + 1] for i in (0, 2, 4))
    scores = np.einsum("qhe,khe->hqk", q, k) / np.sqrt(32 // 4)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    heads = np.einsum("hqk,khe->qhe", probs, v)
    ref = np.einsum("qhe,hed->qd", heads, w[6]) + w[7]
    np.testing.assert_allclose(ours[0], ref, rtol=1e-4, atol=1e-5)


def test_vit_through_the_harness():
    x, y = _batch((32, 32, 3), seed=2)
    model = ViT(**SMALL_VIT)
    assert model.get_layer("pos_embed").output.shape[1:] == (17, 32)
    report = check_model(model, x, y, "sparse_categorical_crossentropy")
    ops = set(report["int8_ops"])
    assert "GELU" in ops and "BATCH_MATMUL" in ops and "SOFTMAX" in ops
    check_mixed_precision(lambda: ViT(**SMALL_VIT), x)


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="patch_size"):
        build_model("vit_tiny", input_shape=(30, 30, 3))
    resized = ViT(**{**SMALL_VIT, "input_shape": (28, 28, 1), "resize_to": (32, 32)})
    assert resized.get_layer("pos_embed").output.shape[1:] == (17, 32)  # 4x4 patches + class
    with pytest.raises(ValueError, match="num_heads"):
        ViT(**{**SMALL_VIT, "num_heads": 5})
    with pytest.raises(ValueError, match="input_shape"):
        build_model("vit_tiny", input_shape=(None, None, 3))
    with pytest.raises(ValueError, match="aux_after"):
        build_model("googlenet", aux_logits=True, aux_after=("inception9z",))
    with pytest.raises(ValueError, match="aux_logits"):
        build_model("googlenet", aux_logits=True, include_top=False)
