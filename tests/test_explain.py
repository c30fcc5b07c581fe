"""Explanations (explain/gradcam.py): Grad-CAM and saliency look where the prediction comes
from, change when the top layers are randomized, follow the layer geometry, and the CLI writes
their overlays."""

import json
import os

import keras
import numpy as np
import pytest
from PIL import Image

from kerascv_apps import build_model
from kerascv_apps.explain.gradcam import (explanation_target, feature_layer, grad_cam, saliency,
                                          save_overlay)

# the only pixels the test models below see (rows 4-13, columns 18-29 of a 32x32 image)
ROWS, COLS = (4, 14), (18, 30)


def _region_model(num_classes=3, dense=True):
    """Sees only the ROWS x COLS window: the rest is cropped away and zero-padded back, and
    the convolutions have no bias, so nothing outside the window can reach the output."""
    inputs = keras.Input((32, 32, 1), name="image")
    x = keras.layers.Cropping2D(((ROWS[0], 32 - ROWS[1]), (COLS[0], 32 - COLS[1])))(inputs)
    x = keras.layers.ZeroPadding2D(((ROWS[0], 32 - ROWS[1]), (COLS[0], 32 - COLS[1])))(x)
    x = keras.layers.Rescaling(1 / 255.0)(x)
    x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, activation="relu")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, activation="relu",
                            name="features")(x)
    if dense:
        x = keras.layers.GlobalAveragePooling2D()(x)
        x = keras.layers.Dense(num_classes)(x)
    else:
        x = keras.layers.UpSampling2D(2)(x)
        x = keras.layers.Conv2D(num_classes, 1)(x)
    outputs = keras.layers.Activation("softmax", name="predictions")(x)
    return keras.Model(inputs, outputs)


def _mass_inside(heat, rows, cols, halo=0):
    inside = heat[max(rows[0] - halo, 0):rows[1] + halo, max(cols[0] - halo, 0):cols[1] + halo]
    return inside.sum() / heat.sum()


def test_grad_cam_and_saliency_peak_where_the_model_looks():
    keras.utils.set_random_seed(0)
    model = _region_model()
    image = np.random.default_rng(0).uniform(0, 255, (32, 32, 1)).astype(np.float32)
    assert feature_layer(model) == "features"  # the deepest (stride 2) 4-D layer
    cam = grad_cam(model, image)
    assert cam["heatmap"].shape == (32, 32) and cam["heatmap"].max() == pytest.approx(1.0)
    assert cam["class_id"] == int(np.argmax(model(image[None])[0]))
    # a feature pixel (stride 2, receptive field 8) sees 3.5 pixels around its centre, and
    # bilinear interpolation between feature pixels spreads it by one stride more
    assert _mass_inside(cam["heatmap"], ROWS, COLS, halo=6) > 0.99
    peak = np.unravel_index(np.argmax(cam["heatmap"]), (32, 32))
    assert ROWS[0] - 6 <= peak[0] < ROWS[1] + 6 and COLS[0] - 6 <= peak[1] < COLS[1] + 6
    sal = saliency(model, image, class_id=1)
    assert sal["class_id"] == 1
    assert _mass_inside(sal["heatmap"], ROWS, COLS) == pytest.approx(1.0)  # exact: no halo


def test_segmentation_grad_cam_of_a_class_over_a_region():
    keras.utils.set_random_seed(1)
    model = _region_model(dense=False)
    image = np.random.default_rng(1).uniform(0, 255, (32, 32, 1)).astype(np.float32)
    region = np.zeros((32, 32), bool)
    region[4:8, 18:22] = True  # the window's top-left corner
    cam = grad_cam(model, image, class_id=2, region=region)
    assert cam["class_id"] == 2
    # Grad-CAM weights channels by the region's gradients and shows them wherever they fire:
    # inside the window only
    assert _mass_inside(cam["heatmap"], ROWS, COLS, halo=6) > 0.99
    with pytest.raises(ValueError, match="region must be"):
        grad_cam(model, image, class_id=2, region=np.ones((16, 16), bool))
    with pytest.raises(ValueError, match="out of range"):
        grad_cam(model, image, class_id=7)


def _spearman(a, b):
    ra, rb = (np.argsort(np.argsort(v.ravel())) for v in (a, b))
    return float(np.corrcoef(ra, rb)[0, 1])


