"""A fourth task is one module: a toy task registered here (no edit outside this file) goes
through every place that used to branch on a task name: registry checks, the TFRecord writer
and source, the tfds mapping, the phone contract and TFLite metadata, SavedModel class names,
the tuner's space and train command, and tfmot's loss."""

import os
import re

import numpy as np
import pytest

import kerascv_apps
from kerascv_apps.registry import MODELS, TASKS, list_models, register_model
from kerascv_apps.tasks.base import Task, get_task, register_task

TOY = "toy_brightness"


class ToyBrightnessTask(Task):
    """Regresses an image's mean brightness (a float per image)."""

    name = TOY
    quality_metric = "mae"
    higher_is_better = False
    default_dataset = "toy_dataset"
    record_target = "brightness"
    tfds_features = "image + brightness (float)"
    tfds_priority = 5
    metadata_kind = "classifier"  # a feature vector of one value
    tuning_space = {"huber_delta": [1.0, 10.0]}

    def __init__(self, huber_delta=None, **kwargs):
        super().__init__(**kwargs)
        self.huber_delta = huber_delta

    def loss(self, model=None):
        import keras

        return keras.losses.MeanSquaredError()

    def score(self, targets, predictions):
        return float(np.mean(np.abs(np.ravel(targets) - np.ravel(predictions))))

    @classmethod
    def file_target(cls, files, index, stream):
        return float(files["brightness"][index]), files["image"][index]

    @classmethod
    def encode_target(cls, target, where="target"):
        import tensorflow as tf

        return tf.train.Feature(float_list=tf.train.FloatList(value=[float(target)]))

    @classmethod
    def target_feature_spec(cls):
        import tensorflow as tf

        return tf.io.FixedLenFeature([], tf.float32)

    @classmethod
    def decode_target(cls, value, size):
        return value

    @classmethod
    def tfds_target(cls, features, name, num_classes=None):
        if "brightness" not in features:
            return None
        return (lambda example, size: example["brightness"]), None, None, {"toy": True}

    def output_contract(self, activation, channels):
        return {"meaning": "brightness", "range": [0.0, 255.0], "postprocess": None}

    def contract_fields(self, runner, input_shape):
        return {"scale": None, "unit": "pixel value"}

    def apply_hyperparameters(self, hp, space):
        self.huber_delta = hp.Choice("huber_delta", space["huber_delta"])

    @classmethod
    def tuned_task_kwargs(cls, values):
        return {"huber_delta": values.pop("huber_delta")} if "huber_delta" in values else {}


def toy_model(input_shape=(8, 8, 1), **kwargs):
    import keras

    inputs = keras.Input(input_shape)
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    return keras.Model(inputs, keras.layers.Dense(1, name="brightness")(x), name="toy_model")


@pytest.fixture(scope="module")
def toy():
    register_task(ToyBrightnessTask)
    register_model("toy_model", task=TOY, family="toy")(toy_model)
    yield ToyBrightnessTask
    MODELS.unregister("toy_model")
    TASKS.unregister(TOY)


def test_the_registries_take_the_new_task(toy):
    from kerascv_apps.tasks import default_dataset_for

    assert TOY in TASKS.names()
    assert list_models(task=TOY) == ["toy_model"]
    assert default_dataset_for("toy_model") == "toy_dataset"
    with pytest.raises(ValueError, match=f"task must be one of .*{TOY}"):
        register_model("other", task="no_such_task")


def _splits(n=6):
    import tensorflow as tf

    from kerascv_apps.data.sources.base import DatasetSplits

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 8, 8, 1)).astype(np.float32)
    targets = images.mean(axis=(1, 2, 3)).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((images, targets))
    return DatasetSplits(name="toy", task=TOY, train=ds, val=ds, test=ds, image_shape=(8, 8, 1),
                         sizes={"train": n, "val": n, "test": n}), images, targets


def test_tfrecords_use_the_task_codec(toy, tmp_path):
    from kerascv_apps.data import load_dataset
    from kerascv_apps.data.tfrecord import prepare_tfrecords

    splits, images, targets = _splits()
    out = str(tmp_path / "records")
    prepare_tfrecords(splits, out, examples_per_shard=4, log=lambda msg: None)
    back = load_dataset(f"tfrecord:{out}", verify=False)
    assert back.task == TOY
    got = list(back.val.as_numpy_iterator())  # shards interleave: order may differ
    assert len(got) == len(targets)
    for image, target in got:  # each target came back with its own image
        np.testing.assert_allclose(target, image.mean(), rtol=1e-5)
    np.testing.assert_allclose(sorted(t for _, t in got), sorted(targets), rtol=1e-6)


