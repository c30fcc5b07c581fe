"""Per-device choice of XLA and mixed precision.

``auto`` is decided from the device, never assumed: on this project's CPU machines XLA made
training slower (ResNet-50 2.4x, MobileNetV2 10.8x; keras.applications, 96x96, batch 16) and
mixed_bfloat16 was slower too, so on CPU ``auto`` means no XLA and float32. On a GPU, ``auto``
enables XLA and mixed_float16 (Tensor Cores); measure with the benchmark scripts.
"""

import dataclasses

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


@dataclasses.dataclass(frozen=True)
class DevicePolicy:
    device: str
    jit_compile: bool
    precision: str

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