def test_grad_cam_changes_when_the_top_layers_are_randomized(trained_lenet):
    """Adebayo et al. 2018's model randomization test: a map that survives re-initializing
    the layers above the explained one does not explain the trained model."""
    model, splits, _ = trained_lenet
    images = [x for x, _ in splits.test.take(8).as_numpy_iterator()]
    trained = [grad_cam(model, x) for x in images]
    assert trained[0]["layer"] == "s4"  # LeNet-5 declares no taps: the deepest pooling
    randomized = keras.models.clone_model(model)  # fresh initial weights ...
    randomized.set_weights(model.get_weights())
    for name in ("c5", "f6", "predictions_dense"):  # ... kept only up to s4
        layer = randomized.get_layer(name)
        layer.set_weights([np.random.default_rng(0).normal(0, 0.3, w.shape) for w in
                           layer.get_weights()])
    again = [grad_cam(model, x) for x in images]
    changed = [grad_cam(randomized, x, class_id=t["class_id"]) for x, t in zip(images, trained)]
    same = np.mean([_spearman(a["heatmap"], b["heatmap"]) for a, b in zip(trained, again)])
    rand = np.mean([_spearman(a["heatmap"], b["heatmap"]) for a, b in zip(trained, changed)])
    assert same == pytest.approx(1.0)
    assert rand < 0.5, rand


def test_declared_feature_taps_and_the_graph_rule_agree():
    model = build_model("resnet18", input_shape=(64, 64, 3), num_classes=3,
                        stackwise_num_filters=(4, 4, 8, 8))
    declared = feature_layer(model)
    assert declared == model.feature_taps[-1]
    del model.feature_taps  # as read back from a .keras file
    assert feature_layer(model) == declared


def test_explanation_target_rules():
    assert explanation_target(np.array([[0.1, 2.0, 0.3]]))[0] == 1
    logits = np.zeros((1, 4, 4, 3))
    logits[0, :, :3, 2] = 1.0  # class 2 on three columns, class 0 on the last
    class_id, weights = explanation_target(logits)
    assert class_id == 2 and weights.sum() == 12
    with pytest.raises(ValueError, match="covers no pixel"):
        explanation_target(logits, class_id=1)
    with pytest.raises(ValueError, match="cannot explain"):
        explanation_target(np.zeros((1, 4, 3)))


def test_overlay_png(tmp_path):
    image = np.zeros((8, 8, 1), np.float32)
    heat = np.zeros((8, 8), np.float32)
    heat[2, 3] = 1.0
    path = save_overlay(str(tmp_path / "o.png"), image, heat)
    rgb = np.asarray(Image.open(path))
    assert rgb.shape == (8, 8, 3)
    assert rgb[2, 3, 0] > 50 and rgb[0, 0, 0] == 0  # the hot pixel is red, the rest blue
    assert rgb[0, 0, 2] > 50 and rgb[2, 3, 2] == 0


def test_cli_predict_explain_writes_overlays(trained_lenet, tmp_path):
    from kerascv_apps.cli import main
    from kerascv_apps.io import save_model_atomic

    model, splits, _ = trained_lenet
    run = tmp_path / "run"
    run.mkdir()
    save_model_atomic(model, str(run / "model.keras"))
    (run / "run.json").write_text(json.dumps({"model": "lenet5", "task": "classification",
                                              "dataset": "digits", "model_kwargs": {},
                                              "data": {"class_names": list(splits.class_names),
                                                       "num_classes": 10}}))
    x, _ = next(splits.test.as_numpy_iterator())
    Image.fromarray(np.clip(x[..., 0], 0, 255).astype(np.uint8)).save(tmp_path / "digit.png")
    out = tmp_path / "out"
    code = main(["predict", "--model-path", str(run / "model.keras"), "--out", str(out),
                 "--explain", "gradcam", str(tmp_path / "digit.png")])
    assert code == 0
    assert os.path.exists(out / "digit_gradcam.png")


def test_gaussian_derivative_fit_recovers_a_derivative_and_rejects_noise():
    from kerascv_apps.explain.filters import fit_gaussian_derivatives, gaussian_derivatives

    d = gaussian_derivatives(7, 1.5)
    edge = 0.8 * d["Gx"] - 0.6 * d["Gy"]  # a first derivative steered to ~37 degrees
    fit = fit_gaussian_derivatives(edge)
    assert fit["sigma"] == 1.5 and fit["r2"] > 0.999
    assert fit["order_energy"][1] > 0.99
    bar = fit_gaussian_derivatives(d["Gxx"] + 0.01)
    assert bar["order_energy"][2] > 0.9
    noise = np.random.default_rng(0).normal(size=(7, 7))
    assert fit_gaussian_derivatives(noise)["r2"] < 0.5
    with pytest.raises(ValueError, match="square"):
        fit_gaussian_derivatives(np.zeros((3, 5)))