def test_a_task_without_a_record_format_is_refused_by_name(tmp_path):
    from kerascv_apps.data import DataError
    from kerascv_apps.data.tfrecord import prepare_tfrecords

    splits, _, _ = _splits()
    splits.task = "super_resolution"
    with_format = ", ".join(n for n in TASKS.names() if TASKS.get(n).obj.record_target)
    assert "classification, " in with_format and "super_resolution" not in with_format
    with pytest.raises(DataError, match=r"super_resolution datasets are not supported \(tasks "
                                        r"with a TFRecord format: " + with_format + r"\)"):
        prepare_tfrecords(splits, str(tmp_path / "sr"), log=lambda msg: None)


def test_tfds_features_pick_the_task_by_priority(toy):
    import tensorflow_datasets as tfds

    from kerascv_apps.data.sources.tfds_any import _task_of

    features = {"image": tfds.features.Image(shape=(8, 8, 1)),
                "label": tfds.features.ClassLabel(num_classes=3),
                "brightness": tfds.features.Scalar(np.float32)}
    fit = _task_of("toy", features, set(features), None)
    assert fit[-1] == TOY and fit[3] == {"toy": True}
    del features["brightness"]
    assert _task_of("toy", features, set(features), None)[-1] == "classification"
    with pytest.raises(Exception, match=r"fit no task; known: .*image \+ brightness"):
        _task_of("toy", {"image": features["image"]}, {"image"}, None)


def test_contract_metadata_and_serving_ask_the_task(toy):
    import tensorflow as tf

    from kerascv_apps.export.contract import build_contract
    from kerascv_apps.export.metadata import embed_metadata, read_metadata

    model = toy_model()
    data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    task = get_task(TOY)
    contract = build_contract(task, data, "toy_model", "float32", model=model)
    assert contract["task"] == TOY and contract["unit"] == "pixel value"
    assert contract["outputs"][0]["meaning"] == "brightness"
    back = read_metadata(embed_metadata(data, contract))  # kind from the registered task
    assert back["contract"] == contract and back["output_ranges"] == [[0.0, 255.0]]
    assert task.serving_class_names(model) is None
    loss = task.tfmot_loss(model)
    assert float(loss(np.array([[1.0]], np.float32), np.array([[3.0]], np.float32))) == 4.0


def test_tuning_asks_the_task_for_its_space_and_train_command(toy):
    from kerascv_apps.tuning import train_command

    command = train_command("toy_model", "toy", {"optimizer": "sgd", "huber_delta": 10.0}, 4,
                            "none")
    assert command.endswith("--task-arg huber_delta=10.0")
    assert "--model-arg huber_delta" not in command


TASK_NAMES = "classification|segmentation|super_resolution|detection|restoration|generation"
PATTERN = re.compile(rf"""(==|!=|\bin\b)\s*\(?\s*["']({TASK_NAMES})["']|"""
                     rf"""["']({TASK_NAMES})["']\s*(==|!=|\bin\b)""")


def test_the_pattern_knows_every_task():
    from kerascv_apps.registry import TASKS, import_package

    import_package("kerascv_apps.tasks")
    # the toy task of this module's fixture may still be registered (module scope)
    assert set(TASKS.names()) - {TOY} == set(TASK_NAMES.split("|"))
    assert PATTERN.search('if task == "detection":')


def test_no_task_name_comparison_outside_tasks():
    root = os.path.dirname(kerascv_apps.__file__)
    found = []
    for folder, _, files in os.walk(root):
        if os.path.relpath(folder, root).split(os.sep)[0] == "tasks":
            continue
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path) as f:
                    found += [f"{path}:{i}: {line.strip()}" for i, line in enumerate(f, 1)
                              if PATTERN.search(line)]
    assert not found, "compare no task name outside tasks/; ask the Task:\n" + "\n".join(found)


# the flag matrix measures the command line itself (every parser option): the one script that
# reads it; the others run the workflow functions or `python -m kerascv_apps`
CLI_READERS = {os.path.join("benchmarks", "flag_matrix.py")}


def test_no_script_imports_the_command_line_module():
    top = os.path.dirname(os.path.dirname(kerascv_apps.__file__))
    found = []
    for folder in ("recipes", "export", "benchmarks"):
        for sub, _, files in os.walk(os.path.join(top, folder)):
            for name in files:
                path = os.path.join(sub, name)
                if not name.endswith(".py") or os.path.relpath(path, top) in CLI_READERS:
                    continue
                with open(path) as f:
                    found += [f"{path}:{i}" for i, line in enumerate(f, 1)
                              if re.search(r"kerascv_apps\.cli\b|from kerascv_apps import cli",
                                           line)]
    assert not found, "scripts use the workflow functions, not cli.py:\n" + "\n".join(found)
