"""Custom segmentation layers: SegNet's pooling switches / index unpooling, adaptive pooling,
mirror padding, crop/resize to a reference, bilinear transposed-conv initialisation."""

import keras
import numpy as np
import pytest

from kerascv_apps.export.tflite import TFLiteRunner, builtin_op_names, convert_to_tflite
from kerascv_apps.layers.pooling_indices import MaxPoolingWithSwitches, MaxUnpoolingWithSwitches
from kerascv_apps.layers.segmentation import (AdaptiveAveragePooling2D, BilinearUpsamplingInitializer,
                                              CenterCropToMatch, MirrorPadding2D, ResizeToMatch,
                                              bilinear_kernel)


def _np(x):
    return np.asarray(x)


def test_unpooling_puts_each_max_back_at_its_location():
    x = np.array([[1, 2, 9, 4],
                  [3, 0, 5, 6],
                  [-1, -2, 0, 8],
                  [-3, -4, 7, 1]], np.float32)[None, :, :, None]
    pooled, switches = MaxPoolingWithSwitches()(x)
    np.testing.assert_array_equal(_np(pooled)[0, :, :, 0], [[3, 9], [-1, 8]])
    expected_switches = np.array([[0, 0, 1, 0], [1, 0, 0, 0], [1, 0, 0, 1], [0, 0, 0, 0]])
    np.testing.assert_array_equal(_np(switches)[0, :, :, 0], expected_switches)
    # unpool new values: each lands where its window's maximum was, zeros elsewhere
    values = np.array([[10, 20], [30, 40]], np.float32)[None, :, :, None]
    out = _np(MaxUnpoolingWithSwitches()([values, switches]))[0, :, :, 0]
    np.testing.assert_array_equal(out, [[0, 0, 20, 0], [10, 0, 0, 0], [30, 0, 0, 40], [0, 0, 0, 0]])
    # unpooling the pooled values themselves reproduces x at the maxima
    back = _np(MaxUnpoolingWithSwitches()([pooled, switches]))[0, :, :, 0]
    np.testing.assert_array_equal(back, np.where(expected_switches == 1, x[0, :, :, 0], 0))


def test_random_input_matches_argmax_per_window_and_channel():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 6, 8, 3)).astype(np.float32)
    pooled, switches = MaxPoolingWithSwitches()(x)
    s = _np(switches)
    windows = x.reshape(2, 3, 2, 4, 2, 3).transpose(0, 1, 3, 5, 2, 4).reshape(2, 3, 4, 3, 4)
    arg = windows.argmax(-1)
    sw = s.reshape(2, 3, 2, 4, 2, 3).transpose(0, 1, 3, 5, 2, 4).reshape(2, 3, 4, 3, 4)
    assert np.all(sw.sum(-1) == 1)
    np.testing.assert_array_equal(sw.argmax(-1), arg)
    np.testing.assert_allclose(_np(pooled), windows.max(-1).transpose(0, 1, 2, 3))


def test_ties_go_to_first_element_in_raster_order():
    # windows: all equal; max at (0,1) and (1,0); max at (1,0) and (1,1); single max at (1,1)
    x = np.array([[5, 5, 0, 7, 1, 1, 0, 0],
                  [5, 5, 7, 0, 4, 4, 0, 3]], np.float32)[None, :, :, None]
    _, switches = MaxPoolingWithSwitches()(x)
    s = _np(switches)[0, :, :, 0]
    np.testing.assert_array_equal(s, [[1, 0, 0, 1, 0, 0, 0, 0],
                                      [0, 0, 0, 0, 1, 0, 0, 1]])


def test_pooling_rejects_odd_sizes_with_clear_error():
    with pytest.raises(ValueError, match="even"):
        MaxPoolingWithSwitches(name="pool")(keras.Input((5, 4, 1)))


