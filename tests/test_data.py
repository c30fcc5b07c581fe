import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerascv_apps.data import DataError, load_dataset, make_pipeline
from kerascv_apps.data.augment import AlbumentationsAugment, TFAugment, default_classification_augment


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _labels(ds):
    return np.array([int(y) for _, y in ds.as_numpy_iterator()])


def test_digits_split_is_fixed_stratified_and_disjoint(digits):
    assert digits.sizes == {"train": 1257, "val": 270, "test": 270}
    assert digits.image_shape == (32, 32, 1)
    images = np.stack([x for x, _ in digits.test.as_numpy_iterator()])
    assert images.dtype == np.float32 and images.min() >= 0 and images.max() <= 255
    assert images.max() > 200  # ink maps to the top of the pixel range
    for split in (digits.train, digits.val, digits.test):
        counts = np.bincount(_labels(split), minlength=10)
        assert counts.min() >= 0.8 * counts.mean()  # stratified: every class near its share
    # splits are disjoint: no test image equals a train image
    train = {x.tobytes() for x, _ in digits.train.as_numpy_iterator()}
    assert not any(x.tobytes() in train for x in images)
    again = load_dataset("digits")
    assert np.array_equal(_labels(again.test), _labels(digits.test))


def test_digits_class_subset_relabels():
    subset = load_dataset("digits", classes=[5, 6, 7])
    assert subset.num_classes == 3 and subset.class_names == ["5", "6", "7"]
    assert set(_labels(subset.train)) == {0, 1, 2}
    with pytest.raises(ValueError, match="distinct digits"):
        load_dataset("digits", classes=[1, 1])


def test_unknown_dataset_is_named():
    with pytest.raises(DataError, match="unknown dataset 'nope'.*digits"):
        load_dataset("nope")


def _write_folder(root, classes=("cat", "dog"), per_class=6, size=(12, 10)):
    rng = np.random.default_rng(0)
    for c in classes:
        os.makedirs(os.path.join(root, c), exist_ok=True)
        for i in range(per_class):
            arr = rng.integers(0, 255, size + (3,), dtype=np.uint8)
            Image.fromarray(arr).save(os.path.join(root, c, f"{i}.png"))


def test_image_folder_reads_and_splits(tmp_path):
    _write_folder(tmp_path)
    splits = load_dataset(f"folder:{tmp_path}", val_fraction=0.25, test_fraction=0.25)
    assert splits.class_names == ["cat", "dog"]
    assert splits.image_shape == (12, 10, 3)
    assert sum(splits.sizes.values()) == 12
    x, _ = next(iter(splits.train))
    assert x.dtype == tf.float32 and x.shape == (12, 10, 3)


def test_image_folder_resizes_to_requested_size(tmp_path):
    _write_folder(tmp_path)
    splits = load_dataset("folder", root=str(tmp_path), image_size=(8, 8), channels=1)
    assert splits.image_shape == (8, 8, 1)
    assert next(iter(splits.test))[0].shape == (8, 8, 1)


def test_corrupt_image_error_names_the_file(tmp_path):
    _write_folder(tmp_path)
    bad = tmp_path / "dog" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    with pytest.raises(DataError) as info:
        load_dataset(f"folder:{tmp_path}")
    assert str(bad) in str(info.value)


def test_non_image_file_is_refused_by_name(tmp_path):
    _write_folder(tmp_path)
    (tmp_path / "cat" / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="notes.txt"):
        load_dataset(f"folder:{tmp_path}")


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'missing'}")


def test_tfds_mnist_with_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=20):
        splits = load_dataset("mnist")
        x, y = next(iter(splits.train))
    assert splits.num_classes == 10 and splits.image_shape == (28, 28, 1)
    assert x.dtype == tf.float32 and y.dtype == tf.int32


def _batches(ds, n=3):
    return [(x.numpy(), y.numpy()) for x, y in ds.take(n)]


@pytest.mark.parametrize("kind", ["tf", "albumentations"])
def test_pipeline_is_deterministic_given_seed_and_varies_per_epoch(digits, kind):
    aug = default_classification_augment(kind, digits.image_shape)
    make = lambda seed: make_pipeline(digits.train, 16, training=True, augment=aug, seed=seed)
    a, b = make(1), make(1)
    first_a, first_b = _batches(a), _batches(b)
    for (xa, ya), (xb, yb) in zip(first_a, first_b):
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_allclose(xa, xb)
    second_epoch = _batches(a)
    assert not all(np.array_equal(x1, x2) for (x1, _), (x2, _) in zip(first_a, second_epoch))
    other = _batches(make(2))
    assert not np.array_equal(first_a[0][0], other[0][0])


def test_augmentation_changes_images_but_keeps_range(digits):
    x, y = next(iter(digits.train.batch(8)))
    aug = TFAugment(rotation=15, shift=0.1, scale=(0.9, 1.1), brightness=10)
    out = [aug(x[i], y[i], tf.constant([i, 7], tf.int64))[0].numpy() for i in range(8)]
    assert all(o.shape == (32, 32, 1) and o.min() >= 0 and o.max() <= 255 for o in out)
    assert np.mean([np.abs(o - x[i].numpy()).mean() for i, o in enumerate(out)]) > 1.0


@pytest.mark.parametrize("kind", ["tf", "albumentations"])
def test_mask_augmentation_is_nearest(kind):
    import albumentations as A

    rng = np.random.default_rng(0)
    image = tf.constant(rng.uniform(0, 255, (32, 32, 3)), tf.float32)
    mask = np.zeros((32, 32), np.int32)
    mask[8:20, 5:25] = 3
    mask[20:30, 10:15] = 7
    if kind == "tf":
        aug = TFAugment(rotation=30, scale=(0.8, 1.2), shift=0.1, horizontal_flip=True,
                        target_is_mask=True)
    else:
        aug = AlbumentationsAugment(A.Compose([A.Affine(rotate=(-30, 30), scale=(0.8, 1.2), p=1),
                                               A.HorizontalFlip(p=0.5)]), target_is_mask=True)
    for s in range(5):
        _, out = aug(image, tf.constant(mask), tf.constant([s, 3], tf.int64))
        values = set(np.unique(out.numpy()).tolist())
        assert values <= {0, 3, 7, 255}, values  # no blended class ids
        assert out.shape == (32, 32)
