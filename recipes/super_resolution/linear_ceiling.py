"""How far a linear upscaler gets over bicubic, for each way of making the LR input: the
least-squares filter from a ``k``×``k`` LR window to the ``scale``×``scale`` HR pixels under
its centre (on the Y channel), fitted on the ``photos`` training split and scored like
``benchmark.py`` on the held-out photos (PSNR-Y gain over bicubic of the same LR, border of
``scale`` cropped, rounded to whole pixel values).

Fitted to one kind of LR it is the linear ceiling for that kind; fitted to several at once
it is the best single linear filter for a mix (what a small network trained on that mix
tends to learn).

    python recipes/super_resolution/linear_ceiling.py [--window 5]

Measured (x2, 5x5 window; TF antialias / TF without antialias / Pillow): fitted per kind
+0.94 / +0.12 / +0.94 dB; fitted to TF with and without antialias at once +0.63 / -0.00 /
+0.63 dB; with area added +0.67 / -0.05 / +0.67 dB. 9x9, fitted per kind: +1.05 / +0.11 /
+1.04 dB. About 2 minutes of CPU per window size.
"""

import sys

import numpy as np

from kerascv_apps.config import recipe_parser
from kerascv_apps.data.sources.photos import HELD_OUT, TRAIN, load_photo
from kerascv_apps.data.sources.sr_common import (BENCHMARK_DOWNSCALERS, bicubic_upscale,
                                                 downscale, to_pair)
from kerascv_apps.metrics.super_resolution import psnr, rgb_to_y, shave


def _windows(lr_y, k):
    """(H·W, k²+1): each LR pixel's k×k neighbourhood (mirrored border) and a constant."""
    r = k // 2
    padded = np.pad(lr_y, r, mode="reflect")
    h, w = lr_y.shape
    cols = [padded[i:i + h, j:j + w] for i in range(k) for j in range(k)]
    return np.stack(cols + [np.ones_like(lr_y)], -1).reshape(-1, k * k + 1)


def _blocks(hr_y, s):
    """(H·W, s²): the HR pixels under each LR pixel."""
    h, w = hr_y.shape
    return hr_y.reshape(h // s, s, w // s, s).transpose(0, 2, 1, 3).reshape(-1, s * s)


def fit(images, methods, scale, k):
    """Least-squares filter (k²+1, scale²) over all ``images`` × ``methods``."""
    a = np.zeros((k * k + 1, k * k + 1))
    b = np.zeros((k * k + 1, scale * scale))
    for hr in images:
        target = _blocks(rgb_to_y(hr), scale)
        for method in methods:
            x = _windows(rgb_to_y(np.asarray(downscale(hr, scale, method), np.float32)), k)
            a += x.T @ x
            b += x.T @ target
    return np.linalg.solve(a + 1e-3 * np.eye(len(a)), b)


def gain(weights, images, method, scale, k):
    """Mean PSNR-Y gain of the filter over bicubic on ``images`` degraded by ``method``."""
    gains = []
    for hr in images:
        lr = np.asarray(downscale(hr, scale, method), np.float32)
        lr_y = rgb_to_y(lr)
        h, w = lr_y.shape
        sr = (_windows(lr_y, k) @ weights).reshape(h, w, scale, scale)
        sr = np.round(np.clip(sr.transpose(0, 2, 1, 3).reshape(h * scale, w * scale), 16, 235))
        base = rgb_to_y(np.round(bicubic_upscale(lr, scale)))
        y = shave(rgb_to_y(hr), scale)
        gains.append(psnr(y, shave(sr, scale)) - psnr(y, shave(base, scale)))
    return float(np.mean(gains))


def main(argv=None):
    p = recipe_parser(__doc__, None, flags={"window": (5, "odd LR window size k"),
                                            "scale": (2, "upscaling factor")}, overwrite=False)
    a = p.parse_args(argv)
    if a.window < 1 or a.window % 2 == 0:
        p.error(f"--window must be an odd size >= 1, got {a.window}")
    hr_of = lambda name: np.asarray(to_pair(load_photo(name), a.scale)[1])
    train = [hr_of(n) for n in TRAIN]
    test = [hr_of(n) for n in HELD_OUT]
    mixes = {"fitted per kind": None,
             "TF with + without antialias": ("bicubic_antialias", "bicubic"),
             "... + area": ("bicubic_antialias", "bicubic", "area")}
    print(f"linear {a.window}x{a.window} upscaler, x{a.scale}: mean PSNR-Y gain over bicubic "
          f"on {len(test)} held-out photos, LR by {' / '.join(BENCHMARK_DOWNSCALERS)}")
    for label, methods in mixes.items():
        shared = None if methods is None else fit(train, methods, a.scale, a.window)
        gains = [gain(fit(train, (m,), a.scale, a.window) if shared is None else shared, test, m,
                      a.scale, a.window) for m in BENCHMARK_DOWNSCALERS]
        print(f"  {label:<28} " + " / ".join(f"{g:+.2f}" for g in gains) + " dB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
