"""Faster R-CNN (models/detection/faster_rcnn.py): outputs of the small variant, the RPN's
anchor labels against a NumPy transcription of the paper's rule, the Fast R-CNN head's loss and
decode on hand-built outputs, the ground-truth boxes among the head's RoIs, and a fit step
through the detection task's training graph."""

import keras
import numpy as np
import pytest

from kerascv_apps import build_model
from kerascv_apps.models.detection.faster_rcnn import FasterRCNNHead
from kerascv_apps.models.detection.heads import head_for
from kerascv_apps.tasks.detection import training_graph

TINY = dict(input_shape=(64, 64, 3), num_classes=3,
            backbone_kwargs=dict(stackwise_num_filters=(4, 8, 8, 8), stem_filters=4,
                                 stackwise_num_blocks=(1, 1, 1, 1)),
            rpn_filters=8, anchor_scales=(16, 32), pre_nms_top_n=64, post_nms_top_n=16,
            pool_size=2, fc_units=(16,))


def iou_np(a, b):
    top, left = np.maximum(a[:, None, 0], b[None, :, 0]), np.maximum(a[:, None, 1], b[None, :, 1])
    bottom = np.minimum(a[:, None, 2], b[None, :, 2])
    right = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(bottom - top, 0, None) * np.clip(right - left, 0, None)
    area = lambda r: (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def rpn_labels_np(anchors, gt):
    """The paper's rule: positive if IoU > 0.7 with some box or the best anchor of some box,
    negative if IoU < 0.3 with all, border-crossing anchors ignored (1 / 0 / -1)."""
    iou = iou_np(anchors, gt)
    best = iou.max(1)
    positive = (best >= 0.7) | np.any((iou >= iou.max(0, keepdims=True) - 1e-6)
                                      & (iou.max(0, keepdims=True) > 0), axis=1)
    inside = np.all((anchors >= 0) & (anchors <= 1), axis=1)
    labels = np.where(positive, 1, np.where(best < 0.3, 0, -1))
    return np.where(inside, labels, -1)


@pytest.fixture(scope="module")
def tiny():
    model = build_model("faster_rcnn_small", **TINY)
    return model, head_for(model)


def targets():
    y = np.zeros((2, 4, 5), "float32")
    y[..., 4] = -1
    y[0, 0] = [0.1, 0.1, 0.45, 0.5, 1]
    y[0, 1] = [0.5, 0.45, 0.9, 0.8, 2]
    y[1, 0] = [0.25, 0.3, 0.7, 0.62, 0]
    return y


def test_outputs_and_head(tiny):
    model, head = tiny
    assert isinstance(head, FasterRCNNHead) and head.num_classes == 3
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    out = {k: np.asarray(v) for k, v in model(x).items()}
    a = 2 * 3  # scales x ratios
    assert out["rpn_objectness"].shape == (2, 4, 4, a)  # stride 16 on 64 pixels
    assert out["rpn_deltas"].shape == (2, 4, 4, 4 * a)
    assert out["proposals"].shape == (2, 16, 4)
    assert out["proposals"].min() >= 0 and out["proposals"].max() <= 1
    assert out["class_logits"].shape == (2, 16, 4) and out["box_deltas"].shape == (2, 16, 3, 4)
    assert model.get_layer("roi_pool").mode == "max"
    align = build_model("faster_rcnn_small", roi_mode="align", **TINY)
    assert align.get_layer("roi_pool").mode == "align"


def _perfect_rpn(head, y):
    """RPN outputs that a perfect RPN gives: objectness +-20 by the NumPy labels (0 for ignored
    anchors), deltas equal to the targets of the best-matching box."""
    from kerascv_apps.layers.box_ops import encode_deltas

    n = len(head.anchors)
    logits, deltas, labels = np.zeros((2, n), "float32"), np.zeros((2, n, 4), "float32"), []
    for b in range(2):
        gt = y[b, y[b, :, 4] >= 0, :4]
        lab = rpn_labels_np(head.anchors, gt)
        labels.append(lab)
        logits[b] = np.where(lab == 1, 20.0, np.where(lab == 0, -20.0, 0.0))
        deltas[b] = np.asarray(encode_deltas(head.anchors, gt[iou_np(head.anchors, gt).argmax(1)]))
    return logits.reshape(2, 4, 4, -1), deltas.reshape(2, 4, 4, -1), labels


def test_rpn_loss_labels_follow_the_paper(tiny):
    _, head = tiny
    y = targets()
    logits, deltas, labels = _perfect_rpn(head, y)
    assert all((lab == 1).sum() >= 1 and (lab == 0).sum() >= 1 for lab in labels)
    gt_boxes, gt_valid = y[..., :4], y[..., 4] >= 0
    outputs = dict(rpn_objectness=logits, rpn_deltas=deltas)
    salt = np.zeros((2, 1), "float32")
    assert float(head.rpn_loss(gt_boxes, gt_valid, outputs, salt)) < 1e-6
    # one positive anchor scored negative: the loss is its log loss over the samples
    flipped = logits.reshape(2, -1).copy()
    first_positive = int(np.flatnonzero(labels[0] == 1)[0])
    flipped[0, first_positive] = -20.0
    sampled = sum(min((lab == 1).sum(), 128) + min((lab == 0).sum(), 256 - min(
        (lab == 1).sum(), 128)) for lab in labels)
    got = float(head.rpn_loss(gt_boxes, gt_valid, dict(outputs, rpn_objectness=flipped.reshape(
        logits.shape)), salt))
    assert got == pytest.approx(20.0 / sampled, rel=1e-3)


def test_head_loss_and_decode_on_hand_built_outputs(tiny):
    _, head = tiny
    y = targets()
    proposals = np.tile(np.array([[0.0, 0.0, 0.1, 0.1]], "float32"), (2, 16, 1))
    proposals[0, 0], proposals[0, 1], proposals[1, 0] = y[0, 0, :4], y[0, 1, :4], y[1, 0, :4]
    labels = np.zeros((2, 16), int)
    labels[0, 0], labels[0, 1], labels[1, 0] = 2, 3, 1  # class + 1 (0 = background)
    logits = np.eye(4, dtype="float32")[labels] * 30.0
    outputs = dict(proposals=proposals, class_logits=logits,
                   box_deltas=np.zeros((2, 16, 3, 4), "float32"))
    gt_class = y[..., 4].astype(int)
    salt = np.zeros((2, 1), "float32")
    assert float(head.head_loss(y[..., :4], gt_class, gt_class >= 0, outputs, salt)) < 1e-6
    shifted = outputs["box_deltas"].copy()
    shifted[0, 0, 1, 0] = 0.5  # the true class's dy of a foreground RoI: smooth L1 = 0.125
    shifted[0, 0, 0, 0] = 5.0  # another class's deltas: not trained
    got = float(head.head_loss(y[..., :4], gt_class, gt_class >= 0,
                               dict(outputs, box_deltas=shifted), salt))
    # the filler proposals overlap no box (IoU 0, under the paper's background floor 0.1):
    # not sampled; the 3 foreground RoIs are the whole minibatch
    assert got == pytest.approx(0.125 / 3, rel=1e-4)
    decoded = {k: np.asarray(v) for k, v in head.decode(outputs, max_detections=8).items()}
    assert decoded["count"].tolist() == [2, 1]
    np.testing.assert_allclose(decoded["boxes"][0, :2], y[0, :2, :4], atol=1e-5)
    assert decoded["classes"][0, :2].tolist() == [1, 2] and decoded["classes"][1, 0] == 0


def test_fit_steps_through_the_detection_training_graph(tiny):
    model, _ = tiny
    train = training_graph(model)
    train.compile(optimizer=keras.optimizers.SGD(0.01))
    x = np.random.default_rng(1).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    before = [np.array(w) for w in train.trainable_weights]
    history = train.fit(x, targets(), batch_size=2, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    unchanged = [w.path for a, w in zip(before, train.trainable_weights)
                 if np.array_equal(a, np.asarray(w))]
    # every weight gets a gradient: RPN, backbone, fc layers, classifier, and the box
    # regressor, which trains on foreground RoIs only: an untrained RPN proposes none, the
    # ground-truth RoIs are (plain SGD: a weight without gradient stays bit-identical)
    assert not unchanged, unchanged


def test_ground_truth_boxes_join_the_rois(tiny):
    """The Fast R-CNN minibatch is drawn from the proposals plus the ground-truth boxes
    (pooled from the training model's feature map): with no proposal near an object, the
    ground-truth RoIs are the foreground, labelled with their class; padding rows are never
    sampled; the inference model's outputs (no feature map) give the proposals only."""
    model, _ = tiny
    train = training_graph(model)
    head = head_for(train)
    x = np.random.default_rng(2).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    y = targets()
    out = dict(train(x))
    assert out["roi_features"].shape == (2, 4, 4, 8)  # the stride-16 map RoI pooling reads
    far = np.tile(np.array([[0.0, 0.9, 0.08, 1.0]], "float32"), (2, 16, 1))  # IoU 0 with all
    # rows 8-15: a corner of the first box (IoU 0.29 and 0.28): background, in [0.1, 0.5)
    far[0, 8:], far[1, 8:] = [0.1, 0.1, 0.3, 0.3], [0.25, 0.3, 0.45, 0.5]
    gt_class = y[..., 4].astype(int)
    salt = np.zeros((2, 1), "float32")
    rois, logits, deltas, labels, pos, neg, index = (np.asarray(v) for v in head.sample_rois(
        y[..., :4], gt_class, gt_class >= 0, dict(out, proposals=far), salt))
    assert rois.shape == (2, 16 + 4, 4) and logits.shape == (2, 20, 4)
    assert deltas.shape == (2, 20, 3, 4) and np.isfinite(logits).all()
    np.testing.assert_allclose(rois[:, 16:][gt_class >= 0], y[..., :4][gt_class >= 0])
    assert [np.flatnonzero(p).tolist() for p in pos] == [[16, 17], [16]]
    assert labels[0, 16:18].tolist() == [2, 3] and labels[1, 16] == 1  # class + 1
    assert not neg[0, 18:].any() and not neg[1, 17:].any()  # padding rows
    # background: the proposals with IoU in [0.1, 0.5), not those under 0.1 (16 sampled per
    # image, min(128, post_nms_top_n): room for all 8)
    assert head.roi_batch_size == 16
    assert neg[:, 8:16].all() and not neg[:, :8].any() and not pos[:, :16].any()
    # the head's outputs on a ground-truth RoI are the model's head applied to that box: the
    # same logits as the model gives when its proposal is that box
    same = np.repeat(y[:, :1, :4], 16, axis=1)
    pooled = model.get_layer("roi_pool")([out["roi_features"], same])
    h = model.get_layer("fc6")(np.reshape(np.asarray(pooled), (2, 16, -1)))
    expected = np.asarray(model.get_layer("class_logits")(h))[:, 0]
    np.testing.assert_allclose(logits[:, 16], expected, rtol=1e-5, atol=1e-5)
    # without the feature map (the inference model's outputs): the proposals alone
    plain = {k: v for k, v in out.items() if k != "roi_features"}
    only = head.sample_rois(y[..., :4], gt_class, gt_class >= 0, dict(plain, proposals=far),
                            salt)
    assert np.asarray(only[0]).shape == (2, 16, 4) and not np.asarray(only[4]).any()


def test_bad_input_size_is_named():
    with pytest.raises(ValueError, match="divisible by 32"):
        build_model("faster_rcnn_small", input_shape=(100, 100, 3))
    with pytest.raises(ValueError, match="input_shape"):
        build_model("faster_rcnn_small", input_shape=(None, None, 3))
