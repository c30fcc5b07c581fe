"""Runs one short training (LeNet-5 on digits; ``MODEL``/``MODEL_ARGS``/``DATASET``/``DATASET_ARGS`` for
another, e.g. a detection model on small ``shapes_detection`` images, trained through its
task's training model) and prints its per-epoch losses as JSON.

Used by test_distribute.py in fresh processes: logical CPU devices and MultiWorkerMirrored
must be set up before TensorFlow initializes.

    python tests/distribute_run.py RUN_DIR STRATEGY[,STRATEGY...] [LOGICAL_CPUS]
"""

import json
import os
import sys


def main(run_dir, strategies, logical_cpus=0):
    """``strategies``: comma-separated; each trains into ``run_dir/<strategy>``."""
    import tensorflow as tf

    from kerascv_apps.training.distribute import make_strategy

    if logical_cpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * logical_cpus)
    for name in strategies.split(","):
        strategy = make_strategy(name, devices=[f"/cpu:{i}" for i in range(logical_cpus)]
                                 if name == "mirrored" else None)  # before other TF work
        _train(os.path.join(run_dir, name), strategy)


def _train(run_dir, strategy):
    from kerascv_apps.training.distribute import is_chief, replicas, shard
    import keras

    from kerascv_apps.data import load_dataset, make_pipeline
    from kerascv_apps.experiment import build_for_data, task_for
    from kerascv_apps.training import train

    keras.utils.set_random_seed(0)
    name = os.environ.get("MODEL", "lenet5")
    splits = load_dataset(os.environ.get("DATASET", "digits"),
                          **json.loads(os.environ.get("DATASET_ARGS", "{}")))
    task = task_for(name, splits)
    global_batch = int(os.environ.get("GLOBAL_BATCH", "32"))
    # not shuffled: the shuffle order of a seeded pipeline depends on how many random ops the
    # process created before it, which differs between strategies
    train_ds = shard(make_pipeline(splits.train, global_batch, repeat=True, drop_remainder=True))
    val_ds = shard(make_pipeline(splits.val.take(64), global_batch, drop_remainder=True))
    # built in the strategy's scope, as the task trains it (detection: through the head's loss)
    model_kwargs = json.loads(os.environ.get("MODEL_ARGS", "{}"))
    # (no metrics: the tests compare losses)
    result = train(lambda: task.training_model(build_for_data(name, splits, task, **model_kwargs)),
                   train_ds, val_ds, run_dir=run_dir, epochs=int(os.environ.get("EPOCHS", "3")),
                   loss=task.loss(None), optimizer="sgd",
                   momentum=0.9,
                   learning_rate=float(os.environ.get("LR", "0.02")),
                   steps_per_epoch=int(os.environ.get("STEPS", "8")),
                   verbose=0, strategy=strategy, jit_compile="off", tensorboard=False)
    print("RESULT " + json.dumps({"loss": result.history["loss"],
                                  "val_loss": result.history.get("val_loss"),
                                  "epochs_run": result.epochs_run, "chief": is_chief(strategy),
                                  "replicas": replicas(strategy)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)
