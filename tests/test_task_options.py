"""Task options (--task-arg / --task-args-file / task_kwargs) and --augment albumentations
keeping every source's epoch length, through the pipeline and through ``train``."""

import csv
import inspect
import json
import math
import os

import numpy as np
import pytest
from PIL import Image

from kerascv_apps.cli import main
from kerascv_apps.tasks.options import OPTIONS, check_task_kwargs

TINY_SHAPES = ["--dataset", "shapes", "--dataset-arg", "image_size=32", "--dataset-arg",
               "num_train=16", "--dataset-arg", "num_val=4", "--dataset-arg", "num_test=4",
               "--model-arg", "base_filters=4", "--model-arg", "depth=2", "--batch-size", "8"]
DATA_FOLLOWING = {"num_classes", "class_names", "scale", "degradation"}  # set by the data, not by the user


def test_declared_options_are_exactly_the_constructor_arguments():
    from kerascv_apps.tasks.base import get_task_class

    for task_name, options in OPTIONS.items():
        params = {n for n, p in inspect.signature(get_task_class(task_name).__init__)
                  .parameters.items() if n != "self" and p.kind != p.VAR_KEYWORD}
        assert {o.name for o in options} == params - DATA_FOLLOWING, task_name


@pytest.mark.parametrize("task, kwargs, message", [
    ("segmentation", {"lossx": "dice"}, "lossx: not an option of the segmentation task; "
                                        "accepted: loss=ce|dice|focal|ce+dice"),
    ("segmentation", {"loss": "dicee"}, "loss='dicee': unknown term 'dicee'"),
    ("segmentation", {"loss": "ce+-1*dice"}, "not a positive number"),
    ("segmentation", {"class_weights": [1, -2, 1]}, "class_weights"),
    ("segmentation", {"class_weights": "median"}, "median_frequency"),
    ("segmentation", {"ignore_index": 256}, "INT 0..255"),
    ("segmentation", {"border_weights": "maybe"}, "true|false"),
    ("super_resolution", {"pixel_loss": "l2"}, "l1|mse|l1_y|mse_y"),
    ("super_resolution", {"adversarial": 1}, "true|false"),
    ("super_resolution", {"content_layer": "block6_conv1"}, "VGG19"),
    ("super_resolution", {"degradations": ["lanczos"]}, "lanczos"),
    ("classification", {"top_k": 0}, "INT >= 1"),
    ("classification", {"loss": "focal"}, "accepted: top_k"),
    ("detection", {"box_augment": "rotate"}, "full|flip"),
])
def test_bad_task_options_are_refused_naming_the_accepted_ones(task, kwargs, message):
    with pytest.raises(ValueError, match="--task-arg") as e:
        check_task_kwargs(task, kwargs)
    assert message in str(e.value)


def test_good_task_options_are_parsed():
    assert check_task_kwargs("segmentation", {"loss": "ce+0.5*dice", "class_weights": "1,2,3",
                                              "ignore_index": "0", "border_weights": "true"}) == \
        {"loss": "ce+0.5*dice", "class_weights": [1.0, 2.0, 3.0], "ignore_index": 0,
         "border_weights": True}
    assert check_task_kwargs("super_resolution", {"degradations": "bicubic,area"}) == \
        {"degradations": ("bicubic", "area")}
    assert check_task_kwargs("detection", {"box_augment": "flip"}) == {"box_augment": "flip"}


def test_options_reach_the_constructor_never_replacing_methods():
    from kerascv_apps.data import load_dataset
    from kerascv_apps.experiment import task_for
    from kerascv_apps.losses.segmentation import DiceLoss, median_frequency_weights

    splits = load_dataset("shapes", image_size=32, num_train=6, num_val=1, num_test=1)
    task = task_for("unet_same", splits, {"loss": "dice", "class_weights": "median_frequency"})
    assert callable(task.loss) and isinstance(task.loss(), DiceLoss)  # the method survives
    expected = median_frequency_weights(splits.train, 4)
    np.testing.assert_allclose(task.class_weights, expected)
    assert expected.min() < 0.9 * expected.max()  # shapes are imbalanced: weights differ
    assert task.option_values()["loss"] == "dice"
    with pytest.raises(ValueError, match="4 classes"):
        task_for("unet_same", splits, {"class_weights": [1.0, 2.0]})


