"""The restoration Task (image -> image of the same size): denoising, low-light enhancement,
deblurring, JPEG artefact removal. Degradations are data options (``--dataset restore
--dataset-arg degradation=low_light``, see ``data/sources/restoration.py``); the task trains
on random crops degraded anew each epoch, scores PSNR/SSIM per held-out photo (tiled, like
super-resolution) and reports the classical baselines of the degradation beside the model
(``metrics/restoration.py``)."""

import os

import numpy as np

from kerascv_apps.tasks.base import register_task
from kerascv_apps.tasks.image_to_image import ImageToImageTask


@register_task
class RestorationTask(ImageToImageTask):
    """Restoration: inputs are degraded RGB images, targets the clean images, [0, 255].

    Args:
        pixel_loss: ``"mse"`` (the autoencoders' reconstruction loss; LLNet's) or ``"l1"``.
        patch_size: side of the training crops (clean crop, degraded on the fly).
        min_gain: training crops' colour channels are scaled by random gains in
            [min_gain, 1] (1: off); see ``RestorationAugment``. None (default): 0.3 for the
            noise, blur and JPEG degradations and 1 (off) for ``low_light``, whose model must
            restore the clean brightness: gains would teach it targets 35% darker on average
            than the photos (LLNet, same budget: held-out mean 14.73 dB with gains in
            [0.3, 1], 15.67 dB without; ``recipes/restoration/low_light.py``).
        tile, context: the tiled predictor's core size and context (input pixels each side)
            for held-out photos (``inference.tiling.predict_tiled``); the context should
            cover the model's receptive field radius.
        baselines: run the classical baselines in ``evaluate`` (they take seconds per photo).
        degradation: the data's degradation config (set from the dataset; chooses the
            baselines and re-degrades training crops).
    """

    name = "restoration"
    quality_metric = "psnr"
    higher_is_better = True

    def __init__(self, pixel_loss="mse", patch_size=48, min_gain=None, tile=128, context=24,
                 baselines=True, degradation=None, **kwargs):
        super().__init__(**kwargs)
        if pixel_loss not in ("mse", "l1"):
            raise ValueError(f"pixel_loss must be 'mse' or 'l1', got {pixel_loss!r}")
        self.pixel_loss = pixel_loss
        self.patch_size = int(patch_size)
        self.min_gain = None if min_gain is None else float(min_gain)
        self.tile, self.context = int(tile), int(context)
        self.baselines = bool(baselines)
        self.degradation = dict(degradation or {"kind": "gaussian"})

    @classmethod
    def from_splits(cls, splits, **kwargs):
        if "degradation" in splits.info:
            kwargs.setdefault("degradation", splits.info["degradation"])
        task = super().from_splits(splits, **kwargs)
        task.test_names = splits.info.get("test_images")
        return task

    def loss(self, model=None):
        from kerascv_apps.losses.super_resolution import PixelLoss

        return PixelLoss(self.pixel_loss, "rgb")

    def augmentation(self, kind, splits):
        """Random ``patch_size`` crops, flips, 90° rotations, colour gains, degraded anew per
        crop; needed
        whatever ``kind`` is, since whole photos differ in size."""
        from kerascv_apps.data.degrade import Degradation
        from kerascv_apps.data.sources.restoration import RestorationAugment

        config = splits.info.get("degradation", self.degradation)
        return RestorationAugment(self.patch_size, Degradation.from_config(config),
                                  min_gain=self.crop_min_gain(config.get("kind")))

    def crop_min_gain(self, kind):
        """The training crops' lowest colour gain for degradation ``kind``: ``min_gain`` if
        given, else 1 (no gains) for ``low_light`` and 0.3 for the other kinds."""
        if self.min_gain is not None:
            return self.min_gain
        return 1.0 if kind == "low_light" else 0.3

    def tiled(self, predict_fn):
        """``predict_fn`` on (1, H, W, 3) batches run tile by tile (any photo size, bounded
        memory); with ``context`` at least the model's receptive-field radius the result
        equals whole-image inference."""
        from kerascv_apps.inference.tiling import predict_tiled

        def run(batch):
            return predict_tiled(predict_fn, batch[0], tile=self.tile,
                                 context=self.context)[None]
        return run

    def predict_batches(self, predict_fn, dataset, limit=None):
        return super().predict_batches(self.tiled(predict_fn), dataset, limit)

    def score(self, targets, predictions):
        from kerascv_apps.metrics.restoration import restoration_metrics

        return float(np.mean([restoration_metrics(t, p)["psnr"]
                              for t, p in zip(targets, predictions)]))

    def evaluate(self, targets, predictions, inputs=None, names=None):
        """Mean and per-image PSNR/SSIM of the model and, beside them, of the degradation's
        baselines on the same degraded inputs (``last_inputs`` of ``predict_batches``)."""
        from kerascv_apps.metrics.restoration import baselines_for, mean_rows, per_image_table

        inputs = inputs if inputs is not None else getattr(self, "last_inputs", None)
        known = getattr(self, "test_names", None)
        if names is None and known and len(known) == len(targets):
            names = list(known)
        kind = self.degradation.get("kind", "gaussian")
        baselines = baselines_for(kind) if self.baselines and inputs is not None else ()
        if inputs is None:
            inputs = [None] * len(targets)
            baselines = ()
        rows = per_image_table(targets, predictions, inputs, baselines, names=names)
        results = mean_rows(rows)
        results.update(per_image=rows, num_images=len(rows), degradation=self.degradation,
                       baselines=list(baselines))
        return results

    def plots(self, results, out_dir):
        """Per-image PSNR bars: the model beside every baseline."""
        per = results["per_image"]
        series = {m: f"{m}_psnr" for m in results.get("baselines", [])}
        return self.bar_chart(out_dir, "psnr_vs_baselines.png", per, {**series, "model": "psnr"},
                              "PSNR (dB, RGB)", (max(5, len(per) * 1.2 + 2), 3.2), labels=True,
                              title=f"restoration: {self.degradation.get('kind')}")

    def predict_files(self, model, paths, out_dir=None):
        """Restores image files (tiled) and writes ``<stem>_restored.png``; one dict per file."""
        from PIL import Image

        from kerascv_apps.inference.tiling import to_uint8

        out_dir = out_dir or "."
        os.makedirs(out_dir, exist_ok=True)
        run = self.tiled(model.predict_on_batch)
        results = []
        for path in paths:
            image = self.read_image_file(path)
            out = run(image[None])[0]
            stem = os.path.splitext(os.path.basename(path))[0]
            target = os.path.join(out_dir, f"{stem}_restored.png")
            Image.fromarray(to_uint8(out)).save(target)
            results.append({"file": path, "size": list(image.shape[:2]), "outputs": [target]})
        return results

    default_dataset = "restore"

    def contract_fields(self, runner, input_shape):
        """Output size = input size; the tiled predictor's tile and context as the phone
        core's tiling hint (``tiling.{tile, overlap}``)."""
        return {"scale": 1, "tiling": {"tile": self.tile, "overlap": self.context}}
