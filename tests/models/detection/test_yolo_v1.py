"""YOLO v1 (models/detection/yolo_v1.py): the published network at 448 and the paper's loss and
decode checked on predictions built from the targets by hand."""

import keras
import numpy as np
import pytest

from kerascv_apps import build_model
from kerascv_apps.models.detection.heads import head_for
from kerascv_apps.models.detection.yolo_v1 import YOLOv1Head


def _published_parameters():
    """Figure 3's layers, counted by hand: conv (k*k*in + 1) * out, FC (in + 1) * out."""
    convs = [(7, 3, 64), (3, 64, 192), (1, 192, 128), (3, 128, 256), (1, 256, 256),
             (3, 256, 512)]
    convs += [(1, 512, 256), (3, 256, 512)] * 4 + [(1, 512, 512), (3, 512, 1024)]
    convs += [(1, 1024, 512), (3, 512, 1024)] * 2 + [(3, 1024, 1024)] * 4
    total = sum((k * k * i + 1) * o for k, i, o in convs)
    return len(convs), total + (7 * 7 * 1024 + 1) * 4096 + (4096 + 1) * 7 * 7 * 30


def test_published_network_at_448():
    model = build_model("yolo_v1")
    assert tuple(model.input.shape[1:]) == (448, 448, 3)
    assert tuple(model.output.shape[1:]) == (7, 7, 30)  # S x S x (B * 5 + C), S=7 B=2 C=20
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    dense = [l for l in model.layers if isinstance(l, keras.layers.Dense)]
    n_convs, n_params = _published_parameters()
    assert (len(convs), len(dense)) == (n_convs, 2) == (24, 2)
    assert model.count_params() == n_params
    leaky = [l for l in model.layers if isinstance(l, keras.layers.LeakyReLU)]
    assert len(leaky) == 25 and all(abs(l.negative_slope - 0.1) < 1e-7 for l in leaky)
    assert model.get_layer("fc1_dropout").rate == 0.5
    assert [c.strides for c in convs].count((2, 2)) == 2  # the 7x7/2 stem and the last stage
    keras.utils.clear_session()


def _encode(targets, rows, cols, num_classes, noise=0.0):
    """Raw outputs a perfect YOLO v1 gives for ``targets``: predictor 0 of each object's cell
    holds the box (confidence 1 = its IoU), predictor 1 an empty box (confidence 0), the cell's
    class probabilities are one-hot."""
    depth = 10 + num_classes
    out = np.zeros((len(targets), rows, cols, depth), "float32")
    for b, rows_ in enumerate(targets):
        for y0, x0, y1, x1, c in rows_:
            if c < 0:
                continue
            cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
            i, j = int(cy * rows), int(cx * cols)
            out[b, i, j, :5] = [cx * cols - j, cy * rows - i, np.sqrt(x1 - x0),
                                np.sqrt(y1 - y0), 1.0]
            out[b, i, j, 5:10] = [0.5, 0.5, 0.0, 0.0, 0.0]
            out[b, i, j, 10 + int(c)] = 1.0
    return out


@pytest.fixture(scope="module")
def small():
    model = build_model("yolo_v1_small", input_shape=(128, 128, 3), num_classes=3)
    return model, head_for(model)


def test_small_configuration_and_its_head(small):
    model, head = small
    assert isinstance(head, YOLOv1Head)
    assert tuple(model.output.shape[1:]) == (4, 4, 13)  # stride 32 with final_stride=1
    assert (head.rows, head.cols, head.num_classes, head.boxes_per_cell) == (4, 4, 3, 2)


def test_loss_is_zero_on_a_perfect_prediction_and_weighs_each_term(small):
    _, head = small
    targets = np.full((2, 4, 5), 0.0, "float32")
    targets[..., 4] = -1
    targets[0, 0] = [0.1, 0.1, 0.4, 0.3, 2]
    targets[0, 1] = [0.6, 0.55, 0.9, 0.95, 0]
    targets[1, 0] = [0.3, 0.3, 0.7, 0.6, 1]
    perfect = _encode(targets, 4, 4, 3)
    assert float(head.loss(targets, perfect)) == pytest.approx(0.0, abs=1e-6)
    cell = (0, int(0.25 * 4), int(0.2 * 4))  # image 0, first object's cell
    for channel, weight in ((0, 5.0), (3, 5.0), (12, 1.0)):  # x, sqrt h, class probability
        moved = perfect.copy()
        moved[cell + (channel,)] += 0.1
        # batch of 2: the summed loss is averaged over the images
        expected = weight * 0.01 / 2
        if channel in (0, 3):  # the box moved: the confidence target (its IoU) moved too
            assert float(head.loss(targets, moved)) > expected
        else:
            assert float(head.loss(targets, moved)) == pytest.approx(expected, rel=1e-4)
    moved = perfect.copy()
    moved[1, 0, 0, 4] = 0.2  # a confidence in a cell without an object: lambda_noobj = 0.5
    assert float(head.loss(targets, moved)) == pytest.approx(0.5 * 0.04 / 2, rel=1e-4)
    # the responsible predictor is the one with the higher IoU: swap the two predictors
    swapped = perfect.copy()
    swapped[cell + (slice(0, 5),)], swapped[cell + (slice(5, 10),)] = (
        perfect[cell + (slice(5, 10),)], perfect[cell + (slice(0, 5),)])
    assert float(head.loss(targets, swapped)) == pytest.approx(0.0, abs=1e-6)


def test_decode_returns_the_encoded_boxes(small):
    _, head = small
    targets = np.full((1, 3, 5), 0.0, "float32")
    targets[..., 4] = -1
    targets[0, 0] = [0.1, 0.1, 0.4, 0.3, 2]
    targets[0, 1] = [0.6, 0.55, 0.9, 0.95, 0]
    out = {k: np.asarray(v) for k, v in head.decode(_encode(targets, 4, 4, 3),
                                                     max_detections=10).items()}
    assert out["count"].tolist() == [2] and out["boxes"].shape == (1, 10, 4)
    np.testing.assert_allclose(out["scores"][0, :2], [1.0, 1.0])
    got = sorted(zip(out["classes"][0, :2].tolist(), out["boxes"][0, :2].tolist()))
    np.testing.assert_allclose(got[0][1], targets[0, 1, :4], atol=1e-6)
    np.testing.assert_allclose(got[1][1], targets[0, 0, :4], atol=1e-6)
    assert [c for c, _ in got] == [0, 2]


def test_bad_input_size_is_named():
    with pytest.raises(ValueError, match="divisible"):
        build_model("yolo_v1", input_shape=(200, 200, 3))
