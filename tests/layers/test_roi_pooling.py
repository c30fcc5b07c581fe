"""RoIPooling (layers/roi_pooling.py) against NumPy transcriptions of the reference layers:
Fast R-CNN's Caffe ``ROIPoolingLayer::Forward_cpu`` and Detectron's ``RoIAlign`` (aligned=False)."""

import math

import keras
import numpy as np
import pytest

from kerascv_apps.layers.roi_pooling import RoIPooling


def caffe_round(x):
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def roi_max_pool_reference(features, rois, pool, scale):
    """Loop-for-loop ``roi_pooling_layer.cpp`` (rois here y0, x0, y1, x1 per image)."""
    batch, height, width, channels = features.shape
    out = np.zeros((batch, rois.shape[1], pool[0], pool[1], channels), np.float32)
    for b in range(batch):
        for r, (y0, x0, y1, x1) in enumerate(rois[b]):
            start_h, start_w = caffe_round(y0 * scale), caffe_round(x0 * scale)
            end_h, end_w = caffe_round(y1 * scale), caffe_round(x1 * scale)
            roi_h, roi_w = max(end_h - start_h + 1, 1), max(end_w - start_w + 1, 1)
            bin_h, bin_w = roi_h / pool[0], roi_w / pool[1]
            for ph in range(pool[0]):
                for pw in range(pool[1]):
                    hs = min(max(math.floor(ph * bin_h) + start_h, 0), height)
                    he = min(max(math.ceil((ph + 1) * bin_h) + start_h, 0), height)
                    ws = min(max(math.floor(pw * bin_w) + start_w, 0), width)
                    we = min(max(math.ceil((pw + 1) * bin_w) + start_w, 0), width)
                    if he <= hs or we <= ws:
                        out[b, r, ph, pw] = 0  # empty bin
                    else:
                        out[b, r, ph, pw] = features[b, hs:he, ws:we].max(axis=(0, 1))
    return out


def bilinear(feature, y, x):
    height, width = feature.shape[:2]
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return np.zeros(feature.shape[-1])
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_low = y_high = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_low = x_high = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1 - ly, 1 - lx
    return (hy * hx * feature[y_low, x_low] + hy * lx * feature[y_low, x_high]
            + ly * hx * feature[y_high, x_low] + ly * lx * feature[y_high, x_high])


def roi_align_reference(features, rois, pool, scale, ratio):
    """Detectron's ``RoIAlignForward`` (aligned=False), loop for loop."""
    batch, _, _, channels = features.shape
    out = np.zeros((batch, rois.shape[1], pool[0], pool[1], channels), np.float32)
    for b in range(batch):
        for r, (y0, x0, y1, x1) in enumerate(rois[b] * scale):
            roi_h, roi_w = max(y1 - y0, 1.0), max(x1 - x0, 1.0)
            bin_h, bin_w = roi_h / pool[0], roi_w / pool[1]
            for ph in range(pool[0]):
                for pw in range(pool[1]):
                    acc = np.zeros(channels)
                    for iy in range(ratio):
                        y = y0 + ph * bin_h + (iy + 0.5) * bin_h / ratio
                        for ix in range(ratio):
                            x = x0 + pw * bin_w + (ix + 0.5) * bin_w / ratio
                            acc += bilinear(features[b], y, x)
                    out[b, r, ph, pw] = acc / (ratio * ratio)
    return out


# input-pixel rois (y0, x0, y1, x1) on a 64 x 96 image (stride 8: 8 x 12 cells)
ROIS = np.array([[
    [0, 0, 63, 95],        # the whole image
    [10, 12, 20, 17],      # smaller than the 3 x 4 bin grid (3 x 1 cells; 2.5 rounds to 3)
    [4, 4, 4, 4],          # a single pixel: a 1 x 1 cell region
    [40, 70, 120, 140],    # crosses the bottom-right border: bins outside are empty (0)
    [-30, -20, 10, 12],    # crosses the top-left border
    [-60, -50, -20, -30],  # wholly outside: every bin empty
    [12, 20, 44, 60],      # an ordinary region, edges at .5 after scaling (Caffe rounding)
]], np.float32)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    # negative features too: an empty bin is 0, not the maximum of nothing
    features = rng.normal(size=(2, 8, 12, 3)).astype(np.float32)
    rois = np.concatenate([ROIS, ROIS[:, ::-1] + 3.0], axis=0)
    return features, rois


@pytest.mark.parametrize("pool", [(3, 4), (7, 7)])
def test_max_pooling_equals_the_caffe_reference(data, pool):
    features, rois = data
    got = RoIPooling(pool, spatial_scale=1 / 8)([features, rois])
    ref = roi_max_pool_reference(features, rois, pool, 1 / 8)
    np.testing.assert_allclose(np.asarray(got), ref, atol=1e-6)
    # empty bins were exercised: a region wholly outside, bins past the border
    assert np.all(ref[0, 5] == 0) and np.any(np.all(ref[0, 3] == 0, axis=-1))
    # a region smaller than the grid (3 x 1 cells) repeats its cells, no bin left empty
    assert np.all(ref[0, 1] == ref[0, 1][:, :1]) and np.all(ref[0, 1] != 0)


def test_align_equals_the_detectron_reference(data):
    features, rois = data
    got = RoIPooling((3, 4), spatial_scale=1 / 8, mode="align", sampling_ratio=2)(
        [features, rois])
    ref = roi_align_reference(features, rois, (3, 4), 1 / 8, 2)
    np.testing.assert_allclose(np.asarray(got), ref, atol=1e-5)


def test_serializes_and_runs_in_a_graph_with_unknown_sizes(data, tmp_path):
    features, rois = data
    f_in = keras.Input((None, None, 3), name="features")
    r_in = keras.Input((None, 4), name="rois")
    out = RoIPooling((2, 2), spatial_scale=0.125, mode="align", sampling_ratio=1,
                     name="roi")([f_in, r_in])
    model = keras.Model([f_in, r_in], out)
    path = str(tmp_path / "roi.keras")
    model.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    layer = reloaded.get_layer("roi")
    assert (layer.pool_size, layer.mode, layer.sampling_ratio) == ((2, 2), "align", 1)
    got = reloaded.predict([features, rois], verbose=0)  # graph mode
    np.testing.assert_allclose(got, roi_align_reference(features, rois, (2, 2), 0.125, 1),
                               atol=1e-5)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="mode"):
        RoIPooling(mode="avg")
    with pytest.raises(ValueError, match="pool_size"):
        RoIPooling(pool_size=(0, 2))
    with pytest.raises(ValueError, match="rois"):
        RoIPooling()([np.zeros((1, 4, 4, 1), "float32"), np.zeros((1, 3), "float32")])
