"""Bad data is refused before training, every message naming the folder/file and the counts."""

import os
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerascv_apps.data import DataError, load_dataset
from kerascv_apps.data.decode import read_image, scale_16_to_8


def _image(path, shape=(8, 8, 3), value=None, seed=0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8) if value is None \
        else np.full(shape, value, np.uint8)
    Image.fromarray(arr).save(path)


def _folder(root, counts, shape=(8, 8, 3)):
    for name, n in counts.items():
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i in range(n):
            _image(os.path.join(root, name, f"{i}.png"), shape, seed=i)
    return str(root)


def test_empty_class_folder_is_refused_with_counts(tmp_path):
    root = _folder(tmp_path, {"cat": 4, "dog": 4, "empty": 0})
    with pytest.raises(DataError) as info:
        load_dataset(f"folder:{root}")
    msg = str(info.value)
    assert os.path.join(root, "empty") in msg and "0 images" in msg
    assert "cat=4, dog=4, empty=0" in msg


def test_one_image_class_and_too_small_split_are_named_by_folder(tmp_path):
    root = _folder(tmp_path / "one", {"cat": 5, "dog": 1})
    with pytest.raises(DataError, match=r"/one/dog has 1 image; each class needs at least 3"):
        load_dataset(f"folder:{root}")
    # train/-only folder of 6 images: 3 per class is the minimum and gives 1 val + 1 test each
    ok = _folder(tmp_path / "six" / "train", {"a": 3, "b": 3})
    splits = load_dataset(f"folder:{os.path.dirname(ok)}")
    assert splits.sizes == {"train": 2, "val": 2, "test": 2}
    small = _folder(tmp_path / "four" / "train", {"a": 2, "b": 2})
    with pytest.raises(DataError, match=r"/four/train/a has 2 images, .*/four/train/b has 2 images"):
        load_dataset(f"folder:{os.path.dirname(small)}")


def test_16_bit_png_is_scaled_like_serving(tmp_path):
    ramp = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    root = tmp_path / "deep"
    for c in ("a", "b"):
        for i in range(3):
            os.makedirs(root / c, exist_ok=True)
            Image.fromarray(ramp).save(root / c / f"{i}.png")
    splits = load_dataset(f"folder:{root}", channels=1)
    assert splits.info["bit_depths"] == [16]
    image, _ = next(splits.test.as_numpy_iterator())
    expected = (ramp >> 8).astype(np.float32)
    assert np.array_equal(image[..., 0], expected)  # 65520 -> 255, not clipped
    assert np.array_equal(scale_16_to_8(ramp), ramp >> 8)
    path = str(root / "a" / "0.png")
    assert np.array_equal(read_image(path, 1)[..., 0], expected)  # prediction reads the same
    served = tf.io.decode_image(open(path, "rb").read(), channels=1).numpy()[..., 0]
    assert np.array_equal(served, expected)  # serving_bytes' decoder


def test_image_size_is_the_capped_median_never_the_first_file(tmp_path):
    root = _folder(tmp_path / "mixed", {"a": 3, "b": 3}, shape=(12, 10, 3))
    _image(os.path.join(root, "a", "000_big.png"), (600, 640, 3), value=0)
    splits = load_dataset(f"folder:{root}")
    assert splits.image_shape == (12, 10, 3)
    assert splits.info["image_size_from"] == "median of 7 images, capped at 512"
    assert next(splits.train.as_numpy_iterator())[0].shape == (12, 10, 3)
    large = _folder(tmp_path / "large", {"a": 3, "b": 3}, shape=(520, 530))
    assert load_dataset(f"folder:{large}").image_shape == (512, 512, 3)


