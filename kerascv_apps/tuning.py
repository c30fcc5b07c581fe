"""Hyperparameter search with KerasTuner over the registry's builders.

The search space covers what the lectures name as the knobs that matter: optimizer (SGD with
momentum, Adam, AdamW), learning rate (log scale), weight decay and dropout. Every trial
trains through the same pipelines as ``train_model``; the objective is the task's monitor
(validation accuracy for classification). A workflow beside ``experiment.py`` (it uses its
pipelines), not part of ``training/``, so imports keep pointing down.
"""

import json
import os

from kerascv_apps.experiment import build_for_data, pipelines, task_for
from kerascv_apps.io import atomic_write_text

DEFAULT_SPACE = {
    "optimizer": ["sgd", "adam", "adamw"],
    "learning_rate": (1e-4, 1e-1),
    "weight_decay": [0.0, 1e-5, 1e-4],
    "dropout": [0.0, 0.2, 0.4],
}


def tune(model_name, splits, run_dir, *, max_trials=8, epochs=5, batch_size=64, augment="none",
         seed=0, space=None, model_kwargs=None, verbose=1):
    """Random search; returns ``{"best_hyperparameters": ..., "best_score": ..., "trials": n}``.

    Results (KerasTuner's trial folders and ``best_hyperparameters.json``) go to ``run_dir``;
    re-running with the same ``run_dir`` continues the search instead of starting over.
    """
    import keras
    import keras_tuner

    from kerascv_apps.training.optimizers import build_optimizer

    space = {**DEFAULT_SPACE, **(space or {})}
    task = task_for(model_name, splits)
    monitor, mode = task.monitor()
    train_ds, val_ds, _ = pipelines(task, splits, batch_size, augment, seed)

    def build(hp):
        kwargs = dict(model_kwargs or {})
        if space.get("dropout"):
            kwargs["dropout"] = hp.Choice("dropout", space["dropout"])
        model = build_for_data(model_name, splits, task, **kwargs)
        low, high = space["learning_rate"]
        optimizer = build_optimizer(hp.Choice("optimizer", space["optimizer"]),
                                    hp.Float("learning_rate", low, high, sampling="log"),
                                    weight_decay=hp.Choice("weight_decay", space["weight_decay"]))
        model.compile(optimizer=optimizer, loss=task.loss(model), metrics=task.metrics(model))
        return model

    keras.utils.set_random_seed(seed)
    tuner = keras_tuner.RandomSearch(
        build, objective=keras_tuner.Objective(monitor, direction=mode), max_trials=max_trials,
        seed=seed, directory=os.path.abspath(run_dir), project_name="search", overwrite=False)
    tuner.search(train_ds, validation_data=val_ds, epochs=epochs, verbose=verbose,
                 shuffle=False)  # the pipeline shuffles; fit would warn that it ignores this
    best = tuner.get_best_hyperparameters(1)[0].values
    trials = [t for t in tuner.oracle.trials.values() if t.score is not None]
    pick = max if mode == "max" else min
    result = {"model": model_name, "dataset": splits.name, "objective": monitor,
              "best_hyperparameters": best, "best_score": float(pick(t.score for t in trials)),
              "trials": len(trials),
              "all": [{"hyperparameters": t.hyperparameters.values, "score": float(t.score)}
                      for t in trials]}
    atomic_write_text(os.path.join(run_dir, "best_hyperparameters.json"),
                      json.dumps(result, indent=2))
    return result