def _pool_unpool_model():
    inputs = keras.Input((8, 8, 2), name="image")
    pooled, switches = MaxPoolingWithSwitches(name="pool")(inputs)
    x = keras.layers.Conv2D(2, 3, padding="same", name="conv")(pooled)
    out = MaxUnpoolingWithSwitches(name="unpool")([x, switches])
    return keras.Model(inputs, out)


def test_trains_with_jit_compile_and_gradients_reach_conv():
    model = _pool_unpool_model()
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse", jit_compile=True)
    x = np.random.default_rng(1).uniform(0, 1, (4, 8, 8, 2)).astype(np.float32)
    before = model.get_layer("conv").get_weights()[0].copy()
    losses = [model.train_on_batch(x, x) for _ in range(3)]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert not np.allclose(before, model.get_layer("conv").get_weights()[0])


def test_converts_to_tflite_builtins_and_matches_keras():
    model = _pool_unpool_model()
    x = np.random.default_rng(2).uniform(0, 255, (2, 8, 8, 2)).astype(np.float32)
    data = convert_to_tflite(model, "float32", graph="frozen")
    ops = builtin_op_names(data)
    assert not [op for op in ops if op.startswith("Flex") or "CUSTOM" in op.upper()], ops
    assert "MAX_POOL_WITH_ARGMAX" not in " ".join(ops)
    np.testing.assert_allclose(TFLiteRunner(data).predict(x), _np(model(x)), atol=1e-4)


def test_adaptive_average_pooling_matches_numpy_bins_at_any_size():
    rng = np.random.default_rng(3)
    layer = AdaptiveAveragePooling2D(3)
    for h, w in ((6, 6), (7, 10), (9, 4)):
        x = rng.normal(size=(1, h, w, 2)).astype(np.float32)
        got = _np(layer(x))
        for i in range(3):
            for j in range(3):
                r0, r1 = (i * h) // 3, -(-((i + 1) * h) // 3)
                c0, c1 = (j * w) // 3, -(-((j + 1) * w) // 3)
                np.testing.assert_allclose(got[0, i, j], x[0, r0:r1, c0:c1].mean((0, 1)), atol=1e-5)


def test_mirror_padding_reflects_without_repeating_the_edge():
    x = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    out = _np(MirrorPadding2D(((1, 0), (0, 2)))(x))[0, :, :, 0]
    np.testing.assert_array_equal(out, [[3, 4, 5, 4, 3], [0, 1, 2, 1, 0], [3, 4, 5, 4, 3],
                                        [6, 7, 8, 7, 6]])


def test_center_crop_and_resize_to_reference():
    x = np.arange(36, dtype=np.float32).reshape(1, 6, 6, 1)
    ref = np.zeros((1, 3, 2, 5), np.float32)
    crop = _np(CenterCropToMatch()([x, ref]))[0, :, :, 0]
    np.testing.assert_array_equal(crop, x[0, 1:4, 2:4, 0])
    up = _np(ResizeToMatch()([np.full((1, 1, 1, 2), 7.0, np.float32), ref]))
    assert up.shape == (1, 3, 2, 2) and np.allclose(up, 7.0)


def test_bilinear_initializer_upsamples_like_bilinear_interpolation():
    k = bilinear_kernel(4)
    np.testing.assert_allclose(k[1:3, 1:3], 0.5625)  # (0.75)^2 at the centre taps
    layer = keras.layers.Conv2DTranspose(2, 4, strides=2, padding="same", use_bias=False,
                                         kernel_initializer=BilinearUpsamplingInitializer())
    x = np.zeros((1, 4, 4, 2), np.float32)
    x[..., 0] = 1.0  # constant channel 0 stays constant inside; channel 1 stays zero
    y = _np(layer(x))
    assert y.shape == (1, 8, 8, 2)
    np.testing.assert_allclose(y[0, 1:-1, 1:-1, 0], 1.0, atol=1e-6)
    assert np.all(y[..., 1] == 0)
