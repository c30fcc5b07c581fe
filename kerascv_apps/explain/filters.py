"""First-layer filters and their closest Gaussian-derivative fit; a layer's activations.

The lectures observe that learned first-layer filters look like derivatives of Gaussians
(edge and bar detectors at a few scales and orientations; Koenderink's local jet, Young's
Gaussian-derivative model of simple cells). Here each filter of the first convolution (summed
over its input channels: the luminance part) is fitted by least squares with the Gaussian
derivatives of orders 0, 1 and 2 (``G, Gx, Gy, Gxx, Gxy, Gyy``, which steer to every
orientation) at each scale of a grid; the fit reported is the scale with the smallest residual,
with ``r2 = 1 - |f - fit|^2 / |f|^2`` (1: the filter is such a combination) and the share of the
fit's energy in each order.
"""

import json
import os

import numpy as np

SIGMAS = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


def gaussian_derivatives(size, sigma):
    """``{name: (size, size) template}`` for G, Gx, Gy, Gxx, Gxy, Gyy (x: columns, y: rows),
    centred on the kernel's middle pixel."""
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    y, x = np.meshgrid(r, r, indexing="ij")
    g = np.exp(-(x ** 2 + y ** 2) / (2 * sigma ** 2))
    s2 = sigma ** 2
    return {"G": g, "Gx": -x / s2 * g, "Gy": -y / s2 * g,
            "Gxx": (x ** 2 / s2 - 1) / s2 * g, "Gxy": x * y / s2 ** 2 * g,
            "Gyy": (y ** 2 / s2 - 1) / s2 * g}


ORDERS = {"G": 0, "Gx": 1, "Gy": 1, "Gxx": 2, "Gxy": 2, "Gyy": 2}


def fit_gaussian_derivatives(kernel, sigmas=SIGMAS):
    """Best least-squares fit of one square 2-D ``kernel`` by Gaussian derivatives of orders
    0-2 at one scale. Returns ``{"sigma", "r2", "order_energy": [e0, e1, e2], "fit"}``."""
    kernel = np.asarray(kernel, np.float64)
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"expected a square 2-D kernel, got shape {kernel.shape}")
    norm = float(np.sum(kernel ** 2))
    best = None
    for sigma in sigmas:
        basis = gaussian_derivatives(kernel.shape[0], sigma)
        names = list(basis)
        a = np.stack([basis[n].ravel() for n in names], axis=1)
        coef, *_ = np.linalg.lstsq(a, kernel.ravel(), rcond=None)
        fit = (a @ coef).reshape(kernel.shape)
        r2 = 1.0 - float(np.sum((kernel - fit) ** 2)) / norm if norm > 0 else 0.0
        if best is None or r2 > best["r2"]:
            energy = np.zeros(3)
            for n, c in zip(names, coef):
                energy[ORDERS[n]] += float(np.sum((c * basis[n]) ** 2))
            total = energy.sum()
            best = {"sigma": float(sigma), "r2": r2,
                    "order_energy": (energy / total if total > 0 else energy).tolist(),
                    "fit": fit}
    return best


def first_conv(model):
    """The first ``Conv2D`` layer of the model (in graph order, nested models included)."""
    import keras

    def walk(layers):
        for layer in layers:
            if isinstance(layer, keras.layers.Conv2D) and not isinstance(
                    layer, keras.layers.Conv2DTranspose):
                return layer
            if hasattr(layer, "layers"):
                found = walk(layer.layers)
                if found is not None:
                    return found
        return None

    layer = walk(model.layers)
    if layer is None:
        raise ValueError(f"model {model.name!r} has no Conv2D layer")
    return layer


def filter_fits(model, sigmas=SIGMAS):
    """The first convolution's filters and their fits: ``(layer name, kernel (kh, kw, cin,
    cout), [fit per filter])``; each fit is made on the filter summed over input channels."""
    layer = first_conv(model)
    kernel = np.asarray(layer.get_weights()[0], np.float64)
    if kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"layer {layer.name!r}: non-square kernels {kernel.shape[:2]} are not "
                         f"fitted")
    fits = [fit_gaussian_derivatives(kernel[..., k].sum(axis=2), sigmas)
            for k in range(kernel.shape[-1])]
    return layer.name, kernel, fits


