"""FCN-32s/16s/8s (models/segmentation/fcn.py): paper sizes, the harness on three backbones,
any input size, and pixel alignment of the upsampling for every backbone stride."""

import keras
import numpy as np
import pytest

from kerascv_apps import build_model
from kerascv_apps.models.backbones import build_backbone
from kerascv_apps.models.segmentation.fcn import aligned_upsampling, upsample
from tests.models.dynamic_size import check_any_size
from tests.models.segmentation.seg_common import (BACKBONES, NUM_CLASSES, TINY_BACKBONES,
                                                  batch, check_segmentation)


def test_paper_configurations_keep_their_parameter_counts():
    # FCN-8s/16s/32s on VGG-16 with fc6/fc7 as 7x7/1x1 convs (4096) and bilinear deconvs
    assert build_model("fcn8s", input_shape=(224, 224, 3)).count_params() == 134_489_759
    keras.utils.clear_session()
    assert build_model("fcn32s", input_shape=(224, 224, 3)).count_params() == 136_152_917
    keras.utils.clear_session()
    assert build_model("fcn8s_resnet50", input_shape=(224, 224, 3)).count_params() == 23_790_047


@pytest.mark.parametrize("backbone", BACKBONES)
def test_fcn8s_harness_on_each_backbone(backbone):
    model, _ = check_segmentation("fcn8s", backbone=backbone,
                                  backbone_kwargs=TINY_BACKBONES[backbone],
                                  fc_filters=8 if backbone == "vgg16" else 0,
                                  input_shape=(32, 32, 3), harness=dict(int8=backbone == "resnet50"))
    names = [layer.name for layer in model.layers]
    assert {"score_pool4", "score_pool3", "fuse_pool4", "fuse_pool3"} <= set(names)
    assert not [n for n in names if n.startswith("functional")]  # backbone layers are flat


def test_fcn16s_any_input_size_and_dynamic_tflite():
    model = build_model("fcn16s", num_classes=NUM_CLASSES, backbone_kwargs=TINY_BACKBONES["vgg16"],
                        fc_filters=8)
    assert [l.name for l in model.layers if l.name.startswith("fuse_")] == ["fuse_pool4"]
    assert np.all(model.get_layer("score_pool4").get_weights()[0] == 0)  # starts as FCN-32s
    rows = check_any_size(model, [(32, 32), (40, 56), (45, 33)])  # stride 32
    assert max(diff for _, _, diff in rows) < 1e-4, rows
    # 120x120 (the size that used to raise a raw InvalidArgumentError) is padded to 128
    assert model.predict(batch(120, 1)[0], verbose=0).shape == (1, 120, 120, NUM_CLASSES)


