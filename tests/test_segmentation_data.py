"""Segmentation data: the procedural ``shapes`` source, oxford_iiit_pet (tfds mock data), the
folder source's validation, and joint image + mask augmentation keeping class ids intact."""

import os

import numpy as np
import pytest
from PIL import Image

from kerascv_apps.data import DataError, load_dataset, make_pipeline
from kerascv_apps.data.sources.oxford_pets import trimap_to_mask
from kerascv_apps.data.sources.shapes import generate
from kerascv_apps.tasks import get_task


def test_shapes_is_deterministic_and_well_formed():
    a = generate(12, 48, seed=3)
    b = generate(12, 48, seed=3)
    c = generate(12, 48, seed=4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    images, masks, inst = a
    assert images.dtype == np.float32 and images.min() >= 0 and images.max() <= 255
    assert set(np.unique(masks)) <= {0, 1, 2, 3}
    np.testing.assert_array_equal(masks > 0, inst > 0)  # every object pixel has an instance
    for i in range(len(masks)):  # one class per instance
        for k in np.unique(inst[i])[1:]:
            assert len(np.unique(masks[i][inst[i] == k])) == 1


def test_shapes_splits_and_instances():
    splits = load_dataset("shapes", image_size=32, num_train=40, num_val=5, num_test=6,
                          instances=True)
    assert splits.num_classes == 4 and splits.class_names[0] == "background"
    assert splits.sizes == {"train": 40, "val": 5, "test": 6}
    image, target = next(splits.train.as_numpy_iterator())
    assert image.shape == (32, 32, 3) and target.shape == (32, 32, 2)
    masks = np.stack([t[..., 0] for _, t in splits.train.as_numpy_iterator()])
    counts = np.bincount(masks.ravel(), minlength=4)
    assert np.all(counts > 0) and counts[0] > counts[1:].max()  # all classes, background first
    test_images = np.stack([x for x, _ in splits.test.as_numpy_iterator()])
    train_images = np.stack([x for x, _ in splits.train.as_numpy_iterator()])
    assert not any(np.array_equal(t, r) for t in test_images for r in train_images)
    with pytest.raises(DataError, match="num_val"):
        load_dataset("shapes", num_val=0)


@pytest.mark.parametrize("kind", ["tf", "albumentations"])
def test_joint_augmentation_moves_masks_with_images_using_nearest(kind):
    splits = load_dataset("shapes", image_size=48, num_train=8, num_val=1, num_test=1,
                          instances=True)
    task = get_task("segmentation", num_classes=4, class_names=splits.class_names)
    aug = task.augmentation(kind, splits)
    ds = make_pipeline(splits.train, 8, training=True, augment=aug, seed=1)
    images, targets = next(iter(ds))
    images, targets = images.numpy(), targets.numpy()
    originals = np.stack([t for _, t in splits.train.as_numpy_iterator()])
    assert targets.shape == originals.shape
    assert set(np.unique(targets[..., 0])) <= {0, 1, 2, 3, 255}  # no blended class ids
    inst_ids = set(np.unique(originals[..., 1])) | {255}
    assert set(np.unique(targets[..., 1])) <= inst_ids
    assert not np.array_equal(targets, originals)  # something was transformed


@pytest.mark.parametrize("kind", ["tf", "albumentations"])
def test_augmented_mask_stays_aligned_with_image(kind):
    import tensorflow as tf
    from scipy.ndimage import binary_erosion

    from kerascv_apps.data.augment import AlbumentationsAugment, TFAugment

    _, masks, _ = generate(4, 48, seed=5)
    images = np.repeat((masks * 60.0)[..., None], 3, -1).astype(np.float32)  # colour = class
    if kind == "tf":
        aug = TFAugment(rotation=30, scale=(0.8, 1.2), shift=0.1, horizontal_flip=True,
                        target_is_mask=True)
    else:
        import albumentations as A

        aug = AlbumentationsAugment(A.Compose([A.Affine(rotate=(-30, 30), scale=(0.8, 1.2), p=1.0,
                                                        border_mode=0, fill=0, fill_mask=255),
                                               A.HorizontalFlip(p=0.5)]), target_is_mask=True)
    for i in range(4):
        image, mask = aug(tf.constant(images[i]), tf.constant(masks[i]),
                          tf.constant([i, 7], tf.int64))
        image, mask = image.numpy(), mask.numpy()
        assert set(np.unique(mask)) <= {0, 1, 2, 3, 255}
        for c in range(4):
            inner = binary_erosion(mask == c, iterations=2)
            if inner.any():
                np.testing.assert_allclose(image[inner, 0], 60.0 * c, atol=1.0)


def test_oxford_pets_trimap_mapping_and_mock_loader():
    import tensorflow_datasets as tfds

    trimap = np.array([[1, 2], [3, 0]], np.uint8)[..., None]
    np.testing.assert_array_equal(trimap_to_mask(trimap).numpy(), [[1, 0], [2, 255]])
    with tfds.testing.mock_data(num_examples=6):
        splits = load_dataset("tfds:oxford_iiit_pet", image_size=32)
        image, mask = next(splits.train.as_numpy_iterator())
    assert splits.num_classes == 3 and splits.class_names == ["background", "pet", "boundary"]
    assert image.shape == (32, 32, 3) and image.dtype == np.float32
    assert mask.shape == (32, 32) and mask.dtype == np.int32
    assert set(np.unique(mask)) <= {0, 1, 2, 255}


def _write_pair(root, name, image, mask, mode=None):
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    os.makedirs(os.path.join(root, "masks"), exist_ok=True)
    Image.fromarray(image).save(os.path.join(root, "images", f"{name}.png"))
    Image.fromarray(mask, mode).save(os.path.join(root, "masks", f"{name}.png")) if mode else \
        Image.fromarray(mask).save(os.path.join(root, "masks", f"{name}.png"))


def test_seg_folder_index_and_palette_masks(tmp_path):
    rng = np.random.default_rng(0)
    root = str(tmp_path / "index")
    for i in range(8):
        mask = rng.integers(0, 3, (16, 20)).astype(np.uint8)
        mask[0, 0] = 255
        _write_pair(root, f"im{i}", rng.integers(0, 255, (16, 20, 3)).astype(np.uint8), mask)
    splits = load_dataset(f"seg_folder:{root}", class_names=["a", "b", "c"])
    assert splits.num_classes == 3 and sum(splits.sizes.values()) == 8
    _, mask = next(splits.train.as_numpy_iterator())
    assert mask.shape == (16, 20) and set(np.unique(mask)) <= {0, 1, 2, 255}

    palette = [(0, 0, 0), (255, 0, 0), (0, 255, 0)]
    root2 = str(tmp_path / "palette")
    ids = rng.integers(0, 3, (5, 16, 16))
    for i in range(5):
        _write_pair(root2, f"p{i}", rng.integers(0, 255, (16, 16, 3)).astype(np.uint8),
                    np.array(palette, np.uint8)[ids[i]])
    splits = load_dataset(f"seg_folder:{root2}", palette=palette, val_fraction=0.2,
                          test_fraction=0.2)
    got = {x.tobytes(): m for x, m in splits.train.concatenate(splits.val).concatenate(
        splits.test).as_numpy_iterator()}
    assert len(got) == 5
    assert set(np.unique(np.stack(list(got.values())))) == {0, 1, 2}


def test_seg_folder_errors_name_the_file(tmp_path):
    img = np.zeros((8, 8, 3), np.uint8)
    bad_value = str(tmp_path / "bad_value")
    _write_pair(bad_value, "ok", img, np.zeros((8, 8), np.uint8))
    _write_pair(bad_value, "broken", img, np.full((8, 8), 7, np.uint8))
    with pytest.raises(DataError, match=r"broken\.png: values \[7\] are not valid class ids"):
        load_dataset(f"seg_folder:{bad_value}", num_classes=3)
    bad_size = str(tmp_path / "bad_size")
    _write_pair(bad_size, "small", img, np.zeros((6, 8), np.uint8))
    with pytest.raises(DataError, match=r"small\.png: mask size 8x6 differs"):
        load_dataset(f"seg_folder:{bad_size}", num_classes=2)
    missing = str(tmp_path / "missing")
    _write_pair(missing, "a", img, np.zeros((8, 8), np.uint8))
    Image.fromarray(img).save(os.path.join(missing, "images", "lonely.png"))
    with pytest.raises(DataError, match=r"lonely\.png: no mask"):
        load_dataset(f"seg_folder:{missing}", num_classes=2)
