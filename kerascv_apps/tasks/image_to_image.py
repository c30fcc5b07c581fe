"""What image-to-image tasks (super-resolution, restoration) share: whole held-out photos of
varying size evaluated one at a time with their inputs kept (for the baselines), a PSNR
training monitor, uint8 image serving outputs, the image contract of exported files, and int8
calibration from crops of the training inputs. Not a registered task itself."""

import os

import numpy as np

from kerascv_apps.tasks.base import Task


class ImageToImageTask(Task):
    """Base of tasks whose model maps [0, 255] RGB pixels to [0, 255] RGB pixels."""

    eval_batch_size = 1  # whole held-out photos differ in size
    steps_per_epoch = 100  # epochs of random crops from a handful of photos
    metadata_kind = "image"

    def model_kwargs(self, splits):
        return {"input_shape": (None, None, 3)}

    def metrics(self, model=None):
        from kerascv_apps.metrics.super_resolution import psnr_metric

        return [psnr_metric]

    def monitor(self):
        return "val_psnr", "max"

    def serving_outputs(self, outputs):
        """The output image as uint8 [batch, H, W, C] (rounded, clipped to [0, 255])."""
        import keras

        return {"image": keras.ops.cast(keras.ops.clip(keras.ops.round(outputs), 0, 255),
                                        "uint8")}

    def predict_batches(self, predict_fn, dataset, limit=None):
        """Like ``Task.predict_batches`` but returns lists (test images differ in size) and
        keeps the inputs in ``last_inputs`` (the baselines run on them)."""
        self.last_inputs, targets, preds = self.predict_each(predict_fn, dataset, limit,
                                                             keep_inputs=True)
        return targets, preds

    def calibration_images(self, splits, count, size=48):
        """int8 calibration batch: ``size``×``size`` crops of the training inputs (one batch
        needs one size; the TFLite model stays dynamic)."""
        import tensorflow as tf

        crops = []
        for image, _ in splits.train.as_numpy_iterator():
            h, w = image.shape[:2]
            step = max(1, size // 2)
            for y in range(0, max(1, h - size + 1), step):
                for x in range(0, max(1, w - size + 1), step):
                    crop = image[y:y + size, x:x + size]
                    if crop.shape[:2] != (size, size):
                        crop = tf.image.resize(crop, (size, size)).numpy()
                    crops.append(crop)
        if not crops:
            raise ValueError("calibration_images: the training split is empty")
        rng = np.random.default_rng(0)
        idx = rng.permutation(len(crops))[:count]
        return np.stack([crops[i] for i in idx]).astype(np.float32)

    def output_contract(self, activation, channels):
        return {"meaning": "image", "range": [0.0, 255.0],
                "color_space": "RGB" if channels == 3 else "GRAYSCALE",
                "postprocess": "round and clip to [0, 255] for uint8 pixels"}

    # --- what the image-to-image tasks' plots and file predictions share --------------------
    @staticmethod
    def bar_chart(out_dir, filename, per_image, series, ylabel, figsize, labels=False,
                  title=None):
        """Grouped bars of per-image values (``series``: {legend label: key in each row}),
        written to ``out_dir/filename``; ``labels``: the rows' ``image`` under the bars."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        os.makedirs(out_dir, exist_ok=True)
        width = 0.8 / len(series)
        idx = np.arange(len(per_image))
        fig, ax = plt.subplots(figsize=figsize)
        for k, (label, key) in enumerate(series.items()):
            ax.bar(idx + (k - (len(series) - 1) / 2) * width, [p[key] for p in per_image], width,
                   label=label)
        if labels:
            ax.set_xticks(idx)
            ax.set_xticklabels([str(p["image"]) for p in per_image], rotation=20, fontsize=7)
        else:
            ax.set_xlabel("image")
        ax.set_ylabel(ylabel)
        if title:
            ax.set_title(title)
        ax.legend(fontsize=7 if labels else None)
        path = os.path.join(out_dir, filename)
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        return [path]

    @staticmethod
    def read_image_file(path):
        """An image file as float32 RGB pixels (``predict_files``); a missing file is named."""
        from PIL import Image

        if not os.path.isfile(path):
            raise FileNotFoundError(f"predict: image file {path!r} does not exist")
        return np.asarray(Image.open(path).convert("RGB"), np.float32)