def _png_header_only(path, width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def test_decompression_bomb_and_unreadable_files_are_all_named(tmp_path):
    root = _folder(tmp_path, {"a": 3, "b": 3})
    _png_header_only(os.path.join(root, "a", "bomb.png"), 20000, 20000)
    with open(os.path.join(root, "b", "junk.jpg"), "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 not a jpeg")
    with pytest.raises(DataError) as info:
        load_dataset(f"folder:{root}")
    msg = str(info.value)
    assert msg.startswith("2 of 8 image files cannot be used")
    assert f"{root}/a/bomb.png: refused as a decompression bomb" in msg
    assert f"{root}/b/junk.jpg: cannot read image header" in msg
    os.remove(os.path.join(root, "a", "bomb.png"))
    os.remove(os.path.join(root, "b", "junk.jpg"))
    with pytest.raises(DataError, match=r"8x8 = 64 pixels is more than max_pixels=50"):
        load_dataset(f"folder:{root}", max_pixels=50)


def test_symlinks_leading_outside_the_root_are_refused(tmp_path):
    outside = _folder(tmp_path / "outside", {"x": 3})
    root = _folder(tmp_path / "root", {"a": 3, "b": 3})
    os.symlink(os.path.join(outside, "x"), os.path.join(root, "x"))
    with pytest.raises(DataError, match=r"1 symlinks lead outside the dataset folder .*/root/x ->"):
        load_dataset(f"folder:{root}")
    os.remove(os.path.join(root, "x"))
    os.symlink(os.path.join(outside, "x", "0.png"), os.path.join(root, "a", "link.png"))
    with pytest.raises(DataError, match=r"/root/a/link.png -> .*/outside/x/0.png"):
        load_dataset(f"folder:{root}")
    os.remove(os.path.join(root, "a", "link.png"))
    os.symlink(os.path.join(root, "a", "0.png"), os.path.join(root, "a", "inside.png"))
    assert sum(load_dataset(f"folder:{root}").sizes.values()) == 7  # inside links are fine


def _pair(root, name, mask, shape=(8, 8)):
    _image(os.path.join(root, "images", f"{name}.png"), shape + (3,))
    os.makedirs(os.path.join(root, "masks"), exist_ok=True)
    Image.fromarray(mask.astype(np.uint8)).save(os.path.join(root, "masks", f"{name}.png"))


def test_segmentation_num_classes_is_required_and_values_are_counted(tmp_path):
    root = str(tmp_path / "seg")
    for i in range(5):
        mask = np.zeros((8, 8), np.uint8)
        mask[:4] = 1
        if i == 2:
            mask[0, 0] = 200  # one stray pixel
        _pair(root, f"m{i}", mask)
    with pytest.raises(DataError) as info:
        load_dataset(f"seg_folder:{root}")
    assert "num_classes is required" in str(info.value)
    assert "(pixel counts): 0: 160, 1: 159, 200: 1" in str(info.value)
    with pytest.raises(DataError) as info:
        load_dataset(f"seg_folder:{root}", num_classes=2)
    assert str(info.value).startswith("1 masks hold values outside the 2 classes")
    assert "m2.png: values [200] are not valid class ids (0..1, or 255 = ignore); pixel counts " \
           "200: 1" in str(info.value)
    with pytest.raises(DataError, match=r"num_classes=1 is not supported.*num_classes=2"):
        load_dataset(f"seg_folder:{root}", num_classes=1)
    with open(os.path.join(root, "labels.txt"), "w") as f:
        f.write("background\npet\n")
    Image.fromarray(np.ones((8, 8), np.uint8)).save(os.path.join(root, "masks", "m2.png"))
    splits = load_dataset(f"seg_folder:{root}")
    assert splits.num_classes == 2 and splits.class_names == ["background", "pet"]
    assert splits.sizes == {"val": 1, "test": 1, "train": 3}


def test_segmentation_too_few_pairs_names_the_folder(tmp_path):
    root = str(tmp_path / "two")
    for i in range(2):
        _pair(root, f"m{i}", np.zeros((8, 8)))
    with pytest.raises(DataError, match=r"2 image/mask pairs are too few to split .*needs 3"):
        load_dataset(f"seg_folder:{root}", num_classes=2)
