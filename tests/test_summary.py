"""model_summary: receptive fields, parameter formulas and FLOPs checked against hand figures."""

import keras
import numpy as np
import pytest
from keras import layers

from kerascv_apps import build_model
from kerascv_apps.summary import format_summary, model_summary


def _stack(input_shape, *layer_list):
    inputs = keras.Input(input_shape, name="x")
    x = inputs
    for layer in layer_list:
        x = layer(x)
    return keras.Model(inputs, x)


def test_two_3x3_convs_see_5x5_and_pooling_doubles_the_jump():
    model = _stack((32, 32, 1), layers.Conv2D(1, 3, name="a"), layers.Conv2D(1, 3, name="b"),
                   layers.MaxPooling2D(2, name="p"), layers.Conv2D(1, 3, name="c"),
                   layers.Conv2D(1, 3, dilation_rate=2, name="d"))
    s = model_summary(model)
    assert [s.row(n).receptive_field for n in "abpcd"] == [(3, 3), (5, 5), (6, 6), (10, 10), (18, 18)]
    assert s.row("p").jump == (2, 2)
    # the deck's argument: 2 x (3²+1) = 20 parameters against 5²+1 = 26 for one 5x5
    assert s.row("a").params + s.row("b").params == 20
    assert s.receptive_field == (18, 18)


def test_lenet5_rows():
    s = model_summary(build_model("lenet5"))
    fields = {r.name: r.receptive_field for r in s}
    assert (fields["c1"], fields["s2"], fields["c3"], fields["s4"]) == ((5, 5), (6, 6), (14, 14), (16, 16))
    assert fields["flatten"] is None and fields["c5"] is None  # global from flatten on
    assert s.row("c1").formula == "(5²·1+1)·6 = 156"
    assert s.row("c3").formula == "(5²·6+1)·16 = 2,416"
    assert s.row("c5").formula == "(400+1)·120 = 48,120"
    assert s.row("c1").flops == 2 * 28 * 28 * 6 * 25 * 1 == 235_200
    assert s.row("c3").flops == 2 * 10 * 10 * 16 * 25 * 6
    assert s.total_params == 61_706 == sum(r.params for r in s)
    assert s.total_flops == sum(r.flops for r in s)


def test_conv_params_and_flops_by_hand():
    model = _stack((8, 8, 16), layers.Conv2D(32, 3, padding="same", name="conv"),
                   layers.Conv2D(8, 1, strides=2, use_bias=False, name="proj"),
                   layers.BatchNormalization(name="bn"),
                   layers.DepthwiseConv2D(3, padding="same", name="dw"),
                   layers.SeparableConv2D(12, 3, padding="same", name="sep"),
                   layers.Conv2DTranspose(4, 2, strides=2, name="up"))
    s = model_summary(model)
    conv = s.row("conv")
    assert conv.params == 4_640 and conv.formula == "(3²·16+1)·32 = 4,640"  # the deck's example
    assert conv.flops == 2 * (8 * 8 * 32) * (9 * 16) == 589_824
    assert conv.output_shape == (8, 8, 32)
    proj = s.row("proj")
    assert proj.formula == "1²·32·8 = 256" and proj.flops == 2 * (4 * 4 * 8) * 32
    assert s.row("bn").params == 32 and s.row("bn").trainable_params == 16
    assert s.row("dw").formula == "(3²+1)·8 = 80" and s.row("dw").flops == 2 * 4 * 4 * 8 * 9
    assert s.row("sep").formula == "3²·8 + (8+1)·12 = 180"
    assert s.row("sep").flops == 2 * (4 * 4 * 8 * 9 + 4 * 4 * 8 * 12)
    assert s.row("up").output_shape == (8, 8, 4)
    assert s.row("up").flops == 2 * (4 * 4 * 12) * 4 * 4
    assert s.row("up").jump == (1, 1)  # stride-2 conv then stride-2 transposed conv
    assert s.trainable_params == s.total_params - 16  # BN moving mean/variance


def test_vgg16_receptive_field_and_flops():
    s = model_summary(build_model("vgg16"))
    # 13 3x3 convs and 5 2x2 pools: field grows by 2·jump per conv, by jump per pool
    field, jump, expected = 1, 1, {}
    for stage, convs in enumerate((2, 2, 3, 3, 3), start=1):
        for j in range(1, convs + 1):
            field += 2 * jump
            expected[f"block{stage}_conv{j}"] = field
        field += jump
        jump *= 2
        expected[f"block{stage}_pool"] = field
    assert {n: s.row(n).receptive_field[0] for n in expected} == expected
    assert expected["block5_conv3"] == 196 and expected["block5_pool"] == 212
    macs, size, m = 0, 224, 3
    for filters, convs in zip((64, 128, 256, 512, 512), (2, 2, 3, 3, 3)):
        for _ in range(convs):
            macs += size * size * 9 * m * filters
            m = filters
        size //= 2
    macs += 7 * 7 * 512 * 4096 + 4096 * 4096 + 4096 * 1000
    assert s.total_flops == 2 * macs
    assert s.total_params == 138_357_544


def test_attention_flops_by_hand():
    inputs = keras.Input((10, 16), name="tokens")
    y = layers.MultiHeadAttention(2, 8, name="attn")(inputs, inputs)
    s = model_summary(keras.Model(inputs, y))
    t, d, h, k = 10, 16, 2, 8
    # q, k, v projections + q·kᵀ + attention·v + output projection
    macs = 3 * t * d * h * k + t * t * h * k + t * t * h * k + t * h * k * d
    assert s.row("attn").flops == 2 * macs
    assert s.row("attn").params == 4 * (d * h * k) + 3 * h * k + d
    assert s.row("attn").receptive_field is None


def test_nested_model_rows_are_prefixed_and_the_field_continues():
    inner = _stack((16, 16, 4), layers.Conv2D(4, 3, padding="same", name="c1"),
                   layers.Conv2D(4, 3, padding="same", name="c2"))
    inner.name = "backbone"
    inputs = keras.Input((16, 16, 4), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="stem")(inputs)
    x = inner(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outer = keras.Model(inputs, layers.Dense(3, name="head")(x))
    s = model_summary(outer)
    assert s.row("backbone/c2").receptive_field == (7, 7)
    assert s.row("gap").receptive_field is None
    assert s.total_params == outer.count_params() == sum(r.params for r in s)


def test_unknown_sizes_give_unknown_flops_and_format():
    s = model_summary(build_model("vgg16", include_top=False, input_shape=(None, None, 3)))
    assert s.total_flops is None and s.row("block1_conv1").flops is None
    assert s.row("block1_conv1").params == 1_792
    text = format_summary(s, max_rows=5)
    assert "(3²·3+1)·64 = 1,792" in text and "Total params: 14,714,688" in text
    assert "FLOPs per image (2 x MACs of conv/dense/attention): ? (?)" in text
    assert "Largest receptive field: 212 pixels" in text
    full = format_summary(model_summary(build_model("lenet5")))
    # header + rule, 11 layer rows, rule, 3 total lines
    assert "833,040" in full and len(full.splitlines()) == 2 + 11 + 1 + 3
    with pytest.raises(ValueError, match="model"):
        model_summary(layers.Dense(3))


def test_rows_as_dicts_are_json_ready():
    import json

    s = model_summary(build_model("lenet5"))
    rows = [r.as_dict() for r in s]
    assert json.loads(json.dumps(rows))[2]["formula"] == "(5²·1+1)·6 = 156"
    assert np.isclose(sum(r["flops"] for r in rows), 833_040)
