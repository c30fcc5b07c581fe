"""Every kernel starts from its own random draw: no two same-shaped kernels are identical."""

import numpy as np
import pytest

from kerascv_apps import build_model


@pytest.mark.parametrize("name, kwargs", [
    ("efficientnet_b0", dict(input_shape=(32, 32, 3), num_classes=4)),
    ("mobilenet_v2", dict(input_shape=(32, 32, 3), num_classes=4)),
    ("resnet18", dict(input_shape=(32, 32, 3), num_classes=4)),
])
def test_same_shaped_kernels_differ(name, kwargs):
    model = build_model(name, **kwargs)
    kernels = {}
    for weight in model.weights:
        if "kernel" not in weight.path or int(np.prod(weight.shape)) < 2:
            continue
        value = np.asarray(weight.numpy())
        kernels.setdefault((tuple(value.shape), value.tobytes()), []).append(weight.path)
    same = [paths for paths in kernels.values() if len(paths) > 1]
    assert len(kernels) > 10
    assert not same, f"{name}: identical initial kernels {same[:3]}"