def test_aligned_upsampling_geometry():
    # VGG pools (offset (s - 1) / 2): the paper's centred kernel
    assert aligned_upsampling(32, 15.5, 16, 7.5) == (2, 1, 1.5)
    assert aligned_upsampling(8, 3.5, 1, 0.0) == (8, 4, 7.5)
    # ResNet levels (offset 0): the hat half a pixel earlier
    assert aligned_upsampling(32, 0.0, 16, 0.0) == (2, 1, 1.0)
    assert aligned_upsampling(8, 0.0, 1, 0.0) == (8, 7, 7.0)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_each_level_upsampling_lands_on_the_declared_centre(backbone):
    """A single active feature pixel j of each level, upsampled by FCN's aligned deconv to the
    next level's grid and to the input: the response is centred at that pixel's declared
    input position (offset + stride * j), within 0.5 input pixels."""
    bb = build_backbone(backbone, **TINY_BACKBONES[backbone])
    levels = sorted(bb.levels.values(), key=lambda level: level.stride)
    targets = [(1, 0.0)] + [(lv.stride, lv.offset) for lv in levels[:-1]]
    for level, (t_stride, t_offset) in zip(levels, targets):
        n = 5
        x_in = keras.Input((n, n, 1))
        up = upsample(x_in, 1, (level.stride, level.offset), (t_stride, t_offset),
                      name=f"up_{level.name}")
        model = keras.Model(x_in, up)
        x = np.zeros((1, n, n, 1), "float32")
        x[0, 2, 2, 0] = 1.0
        out = np.asarray(model(x))[0, :, :, 0]
        assert out.shape == (n * level.stride // t_stride,) * 2
        for axis in (0, 1):
            marginal = out.sum(axis=1 - axis)
            centre = (marginal * np.arange(marginal.size)).sum() / marginal.sum()
            centre_input = t_offset + t_stride * centre  # in input pixels
            assert abs(centre_input - (level.offset + level.stride * 2)) <= 0.5, (
                backbone, level, centre_input)


def _uniform_weights(model, skip=("upscore",)):
    """Positive box kernels, zero biases, identity BN (the bilinear deconvs kept as built):
    every layer is monotone and symmetric, so a bright pixel's response is centred on it."""
    for v in model.weights:
        if v.path.startswith(skip):
            continue
        leaf, shape = v.path.split("/")[-1], tuple(v.shape)
        if leaf in ("kernel", "depthwise_kernel"):
            fan_in = np.prod(shape[:2]) if "depthwise" in leaf else np.prod(shape[:-1])
            v.assign(np.full(shape, 1.0 / fan_in, "float32"))
        elif leaf in ("bias", "beta", "moving_mean"):
            v.assign(np.zeros(shape, "float32"))
        elif leaf in ("gamma", "moving_variance"):
            v.assign(np.ones(shape, "float32"))


@pytest.mark.parametrize("backbone", ["resnet50", "mobilenet_v2"])
def test_bright_line_output_is_centred_on_it_end_to_end(backbone):
    """FCN-32s (stride 32, the coarsest path) with positive box weights, at an input size that
    is not a multiple of 32: a bright row (then column) at 32 consecutive positions (one full
    period of the stride). A single response is seen through stride-32 samples, so its
    centroid scatters by a few pixels, but over a full period that sampling error of a
    symmetric response averages out and what is left is the misalignment itself: < 0.05 px
    (a half-pixel resize of these offset-0 maps would leave 15.5 px). Lines rather than
    points keep the two axes apart (max pooling mixes them for a point)."""
    size = 410
    model = build_model("fcn32s", num_classes=1, backbone=backbone, fc_filters=0,
                        classifier_activation=None, backbone_kwargs=TINY_BACKBONES[backbone],
                        input_shape=(size, size, 3))
    _uniform_weights(model)
    positions = np.arange(size // 2 - 16, size // 2 + 16)
    images = np.zeros((len(positions), size, size, 3), "float32")
    for axis in (1, 2):
        images[:] = 0
        if axis == 1:
            images[np.arange(len(positions)), positions] = 255.0
        else:
            images[np.arange(len(positions)), :, positions] = 255.0
        response = np.asarray(model(images, training=False))[..., 0].astype("float64")
        marginal = response.sum(axis=3 - axis)
        # no truncation at the borders (it would bias the centroid)
        assert np.max(np.maximum(marginal[:, 0], marginal[:, -1]) / marginal.max(axis=1)) < 1e-4
        centroid = (marginal * np.arange(size)).sum(axis=1) / marginal.sum(axis=1)
        errors = centroid - positions
        assert abs(errors.mean()) < 0.05, (axis, errors.mean(), errors)
        assert np.abs(errors).max() < 8, (axis, errors)


@pytest.mark.parametrize("learn_final", [False, True])
def test_final_upsampling_is_fixed_bilinear_unless_asked(learn_final):
    """Long et al. 2015: "the final layer deconvolutional filters are fixed to bilinear
    interpolation, while intermediate upsampling layers are initialized to bilinear
    upsampling, and then learned". After SGD steps the x8 kernel of FCN-8s is still the
    bilinear one it was built with (non-trainable but counted), the x2 ones moved;
    ``trainable_final_upsampling=True`` learns it too."""
    keras.utils.set_random_seed(0)
    model = build_model("fcn8s", input_shape=(32, 32, 3), num_classes=NUM_CLASSES,
                        backbone_kwargs=TINY_BACKBONES["vgg16"], fc_filters=8,
                        trainable_final_upsampling=learn_final)
    final, first = model.get_layer("upscore8"), model.get_layer("upscore1")
    assert final.trainable is learn_final and first.trainable
    before = {n: np.array(model.get_layer(n).get_weights()[0]) for n in ("upscore8", "upscore1")}
    # the built kernel is per-class bilinear: class c only feeds class c
    off_diagonal = before["upscore8"] * (1 - np.eye(NUM_CLASSES))[None, None]
    assert np.all(off_diagonal == 0) and before["upscore8"].max() > 0
    from kerascv_apps.losses.segmentation import SegmentationCrossentropy
    model.compile(keras.optimizers.SGD(1.0), SegmentationCrossentropy())
    x, y = batch(32)
    for _ in range(3):
        model.train_on_batch(x, y)
    moved = lambda n: np.abs(model.get_layer(n).get_weights()[0] - before[n]).max()  # noqa
    assert moved("upscore1") > 1e-4
    assert bool(moved("upscore8") > 1e-4) is learn_final, moved("upscore8")
    trainable = {v.path.split("/")[0] for v in model.trainable_weights}
    assert ("upscore8" in trainable) is learn_final and "upscore1" in trainable
