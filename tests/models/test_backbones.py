"""The backbone contract: declared levels, computed strides/offsets, and an impulse test that
measures where each level's feature pixels sit in the input."""

import keras
import numpy as np
import pytest

from kerascv_apps.models.backbones import Backbone, build_backbone, list_backbones

SIZE = 320  # divisible by 32; large enough that no impulse response reaches the border
# Small widths and one block per stage: strides and offsets do not depend on either.
TINY = {
    "vgg16": dict(stackwise_num_filters=(4, 4, 4, 4, 4), stackwise_num_blocks=(1, 2, 1, 1, 1)),
    "resnet50": dict(stackwise_num_blocks=(1, 1, 1, 1), stackwise_num_filters=(2, 2, 2, 2),
                     stem_filters=4),
    "resnet18": dict(stackwise_num_blocks=(1, 1, 1, 1), stackwise_num_filters=(4, 4, 4, 4),
                     stem_filters=4),
    "wide_resnet50_2": dict(stackwise_num_blocks=(1, 1, 1, 1), stackwise_num_filters=(2, 2, 2, 2),
                            stem_filters=4),
    "mobilenet_v1": dict(alpha=0.125, stackwise_num_filters=(64, 128, 256, 512, 1024),
                         stackwise_strides=(1, 2, 2, 2, 2)),
    "mobilenet_v2": dict(alpha=0.35, stackwise_num_blocks=(1, 1, 1, 1, 1, 1, 1), last_filters=8),
    "efficientnet_b0": dict(width_coefficient=0.25, stackwise_num_repeats=(1,) * 7,
                            stackwise_kernel_sizes=(3, 3, 5, 3, 3, 3, 3), top_filters=8,
                            normalize=False),
}


def _uniform_weights(model):
    """Positive box kernels, zero biases, identity batch norm: with zero background every layer
    is monotone and the response to one bright pixel is symmetric about the pixel."""
    for v in model.weights:
        leaf = v.path.split("/")[-1]
        shape = tuple(v.shape)
        if leaf in ("kernel", "depthwise_kernel"):
            fan_in = np.prod(shape[:-1]) if "depthwise" not in v.path else np.prod(shape[:2])
            v.assign(np.full(shape, 1.0 / fan_in, "float32"))
        elif leaf in ("bias", "beta", "moving_mean"):
            v.assign(np.zeros(shape, "float32"))
        elif leaf in ("gamma", "moving_variance"):
            v.assign(np.ones(shape, "float32"))


# Dilated variants: their conv4/conv5 taps (stride 8 or 16, dilated 3x3 convolutions) are
# measured like every other tap.
DILATED = {"resnet50_os8": ("resnet50", 8), "resnet50_os16": ("resnet50", 16),
           "resnet18_os8": ("resnet18", 8)}
