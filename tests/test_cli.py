import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from kerascv_apps.cli import build_parser, main
from tests.tree_snapshot import assert_unchanged, snapshot


def test_every_subcommand_has_help():
    parser = build_parser()
    for command in ("list-models", "train", "evaluate", "export", "predict", "tune", "summary",
                    "clean", "optimize", "prepare", "sample", "embed"):
        with pytest.raises(SystemExit) as info:
            parser.parse_args([command, "--help"])
        assert info.value.code == 0


def test_console_script_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "kerascv_apps.cli", "list-models",
                          "--task", "classification"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    names = [line.split()[0] for line in out.stdout.splitlines()]
    assert "lenet5" in names and "mlp" in names


def test_unknown_model_exits_2_listing_known_names(capsys, tmp_path):
    before = snapshot(tmp_path)
    code = main(["train", "--model", "lenet7", "--run-dir", str(tmp_path / "r"), "--epochs", "1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown model 'lenet7'" in err and "lenet5" in err
    assert_unchanged(tmp_path, before)


def test_bad_model_arg_format_is_rejected():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--model", "mlp", "--run-dir", "x", "--model-arg", "oops"])


def test_train_evaluate_export_predict(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--model", "lenet5", "--run-dir", str(run), "--epochs", "3",
                 "--batch-size", "32", "--augment", "none", "--lr", "3e-3"]) == 0
    out = capsys.readouterr().out
    accuracy = float(out.split("accuracy on test: ")[1].split(";")[0])
    assert accuracy > 0.8
    assert (run / "plots" / "confusion_matrix.png").exists()
    assert (run / "plots" / "training_curves.png").exists()

    assert main(["evaluate", "--model-path", str(run / "model.keras"), "--out", str(tmp_path / "ev")]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["accuracy"] == pytest.approx(accuracy, abs=1e-4)  # printed with 4 decimals

    exports = tmp_path / "exports"
    assert main(["export", "--model-path", str(run / "model.keras"), "--out", str(exports),
                 "--formats", "float32,int8", "--max-int8-drop", "0.03", "--limit", "150",
                 "--calibration-images", "100"]) == 0
    assert (exports / "tflite" / "lenet5_int8.tflite").exists()
    before = snapshot(tmp_path)  # the exports, the run and everything beside them
    assert main(["export", "--model-path", str(run / "model.keras"), "--out", str(exports),
                 "--formats", "float32"]) == 2  # refuses to overwrite (bad argument)
    assert "--overwrite" in capsys.readouterr().err
    assert_unchanged(tmp_path, before)

    from kerascv_apps.data import load_dataset

    image, label = next(load_dataset("digits").test.as_numpy_iterator())
    png = tmp_path / "digit.png"
    Image.fromarray(np.round(image[..., 0]).astype(np.uint8)).save(png)
    assert main(["predict", "--model-path", str(run / "model.keras"), str(png)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["file"] == str(png) and len(result["top"]) == 3
    probs = [t["probability"] for t in result["top"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001

    # export/export_savedmodel.py adds TF Serving versions 1, 2 beside each other
    import importlib.util
    import os

    spec = importlib.util.spec_from_file_location("export_savedmodel", os.path.join(
        os.path.dirname(__file__), "..", "export", "export_savedmodel.py"))
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    for _ in range(2):
        assert script.main(["--model-path", str(run / "model.keras"), "--base-dir",
                            str(tmp_path / "serving"), "--name", "digits"]) == 0
    assert sorted(os.listdir(tmp_path / "serving" / "digits")) == ["1", "2"]


def test_predict_needs_a_known_model(tmp_path, capsys):
    from kerascv_apps import build_model

    path = tmp_path / "m.keras"
    build_model("mlp", input_shape=(8, 8, 1)).save(path)
    before = snapshot(tmp_path)
    assert main(["predict", "--model-path", str(path), "x.png"]) == 2
    assert "pass --model-name" in capsys.readouterr().err
    assert_unchanged(tmp_path, before)


def test_generic_cli_path_for_super_resolution(tmp_path, capsys):
    """train/export through the task seams: scale from the data, whole-image evaluation one
    at a time, repeated random crops with steps per epoch, dataset recalled from run.json."""
    run = tmp_path / "sr"
    before = snapshot(tmp_path)
    assert main(["train", "--model", "espcn_x2", "--dataset", "photos", "--dataset-arg", "scale=4",
                 "--run-dir", str(run), "--epochs", "1", "--batch-size", "4"]) == 2
    assert "--dataset-arg scale=2" in capsys.readouterr().err
    assert_unchanged(tmp_path, before)
    # without --dataset-arg the pairs follow the model's scale (x2)
    assert main(["train", "--model", "espcn_x2", "--dataset", "photos",
                 "--run-dir", str(run), "--epochs", "1", "--steps-per-epoch", "5",
                 "--batch-size", "4"]) == 0
    psnr = float(capsys.readouterr().out.split("psnr_y on test: ")[1].split(";")[0])
    assert 10.0 < psnr < 60.0
    history = (run / "history.csv").read_text().splitlines()
    assert len(history) == 2  # one epoch of 5 steps
    assert main(["export", "--model-path", str(run / "model.keras"), "--out", str(tmp_path / "ex"),
                 "--formats", "float32"]) == 0
    out = capsys.readouterr().out
    assert "psnr_y" in out
    keras_row = [line for line in out.splitlines() if line.startswith("keras")][0]
    assert float(keras_row.split()[1]) == pytest.approx(psnr, abs=1e-3)
    # predict reads the model's own scale (x2) although the task defaults to x4
    png = tmp_path / "lr.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(png)
    assert main(["predict", "--model-path", str(run / "model.keras"), "--out", str(tmp_path / "p"),
                 str(png)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["scale"] == 2 and result["output_size"] == [40, 60]
    assert Image.open(tmp_path / "p" / "lr_sr.png").size == (60, 40)