def _tile(maps, columns, pad=1):
    """(n, h, w[, 3]) maps in [0, 1] -> one image grid."""
    n, h, w = maps.shape[:3]
    rows = int(np.ceil(n / columns))
    shape = (rows * (h + pad) + pad, columns * (w + pad) + pad) + maps.shape[3:]
    grid = np.ones(shape, np.float32)
    for i, m in enumerate(maps):
        r, c = divmod(i, columns)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        grid[top:top + h, left:left + w] = m
    return grid


def _scaled(x, symmetric=True):
    x = np.asarray(x, np.float64)
    if symmetric:
        m = np.abs(x).max()
        return 0.5 + 0.5 * x / m if m > 0 else np.full(x.shape, 0.5)
    lo, hi = x.min(), x.max()
    return (x - lo) / (hi - lo) if hi > lo else np.zeros(x.shape)


def save_png(path, image, scale=1):
    """Writes a [0, 1] gray or RGB image as PNG (nearest-neighbour enlarged), atomically."""
    import io

    from PIL import Image

    from kerascv_apps.io import atomic_write_bytes

    data = (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
    if scale > 1:
        data = np.repeat(np.repeat(data, scale, axis=0), scale, axis=1)
    buffer = io.BytesIO()
    Image.fromarray(data).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
    return path


def write_filter_report(model, out_dir, scale=12):
    """Writes ``filters.png`` (row pairs: each filter, summed over input channels, above its
    fit, same grey scale) and ``filters.json`` (sigma, r2, order energies per filter); returns
    the JSON dict."""
    name, kernel, fits = filter_fits(model)
    os.makedirs(out_dir, exist_ok=True)
    summed = kernel.sum(axis=2).transpose(2, 0, 1)  # (cout, kh, kw)
    columns = min(16, len(fits))
    pairs = []
    for start in range(0, len(fits), columns):
        block = list(range(start, min(start + columns, len(fits))))
        pad = [np.zeros_like(summed[0])] * (columns - len(block))
        m = [np.abs(summed[k]).max() or 1.0 for k in block] + [1.0] * len(pad)
        pairs += [summed[k] / mk for k, mk in zip(block, m)] + [p for p in pad]
        pairs += [fits[k]["fit"] / mk for k, mk in zip(block, m)] + [p for p in pad]
    grid = _tile(0.5 + 0.5 * np.clip(np.stack(pairs), -1, 1), columns)
    save_png(os.path.join(out_dir, "filters.png"), grid, scale)
    report = {"layer": name, "kernel_shape": list(kernel.shape), "sigmas": list(SIGMAS),
              "mean_r2": float(np.mean([f["r2"] for f in fits])),
              "filters": [{k: v for k, v in f.items() if k != "fit"} for f in fits]}
    from kerascv_apps.io import atomic_write_text

    atomic_write_text(os.path.join(out_dir, "filters.json"), json.dumps(report, indent=2))
    return report


def write_activations(model, image, layer, out_dir, scale=4, max_channels=64):
    """Writes ``activations_<layer>.png``: each channel of ``layer``'s output for ``image``
    (scaled per channel to [0, 1]); returns its path."""
    import keras

    probe = keras.Model(model.inputs[0], model.get_layer(layer).output)
    out = np.asarray(probe(np.asarray(image, np.float32)[None], training=False))[0]
    if out.ndim != 3:
        raise ValueError(f"layer {layer!r} has output shape {out.shape}, not a feature map")
    maps = np.stack([_scaled(out[..., c], symmetric=False)
                     for c in range(min(out.shape[-1], max_channels))])
    os.makedirs(out_dir, exist_ok=True)
    return save_png(os.path.join(out_dir, f"activations_{layer}.png"),
                    _tile(maps, int(np.ceil(np.sqrt(len(maps))))), scale)
