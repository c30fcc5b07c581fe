"""The detection task end to end with a test-only detection family (registered here, removed
after): training through the head's loss (a dict-output model), saving and a fresh-process
reload, COCO evaluation by pycocotools (figures checked against hand-worked cases), plots,
``kerascv-apps train / evaluate / predict``, SavedModel serving, and a malformed folder refused
before anything is written."""

import json
import os
import shlex
import subprocess
import sys

import numpy as np
import pytest

from kerascv_apps.models.detection.heads import PAD_CLASS
from kerascv_apps.tasks import get_task

TOY = "toy_box_detector"
FAMILY = "toy_box"
HERE = os.path.dirname(os.path.abspath(__file__))

# the toy family as source, so a fresh process (reload, CLI) registers it the same way
TOY_SOURCE = '''
import keras
from keras import ops

from kerascv_apps.models.detection import heads
from kerascv_apps.registry import register_model


class ToyBoxHead(heads.DetectionHead):
    """Regresses the first object's box and class (one detection per image)."""

    def loss(self, y_true, y_pred):
        first = y_true[:, 0]
        has = ops.cast(first[:, 4] >= 0, "float32")
        if any(layer.name == "box_loss_giou" for layer in self.model.layers):
            from kerascv_apps.models.detection.ssd import giou_loss

            box = giou_loss(y_pred["boxes"], first[:, :4])
        else:
            box = ops.mean(ops.abs(first[:, :4] - y_pred["boxes"]), axis=-1)
        cls = keras.losses.sparse_categorical_crossentropy(
            ops.maximum(first[:, 4], 0), y_pred["logits"], from_logits=True)
        return ops.sum(has * (box + cls)) / ops.maximum(ops.sum(has), 1.0)

    def decode(self, y_pred, max_detections=100, score_threshold=0.05, iou_threshold=0.5):
        p = ops.softmax(y_pred["logits"])
        score = ops.max(p, axis=-1)
        keep = ops.cast(score > score_threshold, "float32")
        return {"boxes": ops.expand_dims(y_pred["boxes"], 1),
                "classes": ops.expand_dims(ops.cast(ops.argmax(p, axis=-1), "int32"), 1),
                "scores": ops.expand_dims(score * keep, 1),
                "count": ops.cast(keep, "int32")}


def register():
    heads.register_head("toy_box")(ToyBoxHead)

    @register_model("toy_box_detector", task="detection", family="toy_box")
    def toy_box_detector(input_shape=(32, 32, 3), num_classes=3, box_loss="smooth_l1"):
        # box_loss: the head's box loss, L1 or 1 - GIoU (named by a layer the head looks for)
        x = keras.Input(input_shape)
        h = keras.layers.Rescaling(1 / 255.0)(x)
        h = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(h)
        h = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(h)
        h = keras.layers.Flatten()(h)
        boxes = keras.layers.Dense(4, activation="sigmoid", name="boxes")(h)
        boxes = keras.layers.Identity(name=f"box_loss_{box_loss}")(boxes)
        return keras.Model(x, {"boxes": boxes,
                               "logits": keras.layers.Dense(num_classes, name="logits")(h)},
                           name="toy_box_detector")
'''


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    from kerascv_apps.models.detection import heads
    from kerascv_apps.registry import MODELS

    folder = tmp_path_factory.mktemp("toyfamily")
    (folder / "toy_box_family.py").write_text(TOY_SOURCE)
    sys.path.insert(0, str(folder))
    import toy_box_family

    MODELS.load_all()
    toy_box_family.register()
    yield str(folder)
    MODELS.unregister(TOY)
    heads._HEADS.pop(FAMILY, None)
    sys.path.remove(str(folder))
    sys.modules.pop("toy_box_family", None)


def _run_cli(args, capsys, cwd):
    """``kerascv-apps ARGS`` in this process (the toy family is registered here)."""
    import types

    from kerascv_apps.cli import main

    capsys.readouterr()
    old = os.getcwd()
    os.chdir(cwd)
    try:
        code = main(args)
    except SystemExit as e:
        code = e.code
    finally:
        os.chdir(old)
    out = capsys.readouterr()
    return types.SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)


# --- pycocotools figures on hand-worked cases -------------------------------------------------
def _target(*rows, max_boxes=4):
    out = np.zeros((max_boxes, 5), np.float32)
    out[:, 4] = PAD_CLASS
    if rows:
        out[:len(rows)] = rows
    return out


