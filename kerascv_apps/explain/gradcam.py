"""Where a prediction comes from: Grad-CAM and gradient saliency, and their overlays.

Grad-CAM (Selvaraju et al. 2017): the feature maps ``A^k`` of one layer, weighted by the
spatial mean of the gradient of the class score ``y^c`` (the pre-softmax logit) with respect to
them, summed and rectified: ``ReLU(sum_k alpha_k^c A^k)``. The map is brought to the input's
size with the layer's geometry (feature pixel ``j`` sits at input pixel ``offset + stride * j``,
``models/backbones.layer_geometries``) and scaled to [0, 1].

The layer is the last feature level the backbone contract declares (``model.feature_taps``)
when the model carries it; a model read back from a ``.keras`` file does not (the taps are a
build-time attribute), and then the layer is the deepest level found from the graph: the last
layer whose output has the largest stride, which is the last declared tap for the families
that declare them (tests/test_explain.py) and the last pooling for LeNet-5.

Segmentation (Vinogradova et al. 2020): the class score is the mean logit of class ``c`` over a
region (default: the pixels predicted as ``c``), so the map shows what the network looked at
to label that region.

Saliency (Simonyan et al. 2014): the largest absolute gradient of the class score over the
input channels, per pixel.

The class and region are chosen from the output's rank (:func:`explanation_target`): a
(1, classes) output is a classifier's, a (1, H, W, classes) one a segmenter's; tasks whose
outputs are not class scores (super-resolution) say so with ``Task.explainable = False``.
"""

import os

import numpy as np


def _first(outputs):
    return outputs[0] if isinstance(outputs, (list, tuple)) else outputs


def score_tensor(model):
    """The tensor explanations differentiate: the input of a final softmax/sigmoid
    ``Activation`` layer (the logits), else the model's output."""
    import keras

    from kerascv_apps.keras_adapter import producing_layer

    output = _first(model.outputs)
    layer = producing_layer(output)
    if isinstance(layer, keras.layers.Activation):
        name = getattr(layer.activation, "__name__", "")
        if name in ("softmax", "sigmoid"):
            return layer.input
    return output


def _geometries(model):
    from kerascv_apps.models.backbones import layer_geometries

    return layer_geometries(model, strict=False)


def feature_layer(model):
    """The layer Grad-CAM looks at: the model's last declared feature tap, else the last
    layer whose 4-D output has the largest stride (see the module docstring)."""
    taps = getattr(model, "feature_taps", None)
    if taps:
        return taps[-1]
    best, best_stride = None, 0
    for name, geometry in _geometries(model).items():
        if not isinstance(geometry, tuple) or name == model.layers[0].name:
            continue
        if len(model.get_layer(name).output.shape) != 4:
            continue
        stride = geometry[0][0]
        if stride >= best_stride:
            best, best_stride = name, stride
    if best is None:
        raise ValueError(f"model {model.name!r} has no spatial feature layer to explain; pass "
                         f"a layer name")
    return best


def _upsample(cam, model, layer, out_shape):
    """``cam`` (h, w) onto the input grid (H, W) with the layer's stride and offset (or, when
    the geometry is unknown, spread evenly over the image)."""
    from scipy.ndimage import map_coordinates

    geometry = _geometries(model).get(layer)
    if isinstance(geometry, tuple):
        (sy, oy), (sx, ox) = geometry
    else:
        sy, sx = out_shape[0] / cam.shape[0], out_shape[1] / cam.shape[1]
        oy, ox = (sy - 1) / 2.0, (sx - 1) / 2.0  # cell centres
    rows = (np.arange(out_shape[0]) - oy) / sy
    cols = (np.arange(out_shape[1]) - ox) / sx
    grid = np.meshgrid(rows, cols, indexing="ij")
    return map_coordinates(cam, grid, order=1, mode="nearest")


def _as_batch(model, image):
    image = np.asarray(image, np.float32)
    if image.ndim == 3:
        image = image[None]
    expected = model.inputs[0].shape
    if image.ndim != 4 or image.shape[0] != 1 or (
            expected[-1] is not None and image.shape[-1] != expected[-1]):
        raise ValueError(f"explanations take one (H, W, {expected[-1]}) image, got shape "
                         f"{np.shape(image)}")
    return image


def explanation_target(logits, class_id=None, region=None):
    """Top-1 class (or ``class_id``) of a (1, C) output; a (1, H, W, C) output: class over
    ``region`` (an (H, W) weight map; default the pixels predicted as the class)."""
    logits = np.asarray(logits)
    if class_id is not None and not 0 <= int(class_id) < logits.shape[-1]:
        raise ValueError(f"class {class_id} is out of range: the model has {logits.shape[-1]} "
                         f"classes")
    if logits.ndim not in (2, 4):
        raise ValueError(f"cannot explain an output of shape {logits.shape}: expected class "
                         f"scores (1, classes) or (1, H, W, classes)")
    if logits.ndim == 4 and region is not None and np.shape(region) != logits.shape[1:3]:
        raise ValueError(f"region must be an {logits.shape[1:3]} mask of output pixels, got "
                         f"shape {np.shape(region)}")
    if logits.ndim == 2:
        return int(np.argmax(logits[0]) if class_id is None else class_id), np.float32(1.0)
    labels = np.argmax(logits[0], axis=-1)
    if class_id is None:
        inside = labels if region is None else labels[np.asarray(region) > 0]
        class_id = int(np.bincount(inside.ravel()).argmax())
    weights = (labels == class_id) if region is None else (np.asarray(region) > 0)
    if not weights.any():
        raise ValueError(f"class {class_id} covers no pixel of the region to explain")
    return int(class_id), weights.astype(np.float32)


