"""Bad input gets a message that names the file or flag and what was expected (issue 18,
item 8), with the README's exit codes: 2 refused before any work, 1 failed during it."""

import json
import os
import shutil
import zipfile

import numpy as np
import pytest
from PIL import Image

from kerascv_apps.cli import main
from kerascv_apps.data import DataError, load_dataset
from kerascv_apps.data.tfrecord import prepare_tfrecords


def _predict(model_path, image, capsys):
    code = main(["predict", "--model-name", "lenet5", "--model-path", str(model_path), str(image)])
    return code, capsys.readouterr().err


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "x.png"
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(path)
    return path


def _zip(path, files):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def test_broken_keras_files_are_named_with_what_was_expected(tmp_path, image, capsys):
    empty = tmp_path / "empty.keras"
    empty.write_bytes(b"")
    junk = tmp_path / "junk.keras"
    junk.write_bytes(os.urandom(2000))
    no_config = _zip(tmp_path / "noconfig.keras", {"model.weights.h5": b"x" * 100})
    for path, said in ((empty, "the file is empty (0 bytes), expected a .keras model"),
                       (junk, "not a .keras model (expected a zip archive"),
                       (no_config, "a zip archive without config.json")):
        code, err = _predict(path, image, capsys)
        assert code == 2 and f"{path}: {said}" in err, err
        assert "File not found" not in err and "KeyError" not in err


def test_unregistered_class_is_one_line_naming_it(lenet_run, tmp_path, image, capsys):
    with zipfile.ZipFile(lenet_run / "model.keras") as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(files["config.json"])
    config["config"]["layers"][1]["class_name"] = "MyUnknownLayer"
    config["config"]["layers"][1]["module"] = "my_private_package.layers"
    files["config.json"] = json.dumps(config).encode()
    path = _zip(tmp_path / "custom.keras", files)
    code, err = _predict(path, image, capsys)
    assert code == 2
    assert "MyUnknownLayer" in err and "not a registered" in err and len(err.splitlines()) == 1


def test_zip_bomb_keras_is_refused_before_unpacking(tmp_path, image, capsys):
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", b"{}")
        with zf.open("model.weights.h5", "w") as f:
            block = b"\0" * (64 << 20)
            for _ in range(6):  # 384 MB of zeros in a file of about 0.4 MB
                f.write(block)
    assert os.path.getsize(path) < 2 << 20
    code, err = _predict(path, image, capsys)
    assert code == 2 and "refused as a zip bomb" in err


def test_huge_epochs_and_a_file_as_run_dir(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--model", "lenet5", "--run-dir", str(tmp_path / "r"),
              "--epochs", "99999999999999999999"])
    assert e.value.code == 2
    assert "--epochs: must be at most 2147483647" in capsys.readouterr().err
    afile = tmp_path / "notes.txt"
    afile.write_text("mine")
    assert main(["train", "--model", "lenet5", "--run-dir", str(afile), "--epochs", "1"]) == 2
    assert f"--run-dir {afile} is a file, not a folder" in capsys.readouterr().err
    assert afile.read_text() == "mine"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("msgs")
    rng = np.random.default_rng(0)
    for c in ("a", "b", "c"):
        os.makedirs(root / "images" / c)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8)).save(
                root / "images" / c / f"{i}.png")
    prepare_tfrecords(load_dataset(f"folder:{root / 'images'}"), str(root / "records"),
                      log=lambda msg: None)
    return root / "records"


def test_manifest_with_too_few_classes_is_refused_at_load(prepared, tmp_path):
    copy = tmp_path / "records"
    shutil.copytree(prepared, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["num_classes"], manifest["class_names"] = 2, ["a", "b"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=r"train-00000-of-00001.tfrecord: \d+ records have labels "
                                        r"outside 0..1 \(num_classes 2 in manifest.json\)"):
        load_dataset(f"tfrecord:{copy}")


def test_record_corrupted_during_training_names_the_shard(prepared, tmp_path, capsys):
    copy = tmp_path / "records"
    shutil.copytree(prepared, copy)
    shard = copy / "train-00000-of-00001.tfrecord"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size; without verify it is found only while reading
    shard.write_bytes(bytes(data))
    code = main(["train", "--model", "lenet5", "--dataset", f"tfrecord:{copy}", "--dataset-arg",
                 "verify=false", "--run-dir", str(tmp_path / "run"), "--epochs", "1",
                 "--batch-size", "4", "--augment", "none"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "training stopped at a corrupted record" in err
    assert "train-00000-of-00001.tfrecord: sha256 differs" in err
