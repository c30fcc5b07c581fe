"""Optimizers (SGD+momentum, Adam, AdamW, weight decay) and learning-rate schedules."""

import keras

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "cosine", "step", "exponential")


class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to the wrapped schedule's value over ``warmup_steps``."""

    def __init__(self, schedule, warmup_steps, peak_learning_rate):
        self.schedule = schedule
        self.warmup_steps = int(warmup_steps)
        self.peak_learning_rate = float(peak_learning_rate)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warm = self.peak_learning_rate * (step + 1.0) / max(1, self.warmup_steps)
        after = self.schedule(keras.ops.maximum(step - self.warmup_steps, 0.0))
        return keras.ops.where(step < self.warmup_steps, warm, after)

    def get_config(self):
        return {"schedule": keras.saving.serialize_keras_object(self.schedule),
                "warmup_steps": self.warmup_steps,
                "peak_learning_rate": self.peak_learning_rate}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["schedule"] = keras.saving.deserialize_keras_object(config["schedule"])
        return cls(**config)


keras.saving.register_keras_serializable(package="kerascv_apps")(WarmupSchedule)


def build_schedule(schedule="constant", learning_rate=1e-3, total_steps=None, warmup_steps=0,
                   step_every=None, decay_rate=0.1):
    """A learning-rate schedule.

    ``cosine`` decays to 0 over ``total_steps``; ``step`` multiplies by ``decay_rate`` every
    ``step_every`` steps (default a third of training); ``exponential`` decays smoothly by
    ``decay_rate`` over ``total_steps``. ``warmup_steps`` adds a linear warm-up.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    lr = float(learning_rate)
    if schedule == "constant":
        sched = keras.optimizers.schedules.PiecewiseConstantDecay([1], [lr, lr]) if warmup_steps else lr
    else:
        if not total_steps:
            raise ValueError(f"schedule {schedule!r} needs total_steps (epochs x steps per epoch)")
        decay_steps = max(1, int(total_steps) - int(warmup_steps))
        if schedule == "cosine":
            sched = keras.optimizers.schedules.CosineDecay(lr, decay_steps)
        elif schedule == "step":
            every = int(step_every or max(1, decay_steps // 3))
            sched = keras.optimizers.schedules.ExponentialDecay(lr, every, decay_rate, staircase=True)
        else:
            sched = keras.optimizers.schedules.ExponentialDecay(lr, decay_steps, decay_rate)
    if warmup_steps:
        if isinstance(sched, float):
            sched = keras.optimizers.schedules.PiecewiseConstantDecay([1], [lr, lr])
        sched = WarmupSchedule(sched, warmup_steps, lr)
    return sched


def build_optimizer(name="adam", learning_rate=1e-3, momentum=0.9, weight_decay=0.0,
                    clipnorm=None):
    """``sgd`` (momentum, Nesterov off), ``adam``, ``adamw`` (decoupled decay) or ``rmsprop``.

    ``weight_decay`` is decoupled decay for every optimizer (Keras 3 applies it to the weights
    directly); for SGD this equals L2 regularization scaled by the learning rate.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")
    kwargs = {"learning_rate": learning_rate}
    if clipnorm:
        kwargs["clipnorm"] = clipnorm
    if weight_decay:
        kwargs["weight_decay"] = weight_decay
    if name == "sgd":
        return keras.optimizers.SGD(momentum=momentum, **kwargs)
    if name == "adam":
        return keras.optimizers.Adam(**kwargs)
    if name == "adamw":
        kwargs.setdefault("weight_decay", 1e-4)
        return keras.optimizers.AdamW(**kwargs)
    return keras.optimizers.RMSprop(momentum=0.0, **kwargs)
