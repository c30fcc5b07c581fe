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
    # zeros instead of random initial weights: the same layers and counts, half the CPU time
    # and memory of drawing 271.7M random numbers
    model = build_model("yolo_v1", kernel_initializer="zeros")
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


# A non-square grid (rows != cols) catches a swapped row/column or x/y anywhere in the target
# assignment, the cell offsets or the decode; every expected number below is worked by hand.
@pytest.fixture(scope="module")
def wide():
    model = build_model("yolo_v1_small", input_shape=(128, 160, 3), num_classes=3)
    return head_for(model)


# One object: y_min, x_min, y_max, x_max = 0.30, 0.62, 0.50, 0.78 (class 1). Centre (0.40, 0.70)
# on the 4 x 5 grid -> row floor(1.6) = 1, column floor(3.5) = 3; x = 3.5 - 3 = 0.5,
# y = 1.6 - 1 = 0.6 (inside the cell); sqrt w = sqrt(0.16) = 0.4, sqrt h = sqrt(0.2) (image).
_BOX = [0.30, 0.62, 0.50, 0.78, 1]


def _hand_encoded(conf=1.0, probs=(0.0, 1.0, 0.0)):
    out = np.zeros((1, 4, 5, 13), "float32")
    out[0, 1, 3, :5] = [0.5, 0.6, 0.4, np.sqrt(0.2), conf]
    out[0, 1, 3, 10:] = probs
    return out


def _one_target():
    targets = np.zeros((1, 3, 5), "float32")
    targets[..., 4] = -1
    targets[0, 0] = _BOX
    return targets


def test_target_assignment_on_a_non_square_grid(wide):
    assert (wide.rows, wide.cols) == (4, 5)
    targets, perfect = _one_target(), _hand_encoded()
    assert float(wide.loss(targets, perfect)) == pytest.approx(0.0, abs=1e-6)
    transposed = np.zeros_like(perfect)  # the same prediction in cell (3, 1): wrong cell
    transposed[0, 3, 1] = perfect[0, 1, 3]
    assert float(wide.loss(targets, transposed)) > 1.0
    swapped = perfect.copy()  # x and y (and sqrt w, sqrt h) exchanged
    swapped[0, 1, 3, :4] = perfect[0, 1, 3, [1, 0, 3, 2]]
    assert float(wide.loss(targets, swapped)) > 0.05


def test_confidence_target_is_the_iou_and_class_loss_only_in_object_cells(wide):
    targets = _one_target()
    # x moved by a quarter cell = 0.05 of the image: the box (w 0.16, h 0.2) keeps an
    # intersection of 0.11 x 0.2 = 0.022 of a union 2 * 0.032 - 0.022 = 0.042 -> IoU 11/21.
    moved = _hand_encoded(conf=11.0 / 21.0)
    moved[0, 1, 3, 0] += 0.25
    # only the coordinate term remains: lambda_coord * 0.25^2
    assert float(wide.loss(targets, moved)) == pytest.approx(5.0 * 0.0625, rel=1e-4)
    moved[0, 1, 3, 4] = 1.0  # confidence 1 instead of the IoU costs (1 - 11/21)^2
    assert float(wide.loss(targets, moved)) == pytest.approx(
        5.0 * 0.0625 + (10.0 / 21.0) ** 2, rel=1e-4)
    noisy = _hand_encoded()
    noisy[0, :, :, 10:] += np.random.default_rng(0).uniform(0.2, 0.9, (4, 5, 3))
    noisy[0, 1, 3, 10:] = [0.0, 1.0, 0.0]
    assert float(wide.loss(targets, noisy)) == pytest.approx(0.0, abs=1e-6)  # empty cells
    noisy[0, 1, 3, 10:] = [0.0, 0.9, 0.3]  # the object's cell: sum squared 0.01 + 0.09
    assert float(wide.loss(targets, noisy)) == pytest.approx(0.1, rel=1e-4)


