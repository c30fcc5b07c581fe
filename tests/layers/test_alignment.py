"""Pad-to-stride / crop-back, the aligned resize and the legal-size check (layers/alignment.py),
and ResizeToMatch's half-pixel resize in graph mode (layers/segmentation.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_apps.layers.alignment import (AlignedResize, CropToMatch, PadToMultiple,
                                           SizeConstraint, legal_sizes_near)
from kerascv_apps.layers.segmentation import ResizeToMatch


def _graph_model():
    """(None, None, 1) -> [pad to 8 and crop back, 8x8 average pooling resized back two ways]."""
    image = keras.Input((None, None, 1))
    padded = PadToMultiple(8)(image)
    coarse = keras.layers.AveragePooling2D(8)(padded)  # pixel j centred at 3.5 + 8 j
    half_pixel = CropToMatch()([ResizeToMatch()([coarse, padded]), image])
    aligned = CropToMatch()([AlignedResize(8, 3.5)([coarse, padded]), image])
    same = CropToMatch()([padded, image])
    return keras.Model(image, [same, half_pixel, aligned])


def test_pad_crop_and_resizes_in_graph_mode_at_three_sizes():
    model = _graph_model()
    rng = np.random.default_rng(0)
    for h, w in ((16, 16), (13, 21), (30, 9)):
        x = rng.uniform(0, 1, (2, h, w, 1)).astype("float32")
        same, half_pixel, aligned = model.predict(x, verbose=0)  # graph mode, retraced per size
        np.testing.assert_array_equal(same, x)  # padding bottom/right + top-left crop: no shift
        ph, pw = -(-h // 8) * 8, -(-w // 8) * 8
        padded = np.pad(x, ((0, 0), (0, ph - h), (0, pw - w), (0, 0)))
        coarse = tf.nn.avg_pool2d(padded, 8, 8, "VALID")
        ref = tf.image.resize(coarse, (ph, pw), "bilinear").numpy()[:, :h, :w]
        np.testing.assert_allclose(half_pixel, ref, atol=1e-5)
        # the half-pixel convention is the aligned resize for offset (stride - 1) / 2
        np.testing.assert_allclose(aligned, ref, atol=1e-5)


@pytest.mark.parametrize("stride,offset", [(8, 0.0), (8, 3.5), (32, 15.5), (4, 3.0), (16, 7.0)])
def test_aligned_resize_puts_each_feature_pixel_at_its_declared_centre(stride, offset):
    n = 6
    features = np.zeros((n, n, n, 1), "float32")
    features[np.arange(n), np.arange(n), np.arange(n), 0] = 1.0  # impulse at j = 0..5
    ref = np.zeros((1, n * stride, n * stride, 1), "float32")
    out = np.asarray(AlignedResize(stride, offset)([features, ref]))[..., 0]
    for j in range(1, n - 1):  # inside: the hat peaks exactly at offset + stride * j
        row = out[j].sum(axis=1)
        centre = (row * np.arange(row.size)).sum() / row.sum()
        assert abs(centre - (offset + stride * j)) < 1e-4, (j, centre)
        assert int(np.argmax(out[j][:, int(offset + stride * j)])) in (
            int(np.floor(offset + stride * j)), int(np.ceil(offset + stride * j)))
    # finer target grid (a decoder step): stride 16 offset 7.5 -> stride 8 offset 3.5 equals
    # the half-pixel x2 resize
    x = np.random.default_rng(1).uniform(size=(1, 5, 7, 2)).astype("float32")
    target = np.zeros((1, 10, 14, 2), "float32")
    got = AlignedResize(16, 7.5, 8, 3.5)([x, target])
    np.testing.assert_allclose(got, tf.image.resize(x, (10, 14)).numpy(), atol=1e-5)


def test_aligned_resize_nearest_and_config_round_trip():
    layer = AlignedResize(4, 0.0, interpolation="nearest", name="up")
    clone = AlignedResize.from_config(layer.get_config())
    x = np.arange(6, dtype="float32").reshape(1, 2, 3, 1)
    out = np.asarray(clone([x, np.zeros((1, 8, 12, 1), "float32")]))[0, :, :, 0]
    # feature j centred at 4 j (halfway rounds up): pixels 0..1 -> j=0, 2..5 -> 1, 6.. -> 2
    assert out[0].tolist() == [0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]
    with pytest.raises(ValueError, match="interpolation"):
        AlignedResize(4, 0.0, interpolation="bicubic")


def test_legal_sizes_and_size_constraint_message():
    assert legal_sizes_near(570, 16, -4, 188) == (556, 572)
    assert legal_sizes_near(572, 16, -4, 188) == (572, 572)
    assert legal_sizes_near(100, 16, -4, 188) == (None, 188)
    layer = SizeConstraint(16, -4, 188, model_name="paper U-Net")
    assert np.asarray(layer(np.zeros((1, 188, 204, 1), "float32"))).shape == (1, 188, 204, 1)
    with pytest.raises(ValueError, match=r"input width 570 .* nearest legal sizes: 556 or 572"):
        layer(np.zeros((1, 188, 570, 1), "float32"))
