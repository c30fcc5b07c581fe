"""Paths read from a prepared folder's manifest stay inside that folder: no ``..``, no
absolute path, no symbolic link out; each refusal names the manifest entry."""

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from kerascv_apps.data import DataError, load_dataset
from kerascv_apps.data.tfrecord import prepare_tfrecords


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("confined")
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        os.makedirs(root / "images" / c)
        for i in range(5):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(
                root / "images" / c / f"{i}.png")
    prepare_tfrecords(load_dataset(f"folder:{root / 'images'}"), str(root / "records"),
                      log=lambda msg: None)
    return root / "records"


def _tamper(prepared, tmp_path, change):
    """A copy of the prepared folder whose first train shard entry ``change`` rewrites."""
    out = tmp_path / "data" / "records"
    shutil.copytree(prepared, out)
    with open(out / "manifest.json") as f:
        manifest = json.load(f)
    shard = manifest["splits"]["train"]["shards"][0]
    change(out, shard)
    with open(out / "manifest.json", "w") as f:
        json.dump(manifest, f)
    return out


def _move_out(out, shard):
    """The shard moved to a folder beside the prepared one, same bytes and checksum."""
    os.makedirs(out.parent / "outside")
    os.replace(out / shard["file"], out.parent / "outside" / "x.tfrecord")
    shard["file"] = "../outside/x.tfrecord"


def _absolute(out, shard):
    shard["file"] = "/etc/passwd"
    shard["bytes"] = os.path.getsize("/etc/passwd")


def _symlink(out, shard):
    os.makedirs(out.parent / "elsewhere")
    os.replace(out / shard["file"], out.parent / "elsewhere" / "s.tfrecord")
    os.symlink(out.parent / "elsewhere" / "s.tfrecord", out / shard["file"])


@pytest.mark.parametrize("change, said", [
    (_move_out, r"leaves .* \(\.\.\)"), (_absolute, "is an absolute path"),
    (_symlink, "is a symbolic link")])
def test_shards_outside_the_folder_are_refused_naming_the_entry(prepared, tmp_path, change, said):
    out = _tamper(prepared, tmp_path, change)
    with pytest.raises(DataError, match=r"splits\.train\.shards\[0\]\.file.*" + said):
        load_dataset(f"tfrecord:{out}")


def test_an_untouched_prepared_folder_still_loads(prepared):
    assert load_dataset(f"tfrecord:{prepared}").sizes["train"] > 0
