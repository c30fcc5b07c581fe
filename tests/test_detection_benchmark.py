"""benchmarks/detection_vs_keras_hub.py: its arguments, and that it skips (or fails with
--require) with a message when keras-hub is missing. The benchmark itself is not run here."""


import numpy as np
import pytest

from tests.scripts import load_script



@pytest.fixture(scope="module")
def bench():
    return load_script("benchmarks/detection_vs_keras_hub.py")


def test_arguments_and_their_refusals(bench, capsys):
    a = bench.parse_args(["--epochs", "3", "--image-size", "96", "--alpha", "0.5"])
    assert (a.epochs, a.image_size, a.alpha, a.batch_size, a.require) == (3, 96, 0.5, 16, False)
    for bad, said in ((["--image-size", "100"], "multiple of 32"),
                      (["--epochs", "0"], "--epochs must be >= 1")):
        with pytest.raises(SystemExit):
            bench.parse_args(bad)
        assert said in capsys.readouterr().err


def test_without_keras_hub_it_says_so_and_measures_nothing(bench, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(bench, "keras_hub_available", lambda: False)
    monkeypatch.setattr(bench, "run", lambda a: pytest.fail("ran without keras-hub"))
    out = tmp_path / "r.json"
    assert bench.main(["--json", str(out)]) == 0
    assert "keras-hub is not installed" in capsys.readouterr().err and not out.exists()
    assert bench.main(["--require"]) == 2


def test_throughput_leaves_out_the_first_epoch_and_totals_all(bench):
    class Clock:
        wall, cpu = [10.0, 2.0, 2.0], [5.0, 1.0, 3.0]

    t = bench.throughput(Clock, 8)
    assert t == {"images_per_s_wall": 4.0, "images_per_s_cpu": 4.0, "timed_epochs": 2,
                 "train_wall_s": 14.0, "train_cpu_s": 9.0}
    Clock.wall, Clock.cpu = [4.0], [2.0]
    assert bench.throughput(Clock, 8)["images_per_s_wall"] == 2.0


def test_keras_hub_targets_and_detections_convert_to_ours(bench):
    """Targets to keras-hub's pixel dict and its decoded output back to packed rows."""
    y = np.array([[[0.1, 0.2, 0.5, 0.6, 2], [0, 0, 0, 0, -1]]], np.float32)
    t = bench.hub_targets(y, 100.0)
    assert np.allclose(t["boxes"][0, 0], [10, 20, 50, 60]) and list(t["labels"][0]) == [2, -1]
    out = {"boxes": np.array([[[10, 20, 50, 60], [0, 0, 120, 5]]], np.float32),
           "confidence": np.array([[0.9, 0.3]]), "labels": np.array([[2, 1]]),
           "num_detections": np.array([1])}
    packed = bench.hub_packed(out, 100.0, max_detections=3)
    assert packed.shape == (1, 3, 6)
    assert np.allclose(packed[0, 0], [0.1, 0.2, 0.5, 0.6, 2, 0.9])
    assert np.all(packed[0, 1:] == 0)  # past num_detections: padding


def test_the_keras_hub_side_builds_on_our_backbone(bench):
    pytest.importorskip("keras_hub")
    a = bench.parse_args(["--image-size", "64", "--alpha", "0.35"])
    model = bench.build_keras_hub(a, num_classes=3)
    out = model(np.zeros((1, 64, 64, 3), np.float32))
    anchors = (8 * 8 + 4 * 4 + 2 * 2) * 9  # P3-P5 of a 64-px image, 9 anchors
    assert tuple(out["cls_logits"].shape) == (1, anchors, 3)
    encoder = model.backbone.image_encoder
    assert encoder.name == "mobilenet_v2_encoder"
    trained = {id(w) for w in model.trainable_weights}
    assert encoder.trainable_weights and all(id(w) in trained
                                             for w in encoder.trainable_weights)
    # the paper's last-layer biases by default (keras-hub 0.32 puts the prior on the box head)
    prior = -np.log(99.0)
    cls_bias = np.asarray(model.classification_head.prediction_layer.bias)
    box_bias = np.asarray(model.box_head.prediction_layer.bias)
    assert np.allclose(cls_bias, prior) and np.allclose(box_bias, 0.0)
    shipped = bench.build_keras_hub(bench.parse_args(["--image-size", "64",
                                                      "--hub-head-init", "as-shipped"]), 3)
    assert np.allclose(np.asarray(shipped.box_head.prediction_layer.bias), prior)
    assert np.allclose(np.asarray(shipped.classification_head.prediction_layer.bias), 0.0)


def test_keras_hub_predictions_keep_one_batch_size_and_drop_the_padding(bench):
    """A short last batch is padded to the fixed size; padded rows never reach the results."""
    seen = []

    class Fake:
        def predict(self, batch, batch_size, verbose):
            seen.append(len(batch))
            k = batch[:, 0, 0, 0]  # each image's marker value
            boxes = np.zeros((len(batch), 2, 4), np.float32)
            boxes[:, 0] = [10, 10, 20, 20]
            return {"boxes": boxes, "confidence": np.stack([k / 100, 0 * k], -1),
                    "labels": np.ones((len(batch), 2)), "num_detections": np.ones(len(batch))}

    images = np.arange(1, 6, dtype=np.float32)[:, None, None, None] * np.ones((5, 4, 4, 3))
    packed = bench.hub_predict(Fake(), images, 40.0, batch_size=2)
    assert seen == [2, 2, 2]
    assert packed.shape == (5, 100, 6)
    assert np.allclose(packed[:, 0, 5], [0.01, 0.02, 0.03, 0.04, 0.05])
    assert np.allclose(packed[0, 0, :4], [0.25, 0.25, 0.5, 0.5])
