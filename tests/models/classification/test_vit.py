"""ViT: timm parameter counts, class token / position embedding, attention formula, harness."""

import numpy as np
import pytest

from kerascv_apps import build_model, list_models
from kerascv_apps.layers.vit import ClassToken, PositionEmbedding
from kerascv_apps.models.classification.vit import ViT
from tests.harness import STEP_OPTIMIZER, image_batch, run_model_test

SMALL_VIT = dict(input_shape=(32, 32, 3), num_classes=10, patch_size=8, hidden_dim=32,
                 num_layers=2, num_heads=4, mlp_dim=64)


def test_registered_variants():
    assert set(list_models(family="vit")) == {"vit_tiny", "vit_small", "vit_base"}


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="patch_size"):
        build_model("vit_tiny", input_shape=(30, 30, 3))
    resized = ViT(input_shape=(28, 28, 1), num_classes=10, patch_size=8, hidden_dim=32,
                  num_layers=2, num_heads=4, mlp_dim=64, resize_to=(32, 32))
    assert resized.get_layer("pos_embed").output.shape[1:] == (17, 32)  # 4x4 patches + class
    with pytest.raises(ValueError, match="num_heads"):
        ViT(input_shape=(32, 32, 3), patch_size=8, hidden_dim=32, num_heads=5)
    with pytest.raises(ValueError, match="input_shape"):
        build_model("vit_tiny", input_shape=(None, None, 3))


def test_vit_full_size_parameter_counts():
    # timm's vit_base_patch16_224 / vit_small / vit_tiny counts (1000 classes)
    assert build_model("vit_base").count_params() == 86_567_656
    assert build_model("vit_small").count_params() == 22_050_664
    tiny = build_model("vit_tiny", patch_size=32)
    # 7x7 patches + class token; patch embedding (32²·3+1)·192 = 590,016
    assert tiny.get_layer("pos_embed").output.shape[1:] == (50, 192)
    assert tiny.get_layer("patch_embed").count_params() == 590_016
    assert tiny.name == "vit_tiny"


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
    ours = np.asarray(attn(tokens))
    w = [v.numpy() for v in attn.weights]  # q, q bias, k, k bias, v, v bias, out, out bias
    w = [a.reshape(32, 4, 8) if i in (0, 2, 4) else a for i, a in enumerate(w)]
    w = [a.reshape(4, 8) if i in (1, 3, 5) else a for i, a in enumerate(w)]
    w[6] = w[6].reshape(4, 8, 32)
    q, k, v = (np.einsum("td,dhe->the", tokens[0], w[i]) + w[i + 1] for i in (0, 2, 4))
    scores = np.einsum("qhe,khe->hqk", q, k) / np.sqrt(32 // 4)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    heads = np.einsum("hqk,khe->qhe", probs, v)
    ref = np.einsum("qhe,hed->qd", heads, w[6]) + w[7]
    np.testing.assert_allclose(ours[0], ref, rtol=1e-4, atol=1e-5)


def test_vit_through_the_harness():
    x, y = image_batch((32, 32, 3), seed=2)
    report = run_model_test("vit_tiny", SMALL_VIT, x, y, output_shapes=[(4, 10)],
                            optimizer=STEP_OPTIMIZER)
    assert report["model"].get_layer("pos_embed").output.shape[1:] == (17, 32)
    ops = set(report["int8_ops"])
    assert "GELU" in ops and "BATCH_MATMUL" in ops and "SOFTMAX" in ops


def test_own_attention_and_token_dense_equal_keras_layers():
    """Same function as Keras' MultiHeadAttention(h, D / h) on (x, x) and Dense per token, with
    the weights copied over (so the ViT keeps the paper's MSA while avoiding broadcast matmuls)."""
    import keras
    import numpy as np

    from kerascv_apps.layers.vit import MultiHeadSelfAttention, TokenDense

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 8)).astype("float32")
    mha = keras.layers.MultiHeadAttention(2, 4)
    expected = np.asarray(mha(x, x))
    own = MultiHeadSelfAttention(2)
    own.build(x.shape)
    # both hold query, key, value, output (kernel, bias) in that order: Keras' as (D, h, d)
    own.set_weights([np.asarray(w).reshape(tuple(o.shape))
                     for w, o in zip(mha.weights, own.weights)])
    np.testing.assert_allclose(np.asarray(own(x)), expected, rtol=1e-5, atol=1e-5)
    assert own.count_params() == mha.count_params()

    dense = keras.layers.Dense(6, activation="gelu")
    token = TokenDense(6, activation="gelu")
    token.build(x.shape)
    expected = np.asarray(dense(x))
    token.set_weights(dense.get_weights())
    np.testing.assert_allclose(np.asarray(token(x)), expected, rtol=1e-5, atol=1e-6)