CASES = sorted(TINY) + sorted(DILATED)
# One period of positions for the deepest stride (32): the sampling error of each impulse
# averages out over a period, so the mean is the offset error itself; a declared offset off
# by half a stride (or by one input pixel) shows there.
POSITIONS = np.arange(SIZE // 2 - 16, SIZE // 2 + 16)


def _impulse_errors(case):
    """Per feature tap of the backbone (every declared tap: the levels, and the taps a dilated
    ResNet keeps at the same stride): the measured input position of each impulse (response
    centroid mapped back through the tap's computed stride/offset) minus its true position,
    for 32 consecutive positions along both axes."""
    name, stride = DILATED.get(case, (case, None))
    kwargs = dict(TINY[name], **({"output_stride": stride} if stride else {}))
    bb = build_backbone(name, input_shape=(SIZE, SIZE, 3), **kwargs)
    model = keras.Model(bb.inputs, [bb.tap_output(level) for level in bb.taps])
    _uniform_weights(model)
    images = np.zeros((len(POSITIONS), SIZE, SIZE, 3), "float32")
    images[np.arange(len(POSITIONS)), POSITIONS, POSITIONS, :] = 255.0
    outputs = model(images, training=False)
    errors = {}
    for level, out in zip(bb.taps, outputs):
        errors[level.layer] = (level, _centroid_errors(np.asarray(out, "float64"), level.stride,
                                                       level.offset, f"{case} {level.layer}"))
    return bb, errors


def _centroid_errors(out, stride, offset, what, positions=POSITIONS):
    """(2, n): per axis, the centroid of each impulse's response mapped to input pixels
    (``offset + stride * index``) minus the impulse's position (impulse i at
    ``(positions[i], positions[i])``)."""
    response = np.abs(out).sum(axis=-1)  # (n, h, w)
    assert np.all(response.sum(axis=(1, 2)) > 0), f"{what}: impulse lost"
    errors = []
    for axis in (1, 2):
        marginal = response.sum(axis=3 - axis)  # (n, size along axis)
        # the response must (practically) not reach the border: no truncation
        edge = np.maximum(marginal[:, 0], marginal[:, -1]) / marginal.max(axis=1)
        assert edge.max() < 1e-4, f"{what}: response reaches the border {edge.max()}"
        j = np.arange(marginal.shape[1])
        centroid = (marginal * j).sum(axis=1) / marginal.sum(axis=1)
        errors.append(offset + stride * centroid - positions)
    return np.stack(errors)


@pytest.fixture(scope="module", params=CASES)
def impulse(request):
    return request.param, _impulse_errors(request.param)


def test_levels_are_declared_for_the_required_backbones():
    names = set(list_backbones())
    assert {"vgg16", "vgg19", "resnet50", "resnet101", "resnet152", "mobilenet_v2",
            "mobilenet_v1", "efficientnet_b0"} <= names
    assert "lenet5" not in names and "googlenet" not in names


def test_impulse_lands_at_the_declared_offset(impulse):
    name, (bb, errors) = impulse
    assert isinstance(bb, Backbone)
    # every level is one of the measured taps, with the tap's stride and offset
    assert {l.layer: (l.stride, l.offset) for l in bb.levels.values()} == {
        k: (v[0].stride, v[0].offset) for k, v in errors.items()
        if k in {l.layer for l in bb.levels.values()}}
    expected = ["P1", "P2", "P3"] + (["P4"] if DILATED.get(name, (0, 32))[1] >= 16 else []) + (
        ["P5"] if name not in DILATED else [])
    assert sorted(bb.levels) == expected, (name, sorted(bb.levels))
    for key, level in bb.levels.items():
        assert level.stride == 2 ** int(key[1])
    if name in DILATED:  # conv4 and conv5 share the output stride; both are measured
        strides = [level.stride for level, _ in errors.values()]
        assert strides[-2:] == [DILATED[name][1]] * 2, strides
    for layer, (level, err) in errors.items():
        # Over one full period of positions the sampling error of a symmetric response
        # averages out: the mean is the offset error itself.
        period = err[:, :level.stride]
        assert np.abs(period.mean(axis=1)).max() < 0.05, (name, layer, level, period.mean(1))
        # and every single impulse is found within half a feature pixel
        assert np.abs(err).max() <= 0.5 * level.stride, (name, layer, np.abs(err).max())


def test_declared_levels_follow_the_contract():
    vgg = build_backbone("vgg16", **TINY["vgg16"])
    assert {k: (v.layer, v.stride, v.offset) for k, v in vgg.levels.items()} == {
        "P1": ("block1_pool", 2, 0.5), "P2": ("block2_pool", 4, 1.5),
        "P3": ("block3_pool", 8, 3.5), "P4": ("block4_pool", 16, 7.5),
        "P5": ("block5_pool", 32, 15.5)}
    keras.utils.clear_session()
    resnet = build_backbone("resnet50")
    assert [v.layer for v in resnet.levels.values()] == [
        "conv1_relu", "conv2_block3_out", "conv3_block4_out", "conv4_block6_out",
        "conv5_block3_out"]
    assert [v.offset for v in resnet.levels.values()] == [0.0] * 5
    assert [v.channels for v in resnet.levels.values()] == [64, 256, 512, 1024, 2048]
    model = resnet.model()
    out = model(np.zeros((1, 64, 96, 3), "float32"))
    assert tuple(out["P3"].shape) == (1, 8, 12, 512)
    keras.utils.clear_session()
    mnv2 = build_backbone("mobilenet_v2")
    assert [v.layer for v in mnv2.levels.values()] == [
        "expanded_conv_project_BN", "block_2_add", "block_5_add", "block_12_add", "out_relu"]
    assert [v.offset for v in mnv2.levels.values()] == [1.0, 3.0, 7.0, 15.0, 31.0]
    keras.utils.clear_session()
    dilated = build_backbone("resnet50", output_stride=8, **TINY["resnet50"])
    assert dilated.levels["P3"].layer == "conv5_block1_out" and "P4" not in dilated.levels


def test_not_a_backbone_is_refused_with_the_list():
    with pytest.raises(ValueError, match="not a backbone.*resnet50"):
        build_backbone("lenet5")


def test_levels_are_recorded_in_the_config_and_survive_save_load(tmp_path):
    """The feature extractor carries its levels (and every tap) in its config: a reloaded
    file answers ``feature_levels`` without the builder or a graph walk."""
    from kerascv_apps.models.backbones import BackboneModel, feature_levels

    bb = build_backbone("resnet50", output_stride=8, **TINY["resnet50"])
    model = bb.model()
    assert model.get_config()["feature_levels"][0]["name"] == "P1"
    path = str(tmp_path / "backbone.keras")
    model.save(path)
    keras.utils.clear_session()
    back = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(back, BackboneModel)
    assert feature_levels(back) == bb.levels
    assert back.tap_levels == bb.taps and [t.layer for t in bb.taps[-2:]] == [
        "conv4_block1_out", "conv5_block1_out"]
    x = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(back(x)["P3"], model(x)["P3"], rtol=1e-5, atol=1e-5)
