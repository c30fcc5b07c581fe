"""Super-resolution quality: PSNR and SSIM on the Y channel (BT.601, border of ``scale``
pixels cropped, as SR papers report them) and on RGB. NumPy; images in [0, 255].

Predictions are clipped to [0, 255] and rounded to whole pixel values first, i.e. scored as
the saved 8-bit image a user would get.
"""

import numpy as np
from scipy import ndimage


def to_uint8_range(image):
    """Clip to [0, 255] and round (float64), as an 8-bit image would be stored."""
    return np.round(np.clip(np.asarray(image, np.float64), 0.0, 255.0))


def rgb_to_y(image):
    """ITU-R BT.601 luma of RGB pixels in [0, 255] (the Y of YCbCr, range [16, 235])."""
    image = np.asarray(image, np.float64)
    if image.shape[-1] != 3:
        raise ValueError(f"rgb_to_y: expected RGB images (..., 3), got shape {image.shape}")
    return 16.0 + (65.481 * image[..., 0] + 128.553 * image[..., 1]
                   + 24.966 * image[..., 2]) / 255.0


def shave(image, border):
    """Crops ``border`` pixels off each side of (H, W, ...) images."""
    if border <= 0:
        return image
    if image.shape[0] <= 2 * border or image.shape[1] <= 2 * border:
        raise ValueError(f"image {image.shape[:2]} is too small for a border crop of {border}")
    return image[border:-border, border:-border]


def psnr(a, b, data_range=255.0):
    """Peak signal-to-noise ratio in dB between two arrays of the same shape."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"psnr: shapes differ: {a.shape} vs {b.shape}")
    mse = np.mean((a - b) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(data_range ** 2 / mse))


def ssim(a, b, data_range=255.0, sigma=1.5):
    """SSIM (Wang et al. 2004) with an 11×11 Gaussian window (σ = 1.5), K1 = 0.01, K2 = 0.03,
    population covariances; the mean excludes the 5-pixel rim the window cannot cover.
    Matches ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=255)``. (H, W) or (H, W, C) (channel average).
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"ssim: shapes differ: {a.shape} vs {b.shape}")
    if a.ndim == 3:
        return float(np.mean([ssim(a[..., c], b[..., c], data_range, sigma)
                              for c in range(a.shape[-1])]))
    truncate = 3.5
    filt = lambda x: ndimage.gaussian_filter(x, sigma, mode="reflect", truncate=truncate)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a ** 2
    var_b = filt(b * b) - mu_b ** 2
    cov = filt(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    pad = (2 * int(truncate * sigma + 0.5) + 1 - 1) // 2
    return float(s[pad:-pad, pad:-pad].mean())


def sr_metrics(hr, sr, scale):
    """PSNR/SSIM of one image: Y channel (border ``scale`` cropped) and RGB (same crop)."""
    hr, sr = np.asarray(hr, np.float64), to_uint8_range(sr)
    if hr.shape != sr.shape:
        raise ValueError(f"sr_metrics: HR {hr.shape} and SR {sr.shape} differ")
    hr_c, sr_c = shave(hr, scale), shave(sr, scale)
    y_hr, y_sr = rgb_to_y(hr_c), rgb_to_y(sr_c)
    return {"psnr_y": psnr(y_hr, y_sr), "ssim_y": ssim(y_hr, y_sr),
            "psnr_rgb": psnr(hr_c, sr_c), "ssim_rgb": ssim(hr_c, sr_c)}


def mean_sr_metrics(hrs, srs, scale):
    """Per-image metrics averaged over images (the usual way SR benchmarks are reported)."""
    per_image = [sr_metrics(h, s, scale) for h, s in zip(hrs, srs)]
    if not per_image:
        raise ValueError("mean_sr_metrics: no images")
    return {k: float(np.mean([m[k] for m in per_image])) for k in per_image[0]}, per_image


def _register(fn):
    import keras

    return keras.saving.register_keras_serializable(package="kerascv_apps", name="psnr_metric")(fn)


@_register
def psnr_metric(y_true, y_pred):
    """Keras metric: per-image RGB PSNR (dB) of [0, 255] images, prediction clipped; no border
    crop (a training monitor; reported figures come from :func:`sr_metrics`)."""
    from keras import ops

    y_true = ops.cast(y_true, "float32")
    y_pred = ops.clip(ops.cast(y_pred, "float32"), 0.0, 255.0)
    mse = ops.mean(ops.square(y_true - y_pred), axis=(1, 2, 3))
    return 10.0 * ops.log10(255.0 ** 2 / ops.maximum(mse, 1e-10))


psnr_metric.__name__ = "psnr"