def grad_cam(model, image, class_id=None, layer=None, region=None):
    """Grad-CAM of one image.

    Args:
        model: a Keras classification or segmentation model (pixel-valued float input).
        image: (H, W, C) or (1, H, W, C) float image, as the model takes it.
        class_id: the class to explain; ``None``: top-1 (segmentation: the class most pixels
            of the region are predicted as).
        layer: layer name; default :func:`feature_layer`.
        region: segmentation only: (H, W) mask of output pixels whose class score is
            explained; default the pixels predicted as the class.

    Returns:
        ``{"heatmap": (H, W) float32 in [0, 1], "class_id": int, "layer": str}``.
    """
    import keras
    import tensorflow as tf

    x = _as_batch(model, image)
    layer = layer or feature_layer(model)
    feature = model.get_layer(layer).output
    probe = keras.Model(model.inputs[0], [feature, score_tensor(model)])
    feats, logits = probe(x, training=False)
    class_id, weights = explanation_target(logits.numpy(), class_id, region)
    weights = tf.constant(weights, tf.float32)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        feats, logits = probe(xt, training=False)
        score = tf.reduce_sum(logits[0, ..., class_id] * weights) / tf.reduce_sum(
            tf.ones_like(logits[0, ..., class_id]) * weights)
    grads = tape.gradient(score, feats)
    if grads is None:
        raise ValueError(f"the class score does not depend on layer {layer!r}")
    alpha = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(alpha * feats, axis=-1))[0].numpy()
    heat = _upsample(cam, model, layer, x.shape[1:3])
    top = heat.max()
    heat = heat / top if top > 0 else heat
    return {"heatmap": np.clip(heat, 0, 1).astype(np.float32), "class_id": class_id,
            "layer": layer}


def saliency(model, image, class_id=None, region=None):
    """Gradient saliency: ``max_c |d score / d x_c|`` per pixel, scaled to [0, 1]; the class
    and region are chosen as in :func:`grad_cam`."""
    import keras
    import tensorflow as tf

    x = _as_batch(model, image)
    probe = keras.Model(model.inputs[0], score_tensor(model))
    class_id, weights = explanation_target(probe(x, training=False).numpy(), class_id, region)
    weights = tf.constant(weights, tf.float32)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        logits = probe(xt, training=False)
        score = tf.reduce_sum(logits[0, ..., class_id] * weights)
    grads = tape.gradient(score, xt)[0].numpy()
    heat = np.abs(grads).max(axis=-1)
    top = heat.max()
    return {"heatmap": (heat / top if top > 0 else heat).astype(np.float32),
            "class_id": class_id, "layer": None}


EXPLANATIONS = {"gradcam": grad_cam, "saliency": saliency}


def overlay(image, heatmap, alpha=0.5, colormap="jet"):
    """uint8 RGB: the image (gray repeated to RGB, pixel values 0-255) blended with the
    colour-mapped heat-map."""
    from matplotlib import colormaps

    image = np.asarray(image, np.float32)
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    colour = colormaps[colormap](np.clip(heatmap, 0, 1))[..., :3] * 255.0
    return np.clip((1 - alpha) * image + alpha * colour, 0, 255).astype(np.uint8)


def save_overlay(path, image, heatmap, alpha=0.5):
    """Writes the overlay PNG atomically; returns ``path``."""
    import io

    from PIL import Image

    from kerascv_apps.io import atomic_write_bytes

    buffer = io.BytesIO()
    Image.fromarray(overlay(image, heatmap, alpha)).save(buffer, format="PNG")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def explain_file(model, path, method, out_dir, class_id=None, layer=None, box=None):
    """Explains one image file (resized to the model's input size, as ``predict`` does) and
    writes ``<out_dir>/<stem>_<method>.png``; returns the fields ``predict`` adds to its line.

    ``box``: ``(x0, y0, x1, y1)`` output pixels whose class score a segmentation Grad-CAM
    explains (default: the pixels predicted as the class).
    """
    import tensorflow as tf

    from kerascv_apps.data.sources.image_folder import read_image

    if method not in EXPLANATIONS:
        raise ValueError(f"unknown explanation {method!r}; choose from {sorted(EXPLANATIONS)}")
    height, width, channels = model.inputs[0].shape[1:]
    image = read_image(path, channels)
    if height is not None and image.shape[:2] != (height, width):
        image = tf.image.resize(image, (height, width), antialias=True).numpy()
    region = None
    if box is not None:
        x0, y0, x1, y1 = box
        if not (0 <= x0 < x1 <= image.shape[1] and 0 <= y0 < y1 <= image.shape[0]):
            raise ValueError(f"region {box} is not a box inside the {image.shape[1]}x"
                             f"{image.shape[0]} (width x height) image the model sees")
        region = np.zeros(image.shape[:2], bool)
        region[y0:y1, x0:x1] = True
    kwargs = {"layer": layer} if method == "gradcam" else {}
    result = EXPLANATIONS[method](model, image, class_id=class_id, region=region, **kwargs)
    stem = os.path.splitext(os.path.basename(str(path)))[0]
    file = save_overlay(os.path.join(out_dir, f"{stem}_{method}.png"), image, result["heatmap"])
    fields = {"explanation": file, "explained_class": result["class_id"]}
    if result["layer"]:
        fields["explained_layer"] = result["layer"]
    return fields