def test_decode_is_the_exact_inverse_and_scores_are_confidence_times_class(wide):
    out = {k: np.asarray(v) for k, v in wide.decode(
        _hand_encoded(conf=0.8, probs=(0.1, 0.6, 0.3)), max_detections=5).items()}
    assert out["count"].tolist() == [3]  # one box per class (per-class NMS), scores > 0.05
    np.testing.assert_allclose(out["scores"][0, :3], [0.48, 0.24, 0.08], rtol=1e-5)
    assert out["classes"][0, :3].tolist() == [1, 2, 0]
    np.testing.assert_allclose(out["boxes"][0, :3], [_BOX[:4]] * 3, atol=1e-6)


def test_float32_tflite_has_the_four_detection_outputs_and_the_keras_detections():
    """A grid detector has no anchors for DETECTION_POSTPROCESS: the task's export puts the
    head's decode and NMS in the file, with the anchor files' outputs in the same order."""
    from kerascv_apps.export import detection_tflite as dt
    from kerascv_apps.tasks.detection import DetectionTask

    keras.utils.set_random_seed(3)
    model = build_model("yolo_v1_small", input_shape=(64, 64, 3), num_classes=3)
    # a confident, varied last layer: many boxes of every class above the score threshold
    fc2 = model.get_layer("fc2")
    kernel, bias = fc2.get_weights()
    rng = np.random.default_rng(3)
    fc2.set_weights([rng.normal(0, 0.05, kernel.shape).astype("float32"),
                     rng.uniform(0.2, 0.9, bias.shape).astype("float32")])
    task = DetectionTask(num_classes=3, class_names=["a", "b", "c"], max_detections=10)
    data = task.convert_tflite(model, "float32", None, None, "uint8")
    images = rng.integers(0, 256, (3, 64, 64, 3)).astype("uint8")
    litert = dt.run_litert(data, images)  # reads the outputs by position
    expected = task.decode(model, model(images.astype("float32")))
    for i, got in enumerate(litert):
        n = int(expected["count"][i])
        assert 3 <= n == len(got["scores"]) <= 10
        np.testing.assert_allclose(got["scores"], np.asarray(expected["scores"][i, :n]),
                                   atol=1e-5)
        np.testing.assert_allclose(got["boxes"], np.asarray(expected["boxes"][i, :n]),
                                   atol=1e-5)
        assert got["classes"].tolist() == np.asarray(expected["classes"][i, :n]).tolist()
    # what the export's verification does: the runner's outputs packed by the task
    from kerascv_apps.export.tflite import TFLiteRunner

    packed = task.prediction_outputs(TFLiteRunner(data)(images[:1]))
    reference = np.asarray(task.prediction_model(model).predict(images[:1], verbose=0))
    assert packed.shape == reference.shape == (1, 10, 6)
    np.testing.assert_allclose(packed, reference, atol=1e-5)

    # outputs put back by name whatever order the converter leaves them in (phone code reads
    # them by position): a file whose outputs are in the signature's alphabetical order
    import flatbuffers
    from ai_edge_litert import schema_py_generated as sc

    tfl = sc.ModelT.InitFromObj(sc.Model.GetRootAsModel(data, 0))
    names = [t.name.decode() for t in tfl.signatureDefs[0].outputs]
    index = {n: int(t.tensorIndex) for n, t in zip(names, tfl.signatureDefs[0].outputs)}
    tfl.subgraphs[0].outputs = [index[n] for n in sorted(index)]
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(tfl.Pack(builder), b"TFL3")
    shuffled = bytes(builder.Output())
    assert [o.shape[-1:] for o in TFLiteRunner(shuffled)(images[:1])][2:] == [(1,), (10,)]
    fixed = dt.order_outputs_by_name(shuffled, dt.DETECTION_OUTPUT_NAMES)
    np.testing.assert_allclose(task.prediction_outputs(TFLiteRunner(fixed)(images[:1])),
                               reference, atol=1e-5)
    with pytest.raises(dt.TFLiteConversionError, match="expected"):
        dt.order_outputs_by_name(fixed, ("boxes", "classes", "scores"))
    # int8 would quantize the NMS IoUs (LiteRT's int8 DIV stops on them): refused, named
    with pytest.raises(dt.TFLiteConversionError, match="yolo_v1_small.*no int8 file"):
        task.convert_tflite(model, "int8", images.astype("float32"), None, "uint8")
