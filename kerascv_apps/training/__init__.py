"""Training glue over Keras ``fit``: device policy, optimizers, callbacks, the train loop."""

from kerascv_apps.training.trainer import TrainResult, TrainingDivergedError, train  # noqa: F401
