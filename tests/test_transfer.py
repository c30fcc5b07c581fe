"""Transfer learning offline: digits 0-4 -> digits 5-9 with a new head, two-phase fine-tuning."""

import json
import os

import keras
import numpy as np
import pytest

from kerascv_apps import build_model
from kerascv_apps.data import load_dataset, make_pipeline
from kerascv_apps.training import train
from kerascv_apps.training.transfer import (TransferError, block_of, fine_tune, freeze,
                                            layer_blocks, load_weights_by_name, transfer_model)

LOSS = "sparse_categorical_crossentropy"


def _arrays(ds):
    pairs = list(ds.as_numpy_iterator())
    return np.stack([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def _weights(model, names):
    return {n: [w.numpy().copy() for w in model.get_layer(n).weights] for n in names}


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    """LeNet-5 trained on digits 0-4 (8 epochs, measured val accuracy 0.985)."""
    keras.utils.set_random_seed(0)
    splits = load_dataset("digits", classes=[0, 1, 2, 3, 4])
    model = build_model("lenet5", num_classes=5)
    run_dir = str(tmp_path_factory.mktemp("source"))
    result = train(model, make_pipeline(splits.train, 32, training=True),
                   make_pipeline(splits.val, 64), run_dir=run_dir, epochs=8, loss=LOSS,
                   metrics=["accuracy"], verbose=0, tensorboard=False)
    assert result.history["val_accuracy"][-1] > 0.9
    model.save_weights(os.path.join(run_dir, "model.weights.h5"))
    return result


def test_digits_0_4_to_5_9_with_a_new_head(source_run, tmp_path):
    keras.utils.set_random_seed(0)
    splits = load_dataset("digits", classes=[5, 6, 7, 8, 9])
    model, report = transfer_model("lenet5", source_run.model_path, num_classes=5)
    assert report.copied == ["c1", "c3", "c5", "f6"]
    assert report.new_layers == ["predictions_dense"]
    source = source_run.model
    assert all(_same(a, b) for a, b in zip(_weights(model, report.copied).values(),
                                           _weights(source, report.copied).values()))
    copied = _weights(model, report.copied)
    head_before = _weights(model, report.new_layers)

    phases = {}

    class Snapshot(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            phases[len(phases)] = _weights(model, report.copied + report.new_layers)

    result = fine_tune(model, make_pipeline(splits.train, 32, training=True),
                       make_pipeline(splits.val, 64), run_dir=str(tmp_path), loss=LOSS,
                       metrics=["accuracy"], head_layers=report.new_layers, trainable_blocks=2,
                       head_epochs=3, finetune_epochs=3, learning_rate=1e-2,
                       finetune_learning_rate=1e-3, callbacks=[Snapshot()], verbose=0,
                       tensorboard=False)
    assert result.unfrozen_blocks == ["c5", "f6"]
    # phase 1: the backbone is frozen, only the head moved
    after_head = phases[0]
    assert all(_same(after_head[n], copied[n]) for n in report.copied)
    assert not _same(after_head["predictions_dense"], head_before["predictions_dense"])
    # phase 2: the last two blocks moved, the first two did not
    after_tune = phases[1]
    assert _same(after_tune["c1"], copied["c1"]) and _same(after_tune["c3"], copied["c3"])
    assert not _same(after_tune["c5"], copied["c5"]) and not _same(after_tune["f6"], copied["f6"])
    # Measured on this machine (seed 0): val accuracy 0.80 after the head-only phase (frozen
    # features learnt on other digits; chance 0.20) and test accuracy 0.978 after fine-tuning.
    # (Control, measured once: the same head-only phase on an *untrained* frozen LeNet reached
    # 0.90, so on digits this checks the mechanics, not that transfer beats random features.)
    assert result.head.history["val_accuracy"][-1] >= 0.6
    x, y = _arrays(splits.test)
    accuracy = float((model.predict(x, verbose=0).argmax(-1) == y).mean())
    assert accuracy >= 0.9, accuracy


def test_weights_h5_needs_and_uses_the_source_architecture(source_run):
    path = os.path.join(source_run.run_dir, "model.weights.h5")
    target = build_model("lenet5", num_classes=3)
    with pytest.raises(TransferError, match="source_model"):
        load_weights_by_name(target, path)
    report = load_weights_by_name(target, path, source_model="lenet5",
                                  source_kwargs={"num_classes": 5})
    assert report.copied == ["c1", "c3", "c5", "f6"]
    np.testing.assert_array_equal(target.get_layer("c3").kernel.numpy(),
                                  source_run.model.get_layer("c3").kernel.numpy())
    # without the head exclusion, a different class count is a shape mismatch, not a copy
    other = build_model("lenet5", num_classes=3)
    report = load_weights_by_name(other, source_run.model, exclude=None)
    assert report.mismatched == [("predictions_dense", [(84, 3), (3,)], [(84, 5), (5,)])]
    with pytest.raises(TransferError, match="not found"):
        load_weights_by_name(other, "/nonexistent/model.keras")
    with pytest.raises(TransferError, match="no layer"):
        load_weights_by_name(build_model("vgg11", input_shape=(32, 32, 1), num_classes=3),
                             source_run.model)


def test_blocks_per_family():
    vgg = build_model("vgg16", input_shape=(32, 32, 3), num_classes=4,
                      stackwise_num_filters=(4, 4, 4, 4, 4), fc_units=(8, 8))
    assert list(layer_blocks(vgg, exclude=["predictions_dense"])) == [
        "block1", "block2", "block3", "block4", "block5", "fc"]
    assert freeze(vgg, ["predictions_dense"], 2) == ["block5", "fc"]
    assert not vgg.get_layer("block4_conv3").trainable and vgg.get_layer("block5_conv1").trainable
    assert vgg.get_layer("fc2").trainable and vgg.get_layer("predictions_dense").trainable
    assert block_of("inception4c_3x3_reduce", "googlenet") == "inception4c"
    assert block_of("conv2_reduce_bn", "googlenet") == "stem"
    assert block_of("block11_mlp_fc2", "vit") == "block11"
    assert block_of("pos_embed", "vit") == "embedding"
    assert block_of("conv4_block6_2_conv", "resnet") == "conv4"
    assert block_of("conv1_conv", "resnet") == "stem"
    assert block_of("expanded_conv_3_project") == "expanded_conv_3_project"  # no pattern: itself
    with pytest.raises(ValueError, match="trainable_blocks"):
        freeze(vgg, ["predictions_dense"], 7)
    with pytest.raises(ValueError, match="head_layers"):
        freeze(vgg, ["classifier"], 1)


def test_train_cli_weights_flag_starts_from_the_file_with_a_new_head(source_run, tmp_path):
    """``kerascv-apps train --weights PATH``: backbone from the file, new 5-class head, only the
    head and the last block (f6) train; c1..c5 stay exactly the file's."""
    from kerascv_apps.cli import main
    from kerascv_apps.io import load_model

    run_dir = str(tmp_path / "run")
    assert main(["train", "--model", "lenet5", "--dataset", "digits", "--dataset-arg",
                 "classes=[5,6,7,8,9]", "--run-dir", run_dir, "--epochs", "1",
                 "--weights", source_run.model_path]) == 0
    trained = load_model(os.path.join(run_dir, "model.keras"), compile=False)
    source = source_run.model
    frozen = ["c1", "c3", "c5"]
    assert all(_same(a, b) for a, b in zip(_weights(trained, frozen).values(),
                                           _weights(source, frozen).values()))
    assert not _same(_weights(trained, ["f6"])["f6"], _weights(source, ["f6"])["f6"])
    assert trained.get_layer("predictions_dense").kernel.shape == (84, 5)
    with open(os.path.join(run_dir, "run.json")) as f:
        assert json.load(f)["weights"] == os.path.abspath(source_run.model_path)
