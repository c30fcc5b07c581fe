import json

from kerascv_apps.data import load_dataset
from kerascv_apps.tuning import tune


def test_random_search_records_best_trial(tmp_path):
    splits = load_dataset("digits")
    space = {"optimizer": ["adam", "sgd"], "learning_rate": (1e-3, 1e-2),
             "weight_decay": [0.0], "dropout": [0.0, 0.3]}
    result = tune("lenet5", splits, str(tmp_path), max_trials=3, epochs=1, batch_size=64,
                  space=space, verbose=0)
    assert result["trials"] == 3
    assert result["best_score"] == max(t["score"] for t in result["all"])
    best = result["best_hyperparameters"]
    assert best["optimizer"] in ("adam", "sgd") and 1e-3 <= best["learning_rate"] <= 1e-2
    assert best["dropout"] in (0.0, 0.3)
    saved = json.loads((tmp_path / "best_hyperparameters.json").read_text())
    assert saved["best_hyperparameters"] == best
    assert 0.1 < result["best_score"] <= 1.0  # one epoch of LeNet beats chance on digits