def _dets(*rows, k=5):
    out = np.zeros((k, 6), np.float32)
    if rows:
        out[:len(rows)] = rows
    return out


def _task(num_classes=2):
    task = get_task("detection", num_classes=num_classes,
                    class_names=[f"c{i}" for i in range(num_classes)])
    task.image_size = (100, 100)
    return task


def test_perfect_detections_score_one_and_nothing_scores_zero():
    task = _task()
    targets = [_target([0.1, 0.1, 0.5, 0.5, 0], [0.5, 0.5, 0.9, 0.8, 1]),
               _target()]  # a background image
    perfect = [_dets([0.1, 0.1, 0.5, 0.5, 0, 0.9], [0.5, 0.5, 0.9, 0.8, 1, 0.8]), _dets()]
    results = task.evaluate(targets, perfect)
    assert results["map_50"] == pytest.approx(1.0) and results["map_50_95"] == pytest.approx(1.0)
    assert results["background_images"] == 1 and results["num_objects"] == 2
    assert [r["ap"] for r in results["per_class"]] == [pytest.approx(1.0)] * 2
    assert task.score(targets, [_dets(), _dets()]) == 0.0


def test_ranked_false_positive_gives_cocos_interpolated_ap():
    # two objects of one class; detections: hit (0.9), false positive on the background image
    # (0.8), hit (0.7). Precision 1 up to recall 0.5, then 2/3: COCO's 101-point interpolation
    # gives (51 * 1 + 50 * 2/3) / 101
    task = _task(1)
    targets = [_target([0.1, 0.1, 0.4, 0.4, 0], [0.6, 0.6, 0.9, 0.9, 0]), _target()]
    preds = [_dets([0.1, 0.1, 0.4, 0.4, 0, 0.9], [0.6, 0.6, 0.9, 0.9, 0, 0.7]),
             _dets([0.2, 0.2, 0.5, 0.5, 0, 0.8])]
    results = task.evaluate(targets, preds)
    expected = (51 + 50 * 2 / 3) / 101
    assert results["map_50"] == pytest.approx(expected, abs=1e-6)
    assert results["map_50_95"] == pytest.approx(expected, abs=1e-6)  # exact boxes: any IoU
    # a box shifted to IoU 0.6 counts at 0.5 and 0.55 only (2 of the 10 thresholds)
    shifted = [_dets([0.1, 0.1, 0.4, 0.4, 0, 0.9], [0.6, 0.6 + 0.075, 0.9, 0.9 + 0.075, 0, 0.7]),
               _dets()]
    results = task.evaluate(targets, shifted)
    assert results["map_50"] == pytest.approx(1.0)
    assert results["map_75"] == pytest.approx(50 / 101 * 1 + 1 / 101, abs=0.02)
    assert results["map_50_95"] < results["map_50"]


def test_evaluate_reports_every_coco_figure_and_writes_pr_curves(tmp_path):
    task = _task()
    targets = [_target([0.1, 0.1, 0.5, 0.5, 0], [0.5, 0.5, 0.9, 0.8, 1])] * 3
    preds = [_dets([0.1, 0.1, 0.5, 0.5, 0, 0.9], [0.5, 0.5, 0.9, 0.8, 0, 0.6])] * 3
    results = task.evaluate(targets, preds)
    for key in ("map_50_95", "map_50", "map_75", "map_small", "map_medium", "map_large",
                "mar_100", "per_class", "pr_curves"):
        assert key in results
    assert results["map_small"] is None  # every box here is 40 x 40 px or larger: no small one
    by_class = {r["class"]: r for r in results["per_class"]}
    assert by_class["c0"]["ap_50"] == pytest.approx(1.0) and by_class["c1"]["ap_50"] == 0.0
    task.keep_images(np.zeros((3, 100, 100, 3), np.float32))
    paths = task.plots(results, str(tmp_path / "plots"))
    assert [os.path.basename(p) for p in paths] == ["pr_curves.png", "predictions_vs_truth.png"]
    assert all(os.path.getsize(p) > 0 for p in paths)
    json.dumps(results)  # evaluation.json takes it as is


