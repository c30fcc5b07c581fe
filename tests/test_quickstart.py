"""The main job's acceptance figures, measured on the real embedded digits."""

import json

from kerascv_apps.io import load_model
from kerascv_apps.end_to_end import run_quickstart


def test_quickstart_meets_acceptance(tmp_path):
    lines = []
    report = run_quickstart(str(tmp_path / "qs"), verbose=0, print_fn=lines.append)
    assert report["test_accuracy"] >= 0.97
    assert report["test_accuracy"] - report["int8_accuracy"] <= 0.01
    # weights shrink 4x; both files also carry the same ~3 KB of embedded metadata (labels,
    # contract) and the RGB front, which on a 62k-parameter model adds about 0.01 (measured
    # 74.6 KB / 248.0 KB = 0.301)
    assert report["int8_size_vs_float32"] <= 0.31
    run_dir = tmp_path / "qs"
    for rel in ("model.keras", "checkpoints/best.keras", "history.csv", "report.json",
                "plots/training_curves.png", "plots/confusion_matrix.png",
                "exports/tflite/lenet5_int8.tflite", "exports/savedmodel/lenet5/1/saved_model.pb"):
        assert (run_dir / rel).exists(), rel
    assert any(p.name.startswith("events.out") for p in (run_dir / "logs").rglob("*"))
    saved = json.loads((run_dir / "report.json").read_text())
    assert saved["test_accuracy"] == report["test_accuracy"]
    assert any("int8" in line for line in lines)
    # the saved model reloads in safe mode and gives the evaluated accuracy
    model = load_model(str(run_dir / "model.keras"))
    from kerascv_apps.data import load_dataset
    import numpy as np

    test = load_dataset("digits").test
    x = np.stack([a for a, _ in test.as_numpy_iterator()])
    y = np.array([b for _, b in test.as_numpy_iterator()])
    assert np.mean(model.predict(x, verbose=0).argmax(-1) == y) == report["test_accuracy"]
