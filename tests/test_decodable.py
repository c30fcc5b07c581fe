"""Folder validation decodes what the training decoder might not read (CMYK JPEGs, ...) with
that decoder and the training channel count, so such a file is refused by name up front
instead of breaking an epoch with "jpeg::Uncompress failed"."""

import numpy as np
import pytest
from PIL import Image

from kerascv_apps.data import DataError, load_dataset


@pytest.fixture
def folder(tmp_path):
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(3):
            Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(tmp_path / c / f"{i}.jpg")
    Image.new("CMYK", (8, 8), (10, 20, 30, 0)).save(tmp_path / "a" / "cmyk.jpg")
    return tmp_path


def test_cmyk_jpeg_refused_for_one_channel_naming_it(folder):
    with pytest.raises(DataError, match=r"a/cmyk\.jpg: CMYK JPEG cannot be decoded to 1 "
                                        r"channel\(s\) by the training decoder \(jpeg::"):
        load_dataset(f"folder:{folder}", channels=1)


def test_cmyk_jpeg_that_the_decoder_reads_is_kept(folder):
    splits = load_dataset(f"folder:{folder}", channels=3)  # the decoder converts it
    assert sum(splits.sizes.values()) == 7
    assert len(list(splits.train.as_numpy_iterator())) == splits.sizes["train"]


def test_image_broken_after_the_check_is_named_when_training_fails(tmp_path, capsys):
    from kerascv_apps.experiment import train_model

    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(5):
            Image.fromarray(np.full((32, 32), 30 * i, np.uint8)).save(tmp_path / c / f"{i}.png")
    splits = load_dataset(f"folder:{tmp_path}", channels=1)
    victim = sorted(splits.train.kcv_stream.files["image"])[0]
    data = bytearray(open(victim, "rb").read())
    data[40:] = bytes(len(data) - 40)  # same size, header kept, pixel data destroyed
    open(victim, "wb").write(bytes(data))
    with pytest.raises(Exception, match=r"could not be decoded; files that fail now") as e:
        train_model("lenet5", splits=splits, run_dir=str(tmp_path / "run"), epochs=1,
                    batch_size=4, augment="none", verbose=0)
    assert f"{victim}: " in str(e.value)