def test_detection_postprocess_outputs_are_packed():
    task = _task()
    boxes = np.array([[[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.6, 0.6], [0, 0, 0, 0]]], np.float32)
    packed = task.prediction_outputs([boxes, np.array([[1.0, 0.0, 0.0]]),
                                      np.array([[0.9, 0.4, 0.0]]), np.array([2.0])])
    np.testing.assert_allclose(packed[0, :2], [[0.1, 0.2, 0.3, 0.4, 1, 0.9],
                                               [0.5, 0.5, 0.6, 0.6, 0, 0.4]], atol=1e-6)
    assert not packed[0, 2].any()


# --- training, saving, CLI, serving with the toy family --------------------------------------
@pytest.fixture(scope="module")
def trained(toy, tmp_path_factory):
    from kerascv_apps.experiment import train_model

    root = tmp_path_factory.mktemp("detrun")
    run = train_model(TOY, "shapes_detection", str(root / "run"), epochs=2, batch_size=8,
                      learning_rate=3e-3, augment="tf", precision="float32", verbose=0,
                      dataset_kwargs={"image_size": 32, "num_train": 32, "num_val": 8,
                                      "num_test": 8},
                      evaluate=True)
    return run, root


def test_training_goes_through_the_head_loss_and_saves_a_reloadable_model(trained, toy):
    from kerascv_apps.models.detection.heads import head_for

    run, root = trained
    history = run.result.history
    assert len(history["loss"]) == 2 and np.isfinite(history["val_loss"]).all()
    # the 8 validation images are one batch: val_loss is the head's loss on them
    x, y = (np.stack(a) for a in zip(*run.splits.val.as_numpy_iterator()))
    expected = float(head_for(run.model).loss(y, run.model(x, training=False)))
    assert history["val_loss"][-1] == pytest.approx(expected, rel=1e-4) and expected > 0
    evaluation = run.evaluation
    assert 0.0 <= evaluation["map_50"] <= 1.0 and "map_50_95" in evaluation
    assert os.path.isfile(os.path.join(run.run_dir, "plots", "pr_curves.png"))
    assert os.path.isfile(os.path.join(run.run_dir, "plots", "predictions_vs_truth.png"))
    # a fresh process importing only kerascv_apps (and the family) reloads it, safe_mode on
    code = ("import sys, numpy as np, toy_box_family; toy_box_family.register(); "
            "import kerascv_apps; m = kerascv_apps.load_model(sys.argv[1], compile=False); "
            "out = m(np.zeros((1, 32, 32, 3), 'float32')); "
            "print(m.name, sorted(out))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [toy, os.path.dirname(HERE), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", code, run.result.model_path],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-3:] == [TOY, "['boxes',", "'logits']"]


