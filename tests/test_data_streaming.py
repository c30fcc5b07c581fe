"""Streamed folder sources, the disk cache, prepare -> TFRecords -> tfrecord:, tfds:<any name>."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerascv_apps.data import DataError, load_dataset, make_pipeline
from kerascv_apps.data.augment import TFAugment
from kerascv_apps.data.streaming import stream_of
from kerascv_apps.data.tfrecord import prepare_tfrecords


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream") / "images"
    rng = np.random.default_rng(0)
    for c in ("a", "b", "c"):
        os.makedirs(root / c)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (12, 10, 3), dtype=np.uint8)).save(
                root / c / f"{i}.png")
    return str(root)


@pytest.fixture(scope="module")
def seg_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("seg") / "pairs"
    rng = np.random.default_rng(1)
    for sub in ("images", "masks"):
        os.makedirs(root / sub)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (8, 12, 3), dtype=np.uint8)).save(
            root / "images" / f"{i}.jpg", quality=90)
        mask = rng.integers(0, 3, (8, 12)).astype(np.uint8)
        mask[0, 0] = 255
        Image.fromarray(mask).save(root / "masks" / f"{i}.png")
    return str(root)


def _batches(splits, seed, epochs=1):
    augment = TFAugment(horizontal_flip=True, brightness=20.0)
    ds = make_pipeline(splits.train, 4, training=True, augment=augment, seed=seed)
    return [[(x.numpy(), y.numpy()) for x, y in ds] for _ in range(epochs)]


def _rows(ds):
    return sorted((x.tobytes(), np.asarray(y).tobytes()) for x, y in ds.as_numpy_iterator())


def test_folder_streams_decodes_files_and_is_deterministic(folder):
    splits = load_dataset(f"folder:{folder}")
    assert splits.sizes == {"train": 12, "val": 3, "test": 3}  # 1 val + 1 test per class
    assert stream_of(splits.train) is not None and splits.info["streaming"] is True
    files = sorted(os.path.join(folder, c, f) for c in "abc" for f in os.listdir(
        os.path.join(folder, c)))
    on_disk = {np.asarray(Image.open(f), np.float32).tobytes() for f in files}
    images = [x for x, _ in splits.train.concatenate(splits.val).concatenate(
        splits.test).as_numpy_iterator()]
    assert {x.tobytes() for x in images} == on_disk  # exact pixels, every file once
    first, second = _batches(splits, seed=3, epochs=2), _batches(splits, seed=3)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(first[0], second[0]))
    labels = [np.concatenate([y for _, y in epoch]) for epoch in first]
    assert sorted(labels[0]) == sorted(labels[1]) == [0] * 4 + [1] * 4 + [2] * 4
    assert not np.array_equal(labels[0], labels[1])  # file order reshuffled each epoch
    other = _batches(splits, seed=4)[0]
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(first[0], other))


def test_file_changed_after_validation_fails_the_epoch_naming_it(tmp_path):
    root = tmp_path / "f"
    for c in ("a", "b"):
        os.makedirs(root / c)
        for i in range(3):
            Image.fromarray(np.full((8, 8, 3), 9 * i, np.uint8)).save(root / c / f"{i}.png")
    splits = load_dataset(f"folder:{root}")
    victim = root / "b" / "0.png"
    victim.write_bytes(victim.read_bytes()[:40])  # truncated after the header check
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"file changed since it was "
                                                             r"validated[\s\S]*b/0.png"):
        for _ in make_pipeline(splits.train.concatenate(splits.val).concatenate(splits.test), 2):
            pass


def test_disk_cache_replays_the_same_examples(folder, tmp_path):
    cache = str(tmp_path / "cache")
    plain = load_dataset(f"folder:{folder}")
    cached = load_dataset(f"folder:{folder}", cache=cache)
    for _ in range(2):  # first pass writes the cache, second reads it
        got = [(x.numpy(), y.numpy()) for x, y in make_pipeline(cached.val, 8)]
    want = [(x.numpy(), y.numpy()) for x, y in make_pipeline(plain.val, 8)]
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
               for a, b in zip(got, want))
    written = sorted(os.listdir(cache))
    assert any(f.startswith("val-") and f.endswith(".index") for f in written)
    train = [np.concatenate([y for _, y in e]) for e in _batches(cached, seed=0, epochs=2)]
    assert sorted(train[0]) == sorted(train[1]) and len(train[0]) == 12


def test_prepare_tfrecords_round_trip_and_checksums(folder, tmp_path):
    splits = load_dataset(f"folder:{folder}")
    out = str(tmp_path / "records")
    manifest = prepare_tfrecords(splits, out, examples_per_shard=5, log=lambda msg: None)
    assert {k: (v["count"], len(v["shards"])) for k, v in manifest["splits"].items()} == \
        {"train": (12, 3), "val": (3, 1), "test": (3, 1)}
    with open(os.path.join(out, "manifest.json")) as f:
        assert json.load(f)["splits"]["train"]["shards"][2]["count"] == 2
    back = load_dataset(f"tfrecord:{out}")
    assert back.class_names == ["a", "b", "c"] and back.image_shape == (12, 10, 3)
    for split in ("train", "val", "test"):
        assert _rows(getattr(back, split)) == _rows(getattr(splits, split))
    epoch = [y.numpy() for _, y in make_pipeline(back.train, 4, training=True, seed=0)]
    assert sorted(np.concatenate(epoch)) == [0] * 4 + [1] * 4 + [2] * 4
    with pytest.raises(FileExistsError, match="already exists"):
        prepare_tfrecords(splits, out, log=lambda msg: None)
    shard = os.path.join(out, manifest["splits"]["val"]["shards"][0]["file"])
    data = bytearray(open(shard, "rb").read())
    data[-5] ^= 0xFF
    open(shard, "wb").write(bytes(data))
    with pytest.raises(DataError, match=r"val-00000-of-00001.tfrecord: sha256 differs"):
        load_dataset(f"tfrecord:{out}")


def test_segmentation_folder_through_the_cli_prepare(seg_folder, tmp_path):
    from kerascv_apps.cli import main

    splits = load_dataset(f"seg_folder:{seg_folder}", num_classes=3)
    assert splits.sizes == {"val": 1, "test": 1, "train": 4}
    out = str(tmp_path / "seg_records")
    assert main(["prepare", "--dataset", f"seg_folder:{seg_folder}", "--dataset-arg",
                 "num_classes=3", "--out", out]) == 0
    back = load_dataset(f"tfrecord:{out}")
    assert back.task == "segmentation" and back.num_classes == 3
    assert _rows(back.train) == _rows(splits.train)  # JPEG bytes kept, masks exact
    _, mask = next(back.test.as_numpy_iterator())
    assert mask.dtype == np.int32 and mask[0, 0] == 255 and set(np.unique(mask)) <= {0, 1, 2, 255}
    assert main(["prepare", "--dataset", "digits", "--out", out]) == 2  # exists: refused


def test_tfds_any_name_loads_prepared_data_or_says_how_to_prepare(tmp_path):
    import tensorflow_datasets as tfds

    from kerascv_apps.data.sources.tfds_any import load_tfds_any

    with tfds.testing.mock_data(num_examples=4):
        beans = load_dataset("tfds:beans", image_size=16)
        image, label = next(beans.train.as_numpy_iterator())
        # the generic path for image + segmentation_mask (mock masks hold values 0..254)
        seg = load_tfds_any("oxford_iiit_pet", num_classes=255, image_size=8)
        _, mask = next(seg.train.as_numpy_iterator())
        narrow = load_tfds_any("oxford_iiit_pet", num_classes=3, image_size=8)
        with pytest.raises(tf.errors.InvalidArgumentError, match="mask values outside 0..2"):
            list(narrow.train.as_numpy_iterator())
    assert beans.task == "classification" and beans.num_classes == 3
    assert beans.class_names == ["angular_leaf_spot", "bean_rust", "healthy"]
    assert image.shape == (16, 16, 3) and image.dtype == np.float32 and 0 <= label < 3
    assert seg.task == "segmentation" and mask.shape == (8, 8) and mask.dtype == np.int32
    with pytest.raises(DataError, match="num_classes is required"):
        load_tfds_any("oxford_iiit_pet")
    with pytest.raises(DataError) as info:
        load_dataset("tfds:beans", data_dir=str(tmp_path))
    assert "tfds dataset 'beans' is not prepared in data_dir=" in str(info.value)
    assert f"`--dataset tfds:beans --dataset-arg download=true --dataset-arg data_dir=" \
           f"{tmp_path}`, or `tfds build beans --data_dir {tmp_path}`" in str(info.value)
    with pytest.raises(DataError, match="tfds has no dataset named 'no_such_dataset_xyz'"):
        load_dataset("tfds:no_such_dataset_xyz")