def _albumentations_sources(tmp_path):
    """One small split of every source kind: in memory, streamed folders, TFRecord, tfds."""
    import tensorflow_datasets as tfds

    from kerascv_apps.data import load_dataset
    from kerascv_apps.data.tfrecord import prepare_tfrecords

    rng = np.random.default_rng(0)
    folder = tmp_path / "cls"
    for c in ("a", "b"):
        os.makedirs(folder / c)
        for i in range(9):
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(
                folder / c / f"{i}.png")
    seg = tmp_path / "seg"
    for sub in ("images", "masks"):
        os.makedirs(seg / sub)
    for i in range(12):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(
            seg / "images" / f"{i}.png")
        Image.fromarray(rng.integers(0, 3, (16, 16)).astype(np.uint8)).save(
            seg / "masks" / f"{i}.png")
    shapes = load_dataset("shapes", image_size=32, num_train=11, num_val=2, num_test=2)
    prepare_tfrecords(shapes, str(tmp_path / "rec"), 4)
    with tfds.testing.mock_data(num_examples=10):
        mnist = load_dataset("mnist")
    return {"digits": ("lenet5", load_dataset("digits")), "shapes": ("unet_same", shapes),
            "folder": ("lenet5", load_dataset(f"folder:{folder}", image_size=16)),
            "seg_folder": ("unet_same", load_dataset(f"seg_folder:{seg}", num_classes=3)),
            "tfrecord": ("unet_same", load_dataset(f"tfrecord:{tmp_path / 'rec'}")),
            "tfds": ("lenet5", mnist)}


def test_albumentations_keeps_the_epoch_length_of_every_source(tmp_path):
    from kerascv_apps.experiment import pipelines, task_for

    for name, (model, splits) in _albumentations_sources(tmp_path).items():
        task = task_for(model, splits)
        train = pipelines(task, splits, 4, augment="albumentations")[0]
        expected = math.ceil(splits.sizes["train"] / 4)
        assert int(train.cardinality()) == expected, name  # what the schedule/bars read
        batches = list(train.as_numpy_iterator())
        assert len(batches) == expected, name
        assert sum(len(x) for x, _ in batches) == splits.sizes["train"], name
        if splits.task == "segmentation":  # masks stay masks: class ids or the ignore value
            labels = set(np.unique(np.concatenate([y.ravel() for _, y in batches])).tolist())
            assert labels <= set(range(splits.num_classes)) | {255}, (name, labels)
            assert all(x.shape[:3] == y.shape[:3] for x, y in batches), name


def _history(run):
    with open(run / "history.csv") as f:
        return list(csv.DictReader(f))


def test_train_albumentations_with_the_default_schedule_on_digits(tmp_path, capsys):
    run = tmp_path / "digits"
    assert main(["train", "--model", "lenet5", "--run-dir", str(run), "--epochs", "2",
                 "--augment", "albumentations", "--early-stopping", "1"]) == 0
    out = capsys.readouterr()
    assert "ran out of data" not in out.out + out.err
    assert 0.5 < float(out.out.split("accuracy on test: ")[1].split(";")[0]) <= 1
    config = json.loads((run / "train_config.json").read_text())
    assert config["schedule"] == "cosine" and len(_history(run)) == 2


def test_task_arg_and_task_args_file_change_the_loss_shapes_albumentations(tmp_path, capsys):
    """Defaults (cosine schedule) with albumentations on shapes; loss=dice from the command
    line and from a file give the same recorded loss and first epoch, unlike the default."""
    runs = {}
    options = tmp_path / "options.json"
    options.write_text(json.dumps({"loss": "dice", "ignore_index": 255}))
    for name, extra in (("default", []), ("arg", ["--task-arg", "loss=dice"]),
                        ("file", ["--task-args-file", str(options)])):
        runs[name] = tmp_path / name
        assert main(["train", "--model", "unet_same", *TINY_SHAPES, "--epochs", "1",
                     "--augment", "albumentations", "--run-dir", str(runs[name]), *extra]) == 0
    capsys.readouterr()
    info = {k: json.loads((r / "run.json").read_text()) for k, r in runs.items()}
    assert info["default"]["task_options"]["loss"] == "ce"
    assert info["arg"]["task_options"]["loss"] == info["file"]["task_options"]["loss"] == "dice"
    assert info["arg"]["task_kwargs"] == {"loss": "dice"}
    loss = {k: float(_history(r)[0]["loss"]) for k, r in runs.items()}
    assert loss["arg"] == pytest.approx(loss["file"], rel=1e-5)
    assert 0 < loss["arg"] <= 1 and abs(loss["arg"] - loss["default"]) > 0.05  # dice is in [0, 1]
    evaluation = json.loads((runs["arg"] / "evaluation.json").read_text())
    assert math.isfinite(evaluation["miou"])


def test_unknown_task_arg_exits_2_naming_the_accepted_ones(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--model", "unet_same", "--dataset", "shapes", "--run-dir", str(run),
                 "--task-arg", "loss_spec=dice"]) == 2
    err = capsys.readouterr().err
    assert "loss_spec" in err and "loss=ce|dice|focal|ce+dice" in err and "class_weights" in err
    assert not run.exists()
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    assert main(["train", "--model", "lenet5", "--run-dir", str(run), "--task-args-file",
                 str(bad)]) == 2
    assert "expected a JSON object" in capsys.readouterr().err
