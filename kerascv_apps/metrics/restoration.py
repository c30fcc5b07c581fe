"""Restoration quality and the classical baselines every restoration evaluation reports beside
the model: PSNR/SSIM on RGB and on the luma (no border crop), per image.

Baselines (scikit-image, on the degraded input): histogram equalization (``he``) and CLAHE
(``clahe``) for low light; non-local means (``nlm``), total-variation (``tv``, Chambolle) and
wavelet (``wavelet``, BayesShrink) denoising for noise; and the degraded input itself
(``input``). The denoisers are given the noise level that ``estimate_sigma`` measures on the
input (no oracle knowledge of the degradation).
"""

import numpy as np

from kerascv_apps.metrics.super_resolution import sr_metrics

# which baselines a degradation kind is compared with (the input itself always)
LOW_LIGHT_BASELINES = ("he", "clahe")
NOISE_BASELINES = ("nlm", "tv", "wavelet")


def restoration_metrics(clean, restored):
    """PSNR/SSIM of one image on RGB (``psnr``, ``ssim``) and on the BT.601 luma
    (``psnr_y``, ``ssim_y``); ``restored`` is rounded and clipped to 8-bit values first."""
    m = sr_metrics(clean, restored, 0)
    return {"psnr": m["psnr_rgb"], "ssim": m["ssim_rgb"], "psnr_y": m["psnr_y"],
            "ssim_y": m["ssim_y"]}


def baselines_for(kind):
    """The baseline names for a degradation ``kind`` (``data/degrade.py``), input first."""
    return ("input",) + (LOW_LIGHT_BASELINES if kind == "low_light" else NOISE_BASELINES)


def _sigma(image):
    from skimage.restoration import estimate_sigma

    return float(np.mean(estimate_sigma(image, channel_axis=-1)))


def run_baseline(name, degraded):
    """Baseline ``name`` on one degraded (H, W, 3) image in [0, 255]; returns [0, 255] float."""
    from skimage import exposure, restoration

    x = np.clip(np.asarray(degraded, np.float64) / 255.0, 0.0, 1.0)
    if name == "input":
        out = x
    elif name == "he":  # on the HSV value channel (hue and saturation kept), as CLAHE does
        from skimage.color import hsv2rgb, rgb2hsv

        hsv = rgb2hsv(x)
        hsv[..., 2] = exposure.equalize_hist(hsv[..., 2])
        out = hsv2rgb(hsv)
    elif name == "clahe":  # scikit-image equalizes an RGB image's HSV value channel
        out = exposure.equalize_adapthist(x, clip_limit=0.01)
    elif name == "nlm":
        sigma = _sigma(x)
        out = restoration.denoise_nl_means(x, h=0.8 * sigma, sigma=sigma, fast_mode=True,
                                           patch_size=5, patch_distance=6, channel_axis=-1)
    elif name == "tv":
        out = restoration.denoise_tv_chambolle(x, weight=max(_sigma(x), 1e-3), channel_axis=-1)
    elif name == "wavelet":
        out = restoration.denoise_wavelet(x, method="BayesShrink", mode="soft",
                                          rescale_sigma=True, channel_axis=-1)
    else:
        raise ValueError(f"unknown baseline {name!r}; choose from input, he, clahe, nlm, tv, "
                         f"wavelet")
    return np.clip(out, 0.0, 1.0) * 255.0


def per_image_table(clean, restored, degraded, baselines, names=None):
    """One row per image: the model's metrics and each baseline's (``<baseline>_<metric>``),
    and the model's PSNR gain over each baseline (``gain_vs_<baseline>``)."""
    rows = []
    for i, (c, r, d) in enumerate(zip(clean, restored, degraded)):
        row = {"image": names[i] if names else i, **restoration_metrics(c, r)}
        for b in baselines:
            for k, v in restoration_metrics(c, run_baseline(b, d)).items():
                row[f"{b}_{k}"] = v
            row[f"gain_vs_{b}"] = row["psnr"] - row[f"{b}_psnr"]
        rows.append(row)
    return rows


def mean_rows(rows):
    """The mean of every numeric column of ``per_image_table``'s rows."""
    keys = [k for k in rows[0] if k != "image"]
    return {k: float(np.mean([r[k] for r in rows])) for k in keys}
