"""keras.applications weight files load into our models by layer name, with the matching
preprocessing inside: same outputs on the same raw [0, 255] image. Nothing is downloaded:
keras.applications builds each model with random weights, which are saved to .h5 here."""

import h5py
import keras
import numpy as np
import pytest
from keras.src.legacy.saving import legacy_h5_format

from kerascv_apps import build_model
from kerascv_apps.models.weights import WeightsError

SHAPE = (32, 32, 3)
# our name -> (keras.applications constructor, preprocess_input mode, include_top)
CASES = {
    "resnet50": ("ResNet50", "caffe", True),
    "vgg16": ("VGG16", "caffe", False),
    "mobilenet_v2": ("MobileNetV2", "tf", True),
    "efficientnet_b0": ("EfficientNetB0", None, True),
}


def _randomize_statistics(model, rng):
    """Non-trivial batch-norm and normalization state, so a misplaced one shows."""
    for v in model.weights:
        leaf = v.path.split("/")[-1]
        if leaf in ("moving_mean", "beta", "mean"):
            v.assign(rng.normal(0, 0.1, v.shape).astype("float32"))
        elif leaf in ("moving_variance", "gamma", "variance"):
            v.assign(rng.uniform(0.5, 1.5, v.shape).astype("float32"))


def save_legacy_h5(model, path):
    """Writes weights the way keras.applications' released (cached) ``.h5`` files are laid
    out: one group per layer name."""
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request, tmp_path_factory):
    name = request.param
    constructor, mode, include_top = CASES[name]
    rng = np.random.default_rng(0)
    top = dict(classes=10, classifier_activation=None) if include_top else {}
    reference = getattr(keras.applications, constructor)(
        weights=None, input_shape=SHAPE, include_top=include_top, **top)
    _randomize_statistics(reference, rng)
    for layer in reference.layers:
        if isinstance(layer, keras.layers.Normalization):
            layer.finalize_state()
    path = str(tmp_path_factory.mktemp(name) / f"{name}.h5")
    save_legacy_h5(reference, path)
    raw = rng.uniform(0, 255, (2,) + SHAPE).astype("float32")
    x = keras.applications.imagenet_utils.preprocess_input(raw.copy(), mode=mode) if mode else raw
    want = np.asarray(reference(x, training=False))
    return name, path, include_top, raw, want


def test_build_model_with_keras_applications_weights_matches_outputs(case):
    name, path, include_top, raw, want = case
    kwargs = dict(num_classes=10, classifier_activation=None) if include_top else \
        dict(include_top=False, pooling=None)
    ours = build_model(name, weights=path, input_shape=SHAPE, **kwargs)
    got = np.asarray(ours(raw, training=False))
    assert got.shape == want.shape
    assert want.std() > 1e-2  # outputs that differ between inputs and units
    diff = float(np.abs(got - want).max())
    print(f"{name}: max abs diff {diff:.3g} (output std {want.std():.3g})")
    assert diff <= 1e-4
    # the weights chose the preprocessing the file was trained with
    layers = {layer.name: layer for layer in ours.layers}
    expected = {"resnet50": "caffe", "vgg16": "caffe", "mobilenet_v2": "tf"}.get(name)
    if expected is None:  # EfficientNet: x / 255 then its own Normalization (from the file)
        assert "rescale" in layers and "normalization" in layers
    else:
        assert layers["preprocessing"].mode == expected


def test_mismatches_name_the_first_layer(case, tmp_path):
    name, path, include_top, _, _ = case
    if name == "vgg16":  # a headless VGG-16 file into a VGG with 4 convs in stage 3
        with pytest.raises(WeightsError, match=r"no weights for layer 'block3_conv4'"):
            build_model("vgg19", weights=path, input_shape=SHAPE, include_top=False,
                        stackwise_num_blocks=(2, 2, 4, 1, 1))
    elif name == "resnet50":  # 10 classes in the file, 5 in the model
        with pytest.raises(WeightsError, match=r"'predictions_dense'.*\(2048, 5\).*\(2048, 10\)"):
            build_model(name, weights=path, input_shape=SHAPE, num_classes=5,
                        stackwise_num_blocks=(1, 1, 1, 1))
    else:
        with pytest.raises(WeightsError, match="not found: .*missing.h5"):
            build_model(name, weights=str(tmp_path / "missing.h5"))


def test_keras3_weights_h5_file_of_a_headless_model(tmp_path):
    """A ``.weights.h5`` file (stored by structure) is read through the keras.applications
    architecture, then copied by name."""
    rng = np.random.default_rng(1)
    reference = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=SHAPE)
    _randomize_statistics(reference, rng)
    path = str(tmp_path / "mobilenet_v2_notop.weights.h5")
    reference.save_weights(path)
    raw = rng.uniform(0, 255, (2,) + SHAPE).astype("float32")
    want = np.asarray(reference(raw / 127.5 - 1.0, training=False))
    ours = build_model("mobilenet_v2", weights=path, input_shape=SHAPE, include_top=False,
                       pooling=None)
    assert float(np.abs(np.asarray(ours(raw, training=False)) - want).max()) <= 1e-4
    with pytest.raises(WeightsError, match="structure.*lenet5"):
        build_model("lenet5", weights=path)
