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