def test_cli_explain_filters_and_activations(trained_lenet, tmp_path):
    from kerascv_apps.cli import main
    from kerascv_apps.io import save_model_atomic

    model, splits, _ = trained_lenet
    save_model_atomic(model, str(tmp_path / "m.keras"))
    x, _ = next(splits.test.as_numpy_iterator())
    Image.fromarray(np.clip(x[..., 0], 0, 255).astype(np.uint8)).save(tmp_path / "d.png")
    out = tmp_path / "filters"
    assert main(["explain", "filters", "--model-path", str(tmp_path / "m.keras"), "--out",
                 str(out), "--image", str(tmp_path / "d.png"), "--layer", "c1"]) == 0
    report = json.loads((out / "filters.json").read_text())
    assert report["layer"] == "c1" and report["kernel_shape"] == [5, 5, 1, 6]
    assert len(report["filters"]) == 6
    grid = np.asarray(Image.open(out / "filters.png"))
    assert grid.shape[0] > grid.shape[1] / 6  # two rows: filters above their fits
    acts = np.asarray(Image.open(out / "activations_c1.png"))
    assert acts.std() > 0
    assert main(["explain", "filters", "--model-path", str(tmp_path / "m.keras"), "--out",
                 str(out), "--image", str(tmp_path / "d.png"), "--layer", "nope"]) == 2


@pytest.fixture(scope="module")
def digits_batch(trained_lenet):
    model, splits, _ = trained_lenet
    data = list(splits.test.take(96).as_numpy_iterator())
    return model, np.stack([x for x, _ in data]), np.array([y for _, y in data])


def _accuracy(model, x, y):
    return float(np.mean(np.asarray(model(x)).argmax(-1) == y))


def test_fgsm_and_pgd_fool_where_random_noise_of_the_same_size_does_not(digits_batch):
    from kerascv_apps.explain.adversarial import accuracy_vs_eps, fgsm, pgd

    model, x, y = digits_batch
    eps = 16.0
    adv = fgsm(model, x, y, eps)
    assert np.abs(adv - x).max() <= eps + 1e-3 and adv.min() >= 0 and adv.max() <= 255
    noise = np.clip(x + eps * np.sign(np.random.default_rng(0).normal(size=x.shape)), 0, 255)
    clean, attacked = _accuracy(model, x, y), _accuracy(model, adv, y)
    assert clean - attacked > 0.15, (clean, attacked)
    assert clean - _accuracy(model, noise.astype(np.float32), y) < 0.05
    stronger = pgd(model, x, y, eps, steps=5)
    assert np.abs(stronger - x).max() <= eps + 1e-3
    assert _accuracy(model, stronger, y) <= attacked
    rows = accuracy_vs_eps(lambda b: np.asarray(model(b)), model, x, y, [0, eps])
    assert rows[0]["accuracy"] == clean and rows[1]["accuracy"] == attacked
    with pytest.raises(ValueError, match="pixel units"):
        fgsm(model, x, y, 300)


def test_fooling_images_reach_the_confidence_from_noise(digits_batch):
    from kerascv_apps.explain.adversarial import fooling_image

    model = digits_batch[0]
    for c in (3, 7):
        f = fooling_image(model, c, confidence=0.99, steps=300)
        assert f["confidence"] >= 0.99 and f["class_id"] == c
        assert float(np.asarray(model(f["image"][None]))[0, c]) >= 0.99
        assert f["image"].min() >= 0 and f["image"].max() <= 255


def test_heatmap_lands_on_the_input_pixel_its_feature_sits_on():
    """Geometry: after cropping 6 rows and 10 columns and a valid 3x3 stride-2 convolution,
    feature pixel (i, j) sits at input pixel (7 + 2i, 11 + 2j)."""
    from kerascv_apps.explain.gradcam import _upsample

    inputs = keras.Input((32, 32, 1))
    x = keras.layers.Cropping2D(((6, 0), (10, 0)))(inputs)
    x = keras.layers.Conv2D(1, 3, strides=2, name="f")(x)
    model = keras.Model(inputs, x)
    cam = np.zeros(model.get_layer("f").output.shape[1:3], np.float32)
    cam[3, 2] = 1.0
    heat = _upsample(cam, model, "f", (32, 32))
    assert np.unravel_index(np.argmax(heat), heat.shape) == (13, 15)
    assert heat[13, 15] == pytest.approx(1.0)
