"""Segmentation losses (ignore label, class weights, median frequency, border weight map, Dice,
focal, sums) and metrics (IoU, pixel accuracy, boundary F1) against hand-computed values."""

import math

import keras
import numpy as np
import pytest

from kerascv_apps.losses.segmentation import (CombinedLoss, DiceLoss, FocalLoss,
                                              SegmentationCrossentropy, border_weight_map,
                                              border_weight_target_fn, build_loss,
                                              median_frequency_weights)
from kerascv_apps.metrics import segmentation as M


def _probs(labels, num_classes, p=0.7):
    """Scores putting ``p`` on ``labels`` and the rest spread evenly."""
    out = np.full(labels.shape + (num_classes,), (1 - p) / (num_classes - 1), np.float32)
    np.put_along_axis(out, labels[..., None], p, axis=-1)
    return out


def test_crossentropy_ignores_255_and_averages_over_valid_pixels():
    y = np.array([[[0, 1], [255, 2]]])
    pred = _probs(np.array([[[0, 0], [1, 2]]]), 3, 0.5)  # pixel (0,1) wrong: p(true)=0.25
    loss = float(SegmentationCrossentropy()(y, pred))
    expected = (-math.log(0.5) - math.log(0.25) - math.log(0.5)) / 3
    assert loss == pytest.approx(expected, rel=1e-5)
    # changing the prediction at the ignored pixel changes nothing
    pred2 = pred.copy()
    pred2[0, 1, 0] = [0.98, 0.01, 0.01]
    assert float(SegmentationCrossentropy()(y, pred2)) == pytest.approx(expected, rel=1e-5)


def test_class_weights_and_pixel_weights_multiply_pixel_losses():
    y = np.array([[[0, 1]]])
    pred = _probs(np.array([[[0, 0]]]), 2, 0.8)
    l0, l1 = -math.log(0.8), -math.log(0.2)
    got = float(SegmentationCrossentropy(class_weights=[1.0, 3.0])(y, pred))
    assert got == pytest.approx((l0 + 3 * l1) / 2, rel=1e-5)
    packed = np.stack([y, np.array([[[2.0, 0.5]]])], -1).astype(np.float32)  # [class, weight]
    assert float(SegmentationCrossentropy()(packed, pred)) == pytest.approx((2 * l0 + 0.5 * l1) / 2,
                                                                            rel=1e-5)


def test_targets_are_center_cropped_to_smaller_predictions():
    y = np.full((1, 6, 6), 255)
    y[0, 2:4, 2:4] = 1
    pred = _probs(np.ones((1, 2, 2), int), 2, 0.9)
    assert float(SegmentationCrossentropy()(y, pred)) == pytest.approx(-math.log(0.9), rel=1e-5)


def test_focal_with_gamma_zero_is_crossentropy_and_down_weights_easy_pixels():
    y = np.array([[[0, 1, 1]]])
    pred = np.array([[[[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]]]], np.float32)
    ce = float(SegmentationCrossentropy()(y, pred))
    assert float(FocalLoss(gamma=0.0)(y, pred)) == pytest.approx(ce, rel=1e-5)
    expected = np.mean([-(0.1 ** 2) * math.log(0.9), -(0.3 ** 2) * math.log(0.7),
                        -(0.6 ** 2) * math.log(0.4)])
    assert float(FocalLoss(gamma=2.0)(y, pred)) == pytest.approx(expected, rel=1e-5)


def test_dice_loss_values():
    y = np.array([[[0, 1], [1, 255]]])
    perfect = np.eye(2, dtype=np.float32)[np.array([[[0, 1], [1, 0]]])]
    assert float(DiceLoss(smooth=0.0)(y, perfect)) == pytest.approx(0.0, abs=1e-6)
    half = np.full((1, 2, 2, 2), 0.5, np.float32)
    # class 0: 2*0.5/(1.5+1); class 1: 2*1/(1.5+2)
    expected = 1 - (1 / 2.5 + 2 / 3.5) / 2
    assert float(DiceLoss(smooth=0.0)(y, half)) == pytest.approx(expected, rel=1e-5)


