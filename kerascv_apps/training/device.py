"""Per-device choice of XLA and mixed precision.

XLA ``auto``: on this project's CPU machines XLA made training slower (ResNet-50 2.4x,
MobileNetV2 10.8x; keras.applications, 96x96, batch 16), so on CPU it is off; on a GPU it is on.
Precision ``auto``: mixed_float16 on a GPU (Tensor Cores); on a CPU, float32 here, and a
training run then measures its own model in float32 and mixed_bfloat16 on this CPU
(``training.precision_choice``) because the answer differs per CPU and per model.
"""

import dataclasses

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


@dataclasses.dataclass(frozen=True)
class DevicePolicy:
    device: str
    jit_compile: bool
    precision: str
    precision_choice: dict = None  # how ``auto`` chose on a CPU (measured rates, reason)

    def as_dict(self):
        return dataclasses.asdict(self)


def detect_device():
    import tensorflow as tf

    return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"


def resolve_jit_compile(jit_compile="auto", device=None):
    if jit_compile in (True, False):
        return jit_compile
    if jit_compile in ("on", "true", "1"):
        return True
    if jit_compile in ("off", "false", "0"):
        return False
    if jit_compile != "auto":
        raise ValueError(f"jit_compile must be 'auto', 'on' or 'off', got {jit_compile!r}")
    return (device or detect_device()) == "gpu"


def resolve_precision(precision="auto", device=None):
    if precision == "auto":
        return "mixed_float16" if (device or detect_device()) == "gpu" else "float32"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be 'auto' or one of {PRECISIONS}, got {precision!r}")
    return precision


def configure_precision(precision="auto"):
    """Sets Keras' global dtype policy; call before building the model. Returns the policy."""
    import keras

    resolved = resolve_precision(precision)
    keras.config.set_dtype_policy(resolved)
    return resolved


def resolve_policy(jit_compile="auto", precision="auto"):
    device = detect_device()
    return DevicePolicy(device, resolve_jit_compile(jit_compile, device),
                        resolve_precision(precision, device))
