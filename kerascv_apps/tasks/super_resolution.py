"""The super-resolution Task: pixel loss, PSNR/SSIM (Y channel with a border crop of
``scale`` pixels, and RGB), and the bicubic baseline on the same images beside every result."""

import os

import numpy as np

from kerascv_apps.losses.super_resolution import PixelLoss
from kerascv_apps.metrics.super_resolution import mean_sr_metrics
from kerascv_apps.tasks.base import register_task
from kerascv_apps.tasks.image_to_image import ImageToImageTask

# Training LR crops are made on the fly by one of these, drawn per crop, so that the model
# does not learn one resize kernel's fingerprint (LR images in the wild come from many).
# Antialiased bicubic (TF's; Pillow's BICUBIC gives the same LR) and TF bicubic without
# antialias, half each: these are the two kinds the held-out benchmark scores, and with "area"
# as a third kind the model gained less on non-antialiased LR (figures in
# recipes/super_resolution/benchmark.py). "area" stays available through ``degradations``.
DEFAULT_DEGRADATIONS = ("bicubic_antialias", "bicubic")


@register_task
class SuperResolutionTask(ImageToImageTask):
    """Super-resolution: inputs are LR images, targets HR images, both [0, 255] pixels.

    Every model takes and returns RGB (3 channels): data, crops, loss, PSNR/SSIM, prediction
    and export assume it. A model that super-resolves the luminance only (the paper's ESPCN,
    ``espcn_paper_x*``) converts to YCbCr, upscales Cb/Cr bicubically and converts back
    inside itself, in weight-free layers, so it keeps this contract.

    Args:
        scale: upscaling factor (also the border cropped before PSNR/SSIM).
        pixel_loss: ``"l1"`` (EDSR, Lim et al. 2017; the default) or ``"mse"`` (SRResNet's
            paper loss; the SRResNet/SRGAN recipes pass it), on RGB; ``"mse_y"`` /
            ``"l1_y"`` on the luma only (ESPCN's paper trains with MSE on Y).
        patch_size: LR size of the training crops.
        degradations: downscalers the training crops' LR inputs are drawn from (see
            ``sr_common.DOWNSCALERS``); None keeps each source's own LR images.
        adversarial: train with SRGAN's adversarial step (Ledig et al. 2017): the generator
            is wrapped in :class:`~kerascv_apps.training.gan.SRGAN` with a discriminator on
            HR crops and a VGG19 content loss (``vgg_weights``: a local weights file;
            ``allow_random_features`` to run without one); evaluation and export get the
            generator back.
        discriminator_kwargs: builder arguments of ``srgan_discriminator``.
    """

    name = "super_resolution"
    quality_metric = "psnr_y"
    higher_is_better = True

    def __init__(self, scale=4, pixel_loss="l1", patch_size=24,
                 degradations=DEFAULT_DEGRADATIONS, adversarial=False, vgg_weights=None,
                 content_layer="block5_conv4", allow_random_features=False, pixel_weight=0.0,
                 discriminator_kwargs=None, **kwargs):
        super().__init__(**kwargs)
        if int(scale) < 2:
            raise ValueError(f"scale must be an int >= 2, got {scale!r}")
        self.scale = int(scale)
        self.pixel_loss = pixel_loss
        self.patch_size = int(patch_size)
        self.degradations = degradations
        self.adversarial = adversarial
        self.vgg_weights = vgg_weights
        self.content_layer = content_layer
        self.allow_random_features = allow_random_features
        self.pixel_weight = pixel_weight
        self.discriminator_kwargs = dict(discriminator_kwargs or {})

    @classmethod
    def from_splits(cls, splits, **kwargs):
        if "scale" in splits.info:
            kwargs.setdefault("scale", splits.info["scale"])
        return super().from_splits(splits, **kwargs)

    @classmethod
    def dataset_defaults(cls, entry, model_kwargs, model=None):
        """The data's scale is the model's (``--model espcn_x2 --dataset photos`` loads x2
        pairs): measured on ``model`` when one is given, else ``model_kwargs["scale"]``, else
        the scale the variant declares when it registers (``info={"scale": N}``); nothing is
        built. A model that declares none gets the source's default scale, and a mismatch
        is refused by ``validate_model`` naming the flag that fixes it."""
        if model is not None:
            return {"scale": cls.model_scale(model)}
        scale = model_kwargs.get("scale", entry.info.get("scale"))
        return {} if scale is None else {"scale": int(scale)}

    # --- training -------------------------------------------------------------------------
    def training_model(self, model):
        """With ``adversarial``: the SRGAN (generator + discriminator, own train step)."""
        if not self.adversarial:
            return model
        from kerascv_apps.losses.super_resolution import VGGContentLoss
        from kerascv_apps.registry import build_model
        from kerascv_apps.training.gan import SRGAN

        content = VGGContentLoss(self.content_layer, self.vgg_weights, self.allow_random_features)
        hr = self.patch_size * self.scale
        disc = build_model("srgan_discriminator", input_shape=(hr, hr, 3),
                           **self.discriminator_kwargs)
        return SRGAN(model, disc, content_loss=content, pixel_weight=self.pixel_weight)

    def trained_model(self, fitted):
        return getattr(fitted, "generator", fitted)

    @staticmethod
    def model_scale(model):
        """The model's upscaling factor, measured on an 8x8 probe (the model knows it best)."""
        probe = np.zeros((1, 8, 8, model.inputs[0].shape[-1] or 3), np.float32)
        return int(np.asarray(model(probe, training=False)).shape[1]) // 8

    def validate_model(self, model, splits):
        super().validate_model(model, splits)
        factor = self.model_scale(model)
        if factor != self.scale:
            raise ValueError(f"model {model.name!r} upscales x{factor} but dataset "
                             f"{splits.name!r} pairs are x{self.scale}; load the data with "
                             f"scale={factor} (CLI: --dataset-arg scale={factor})")

    # --- data hooks (used by the generic CLI/export paths) ---------------------------------
    def augmentation(self, kind, splits):
        """Aligned random LR/HR crops (``patch_size`` LR pixels), flips and 90° rotations;
        needed whatever ``kind`` is, since whole SR images differ in size."""
        from kerascv_apps.data.sources.sr_common import SRAugment

        return SRAugment(self.patch_size, splits.info.get("scale", self.scale),
                         degradations=self.degradations)

    def predict_files(self, model, paths, out_dir=None, tile=128, overlap=16):
        """Upscales image files (tiled) and writes ``<stem>_sr.png`` and a bicubic | SR
        comparison under ``out_dir``; returns one dict per file."""
        from kerascv_apps.inference.tiling import predict

        out_dir = out_dir or "."
        scale = self.model_scale(model)  # a saved model may come without its dataset
        results = []
        for path in paths:
            lr = self.read_image_file(path)
            stem = os.path.splitext(os.path.basename(path))[0]
            written = predict(model, [lr], scale, out_dir, tile=tile, overlap=overlap,
                              names=[stem])
            results.append({"file": path, "input_size": list(lr.shape[:2]), "scale": scale,
                            "output_size": [lr.shape[0] * scale, lr.shape[1] * scale],
                            "outputs": written})
        return results

    def loss(self, model=None):
        kind, _, channel = str(self.pixel_loss).partition("_")
        if channel not in ("", "y"):
            raise ValueError(f"pixel_loss must be one of 'l1', 'mse', 'l1_y', 'mse_y', got "
                             f"{self.pixel_loss!r}")
        return PixelLoss(kind, channel or "rgb")

    def score(self, targets, predictions):
        return mean_sr_metrics(targets, predictions, self.scale)[0]["psnr_y"]

    def bicubic(self, targets, inputs=None):
        """The bicubic baseline for ``targets``: upscaled ``inputs`` (the LR images) or, if
        not given, the HR images degraded the way every SR source degrades them."""
        from kerascv_apps.data.sources.sr_common import bicubic_downscale, bicubic_upscale

        if inputs is None:
            inputs = [bicubic_downscale(np.asarray(t, np.float32), self.scale).numpy()
                      for t in targets]
        return [bicubic_upscale(lr, self.scale) for lr in inputs]

    def evaluate(self, targets, predictions, inputs=None):
        """Model metrics and, beside them, the bicubic baseline on the same images."""
        model, per_image = mean_sr_metrics(targets, predictions, self.scale)
        base, base_per_image = mean_sr_metrics(targets, self.bicubic(targets, inputs), self.scale)
        results = dict(model)
        results.update({f"bicubic_{k}": v for k, v in base.items()})
        results["gain_psnr_y"] = model["psnr_y"] - base["psnr_y"]
        results["per_image"] = [{**m, **{f"bicubic_{k}": v for k, v in b.items()}}
                                for m, b in zip(per_image, base_per_image)]
        results["num_images"] = len(per_image)
        results["scale"] = self.scale
        return results

    def plots(self, results, out_dir):
        """A bar chart of per-image PSNR-Y: model vs bicubic."""
        per = results["per_image"]
        return self.bar_chart(out_dir, "psnr_y_vs_bicubic.png", per,
                              {"bicubic": "bicubic_psnr_y", "model": "psnr_y"},
                              f"PSNR-Y (dB), ×{self.scale}", (max(4, len(per) * 0.8 + 2), 3))

    # --- what the export layer asks the task -----------------------------------------------
    default_dataset = "photos"

    @classmethod
    def clean_image(cls, image, target):
        """The HR image of an (LR, HR) pair."""
        return target

    def contract_fields(self, runner, input_shape):
        """``scale``: output size / input size of the file, from its static shapes, else
        measured on an 8x8 probe."""
        out_h = int(runner.output_details[0]["shape_signature"][1])
        if input_shape[1] > 0 and out_h > 0:
            return {"scale": out_h // input_shape[1]}
        probe = np.zeros((1, 8, 8, input_shape[-1]), np.float32)
        return {"scale": int(np.asarray(runner(probe)).shape[1]) // 8}


def benchmark_downscalers(predict_fn, images, scale, downscalers=None, names=None):
    """PSNR-Y of ``predict_fn`` and of bicubic upscaling on HR ``images`` whose LR inputs were
    made by each downscaler (default ``BENCHMARK_DOWNSCALERS``: TF bicubic with and without
    antialias, Pillow's BICUBIC). Returns ``{"rows": [{image, downscaler, psnr_y,
    bicubic_psnr_y, gain_psnr_y}], "mean_gain": {downscaler: dB}, "min_gain": dB}``."""
    from kerascv_apps.data.sources.sr_common import (BENCHMARK_DOWNSCALERS, bicubic_upscale,
                                                     downscale, to_pair)
    from kerascv_apps.metrics.super_resolution import sr_metrics

    downscalers = downscalers or BENCHMARK_DOWNSCALERS
    rows = []
    for i, image in enumerate(images):
        hr = np.asarray(to_pair(image, scale)[1])
        for method in downscalers:
            lr = np.asarray(downscale(hr, scale, method), np.float32)
            sr = np.asarray(predict_fn(lr[None]))[0]
            model = sr_metrics(hr, sr, scale)["psnr_y"]
            base = sr_metrics(hr, bicubic_upscale(lr, scale), scale)["psnr_y"]
            rows.append({"image": names[i] if names else i, "downscaler": method,
                         "psnr_y": model, "bicubic_psnr_y": base, "gain_psnr_y": model - base})
    mean_gain = {m: float(np.mean([r["gain_psnr_y"] for r in rows if r["downscaler"] == m]))
                 for m in downscalers}
    return {"rows": rows, "mean_gain": mean_gain,
            "min_gain": float(min(r["gain_psnr_y"] for r in rows))}