def test_cli_evaluate_and_predict(trained, toy, tmp_path, capsys):
    from PIL import Image

    run, _ = trained
    image = np.zeros((48, 64, 3), np.uint8)
    image[10:30, 20:50] = (220, 40, 40)
    Image.fromarray(image).save(tmp_path / "photo.png")
    proc = _run_cli(["evaluate", "--model-path", run.result.model_path, "--out",
                     str(tmp_path / "eval")], capsys, str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(tmp_path / "eval" / "evaluation.json") as f:
        evaluation = json.load(f)
    assert evaluation["map_50"] == pytest.approx(run.evaluation["map_50"], abs=1e-6)
    proc = _run_cli(["predict", "--model-path", run.result.model_path, "--out",
                     str(tmp_path / "pred"), str(tmp_path / "photo.png")], capsys, str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["image_size"] == [48, 64] and result["count"] == len(result["detections"])
    for det in result["detections"]:
        assert det["class_name"] in ("circle", "rectangle", "triangle")
        assert len(det["box"]) == 4 and 0 <= det["score"] <= 1
    assert os.path.isfile(result["picture"])


def test_savedmodel_serves_boxes_class_ids_names_scores_and_count(trained, tmp_path):
    import tensorflow as tf

    from kerascv_apps.export.savedmodel import export_savedmodel

    run, _ = trained
    path = export_savedmodel(run.model, str(tmp_path / "sm"), "toy", run.task)
    served = tf.saved_model.load(path).signatures["serving_default"]
    images = np.round(np.stack([x for x, _ in run.splits.test.take(2).as_numpy_iterator()]))
    out = {k: v.numpy() for k, v in served(images=tf.constant(images)).items()}
    assert set(out) == {"boxes", "class_ids", "class_names", "scores", "count"}
    assert out["boxes"].shape == (2, 1, 4) and out["count"].shape == (2,)
    packed = np.asarray(run.task.prediction_model(run.model)(images))
    np.testing.assert_allclose(out["scores"], packed[..., 5], atol=1e-5)
    valid = out["scores"] > 0
    names = np.array(run.task.class_names)[out["class_ids"]]
    assert (out["class_names"][valid].astype(str) == names[valid]).all()
    # image bytes in: the same detections as the pixels they encode
    import io

    from PIL import Image

    encoded = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image.astype(np.uint8)).save(buffer, format="PNG")
        encoded.append(buffer.getvalue())
    from_bytes = tf.saved_model.load(path).signatures["serving_bytes"](
        image_bytes=tf.constant(encoded))
    np.testing.assert_allclose(from_bytes["scores"].numpy(), out["scores"], atol=1e-5)
    np.testing.assert_allclose(from_bytes["boxes"].numpy(), out["boxes"], atol=1e-5)


def test_malformed_folder_is_refused_before_the_run_dir_is_written(toy, tmp_path, capsys):
    from tests.test_detection_data import _examples, write_yolo

    root = tmp_path / "yolo"
    root.mkdir()
    write_yolo(str(root), _examples(6))
    with open(root / "labels" / sorted(os.listdir(root / "labels"))[0], "a") as f:
        f.write("7 0.5 0.5 0.1 0.1\n")
    proc = _run_cli(["train", "--model", TOY, "--dataset", f"yolo_folder:{root}",
                     "--run-dir", str(tmp_path / "run"), "--epochs", "1"], capsys, str(tmp_path))
    assert proc.returncode != 0
    assert "class id 7 is not one of the 3 classes" in proc.stderr, proc.stderr[-2000:]
    assert str(root / "labels") in proc.stderr
    assert not (tmp_path / "run").exists()


def test_tune_scores_trials_by_validation_ap50_and_tunes_the_families_arguments(toy, tmp_path,
                                                                                  capsys):
    """``kerascv-apps tune`` on a detection model: 2 trials scored by COCO AP50 of the trial's
    model on the validation split (not the loss, which the tuned box loss rescales), the
    detection space's builder arguments tuned where the builder takes them (the toy takes
    ``box_loss`` only), the result and the best train command written."""
    from kerascv_apps.data import load_dataset
    from kerascv_apps.experiment import predict_split
    from kerascv_apps.tasks.detection import DetectionTask

    import kerascv_apps

    data = {"image_size": 32, "num_train": 16, "num_val": 8, "num_test": 8}
    proc = _run_cli(["tune", "--model", TOY, "--dataset", "shapes_detection",
                     *[a for k, v in data.items() for a in ("--dataset-arg", f"{k}={v}")],
                     "--run-dir", str(tmp_path / "search"), "--max-trials", "2", "--epochs", "1",
                     "--batch-size", "8"], capsys, str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = json.loads((tmp_path / "search" / "best_hyperparameters.json").read_text())
    assert saved["trials"] == 2 and saved["objective"] == "val_map_50"
    best = saved["best_hyperparameters"]
    assert best["box_loss"] in DetectionTask.tuning_model_space["box_loss"]
    assert not {"focal_gamma", "anchor_size", "roi_mode", "dropout"} & set(best)
    command = shlex.split((tmp_path / "search" / "best_train_command.txt").read_text())
    pairs = list(zip(command, command[1:]))
    assert ("--model-arg", f"box_loss={json.dumps(best['box_loss'])}") in pairs
    assert ("--dataset-arg", "image_size=32") in pairs  # trains on the data it was tuned on
    # each trial's score is the AP50 of its saved model on the validation split
    splits = load_dataset("shapes_detection", **data)
    for trial in (tmp_path / "search" / "trials").iterdir():
        run = json.loads((trial / "run.json").read_text())
        model = kerascv_apps.load_model(str(trial / "model.keras"), compile=False)
        assert any(layer.name == f"box_loss_{run['model_kwargs']['box_loss']}"
                   for layer in model.layers)
        task = DetectionTask.from_splits(splits)
        score = task.score(*predict_split(model, task, splits.val))
        assert any(t["score"] == pytest.approx(score, abs=1e-6)
                   and t["hyperparameters"]["box_loss"] == run["model_kwargs"]["box_loss"]
                   for t in saved["all"])