def test_combined_loss_is_weighted_sum_and_specs_parse():
    y = np.array([[[0, 1], [1, 0]]])
    pred = _probs(np.array([[[0, 0], [1, 0]]]), 2, 0.6)
    ce, dice = SegmentationCrossentropy(), DiceLoss()
    combined = CombinedLoss([ce, dice], [1.0, 0.5])
    assert float(combined(y, pred)) == pytest.approx(float(ce(y, pred)) + 0.5 * float(dice(y, pred)),
                                                     rel=1e-5)
    spec = build_loss("ce+0.5*dice")
    assert float(spec(y, pred)) == pytest.approx(float(combined(y, pred)), rel=1e-5)
    restored = keras.losses.deserialize(keras.losses.serialize(combined))
    assert float(restored(y, pred)) == pytest.approx(float(combined(y, pred)), rel=1e-5)
    with pytest.raises(ValueError, match="unknown term"):
        build_loss("ce+lovasz")


def test_median_frequency_weights():
    # class 0: 6 px in 2 images of 4 (freq 6/8); class 1: 1 px in 1 image (1/4); class 2: 1 px
    # in 1 image (1/4). median = 1/4 -> weights (1/3, 1, 1)
    masks = [np.array([[0, 0], [0, 1]]), np.array([[0, 0], [0, 2]])]
    np.testing.assert_allclose(median_frequency_weights(masks, 3), [1 / 3, 1.0, 1.0], rtol=1e-6)
    with pytest.raises(ValueError, match="mask values"):
        median_frequency_weights([np.array([[0, 7]])], 3)


def test_border_weight_map_between_touching_instances():
    inst = np.zeros((5, 12), np.int32)
    inst[:, 0:5] = 1
    inst[:, 7:12] = 2
    w = border_weight_map(inst, w0=10.0, sigma=5.0)
    # gap column 5: d1 = 1 (to instance 1), d2 = 2 (to instance 2)
    np.testing.assert_allclose(w[:, 5], 1 + 10 * math.exp(-9 / 50), rtol=1e-5)
    np.testing.assert_allclose(w[:, 6], 1 + 10 * math.exp(-9 / 50), rtol=1e-5)
    assert np.all(w[inst > 0] == 1.0)
    # one instance: no border term; class weight map added as w_c
    single = border_weight_map(np.where(inst == 2, 0, inst), class_weight_map=2.0)
    assert np.all(single == 2.0)


def test_border_weight_target_fn_packs_class_and_weight():
    import tensorflow as tf

    inst = np.zeros((5, 12), np.int32)
    inst[:, 0:5], inst[:, 7:12] = 1, 2
    target = np.stack([np.where(inst > 0, 3, 0), inst], -1).astype(np.int32)
    _, packed = border_weight_target_fn()(tf.zeros((5, 12, 3)), tf.constant(target))
    packed = packed.numpy()
    np.testing.assert_array_equal(packed[..., 0], target[..., 0])
    np.testing.assert_allclose(packed[..., 1], border_weight_map(inst), rtol=1e-6)


def test_iou_pixel_accuracy_and_confusion():
    t = np.array([[[0, 0, 1, 1], [0, 2, 1, 255]]])
    p = np.array([[[0, 1, 1, 1], [0, 2, 2, 0]]])
    cm = M.confusion_matrix(t, p, 3)
    np.testing.assert_array_equal(cm, [[2, 1, 0], [0, 2, 1], [0, 0, 1]])
    np.testing.assert_allclose(M.per_class_iou(t, p, 3), [2 / 3, 2 / 4, 1 / 2])
    assert M.mean_iou(t, p, 3) == pytest.approx((2 / 3 + 0.5 + 0.5) / 3)
    assert M.pixel_accuracy(t, p) == pytest.approx(5 / 7)
    # scores are argmaxed; classes absent from both are left out of the mean
    assert M.mean_iou(t, np.eye(4)[p], 4) == pytest.approx((2 / 3 + 0.5 + 0.5) / 3)


def test_streaming_miou_matches_numpy():
    t = np.array([[[0, 0, 1, 1], [0, 2, 1, 255]]])
    p = np.eye(3, dtype=np.float32)[np.array([[[0, 1, 1, 1], [0, 2, 2, 0]]])]
    metric = M.SegmentationMeanIoU(3)
    metric.update_state(t, p)
    assert float(metric.result()) == pytest.approx(M.mean_iou(t, p, 3), rel=1e-5)


def test_boundary_f1_tolerance():
    t = np.zeros((1, 20, 20), int)
    t[0, 5:15, 5:15] = 1
    shifted = np.zeros_like(t)
    shifted[0, 5:15, 7:17] = 1  # square moved 2 px right
    assert M.boundary_f1(t, t, 2, tolerance=0) == pytest.approx(1.0)
    within = M.boundary_f1(t, shifted, 2, tolerance=2)
    strict = M.boundary_f1(t, shifted, 2, tolerance=0)
    assert within == pytest.approx(1.0)
    assert strict < 0.6
