"""The segmentation Task: losses (cross-entropy with ignore label 255, class weights, Dice, focal,
sums), metrics (mean IoU, per-class IoU, pixel accuracy, boundary F1), the quality metric export
verification compares (``miou``), and visualizations (coloured mask, overlay, legend)."""

import os

import numpy as np

from kerascv_apps.losses.segmentation import IGNORE_INDEX, build_loss
from kerascv_apps.mask_colors import colorize, overlay, palette  # noqa: F401 (public here too)
from kerascv_apps.metrics import segmentation as seg_metrics
from kerascv_apps.tasks.base import Task, register_task


def save_prediction_png(image, mask, path, class_names, alpha=0.5):
    """Writes one PNG with three panels (image, coloured mask, overlay) and a class legend.
    The overlay tints every class but 0 (background) with ``alpha``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    image = np.clip(np.asarray(image, np.float32), 0, 255).astype(np.uint8)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    mask = np.asarray(mask)
    if mask.shape != image.shape[:2]:  # valid U-Net output: show the center of the image
        dh, dw = image.shape[0] - mask.shape[0], image.shape[1] - mask.shape[1]
        image = image[dh // 2:dh // 2 + mask.shape[0], dw // 2:dw // 2 + mask.shape[1]]
    colored = colorize(mask, len(class_names))
    blended = overlay(image, mask, len(class_names), alpha)
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.8))
    for ax, img, title in zip(axes, (image, colored, blended), ("image", "prediction", "overlay")):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(title)
        ax.axis("off")
    colors = palette(len(class_names)) / 255.0
    fig.legend(handles=[Patch(color=colors[i], label=f"{i}: {n}") for i, n in enumerate(class_names)],
               loc="lower center", ncol=min(len(class_names), 6), frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 0.95))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def format_report(results):
    """The per-class IoU table of ``SegmentationTask.evaluate`` as text."""
    lines = [f"{'class':<20} {'IoU':>8} {'boundary F1':>12}"]
    for row in results["per_class"]:
        iou = "n/a" if row["iou"] is None else f"{row['iou']:.4f}"
        bf = "n/a" if row["boundary_f1"] is None else f"{row['boundary_f1']:.4f}"
        lines.append(f"{row['class']:<20} {iou:>8} {bf:>12}")
    lines.append(f"{'mean IoU':<20} {results['miou']:>8.4f}")
    lines.append(f"{'pixel accuracy':<20} {results['pixel_accuracy']:>8.4f}")
    lines.append(f"{'boundary F1':<20} {results['boundary_f1']:>8.4f}  "
                 f"(tolerance {results['boundary_tolerance']} px)")
    return "\n".join(lines)


def _nanmean(values):
    values = np.asarray(values, np.float64)
    return float(np.nanmean(values)) if np.any(~np.isnan(values)) else float("nan")


def _none_if_nan(x):
    return None if x is None or np.isnan(x) else float(x)


def _iou_by_distance(result, class_names):
    """``metrics.segmentation.iou_by_boundary_distance`` for the evaluation JSON: bins as
    ``[low, high)`` pixel distances, IoU per class per bin (None where the class is absent)."""
    edges = result["edges"]
    return {"bins": [[lo, None if hi == float("inf") else hi] for lo, hi in zip(edges, edges[1:])],
            "pixels": result["pixels"],
            "iou": {n: [_none_if_nan(v) for v in result["iou"][:, i]]
                    for i, n in enumerate(class_names)}}


@register_task
class SegmentationTask(Task):
    """Semantic segmentation: int masks with ``ignore_index`` (255) pixels left out.

    Args:
        num_classes / class_names: the label set.
        loss: a spec for :func:`kerascv_apps.losses.segmentation.build_loss` (``ce``, ``dice``,
            ``focal``, ``ce+dice``, ``ce+0.5*dice``) or a loss object.
        class_weights: per-class weights for cross-entropy/focal/Dice (e.g. median frequency).
        boundary_tolerance: pixels of tolerance of the boundary F1.
        border_weights: train with U-Net's border weight map (needs (H, W, 2) [class,
            instance] targets, e.g. ``load_dataset("shapes", instances=True)``).
        w0 / sigma: the weight map's parameters (10 and 5 px in the paper).
    """

    name = "segmentation"
    quality_metric = "miou"
    explainable = True
    higher_is_better = True

    def __init__(self, num_classes=None, class_names=None, loss="ce", class_weights=None,
                 ignore_index=IGNORE_INDEX, boundary_tolerance=2, border_weights=False,
                 w0=10.0, sigma=5.0):
        if num_classes is None and class_names is not None:
            num_classes = len(class_names)
        if num_classes is None or int(num_classes) < 2:
            raise ValueError(f"SegmentationTask: num_classes must be at least 2, got {num_classes!r}")
        if class_names is None:
            class_names = [f"class_{i}" for i in range(num_classes)]
        super().__init__(int(num_classes), class_names)
        self.loss_spec = loss
        if isinstance(class_weights, str):
            raise ValueError(f"class_weights {class_weights!r}: a list of weights here; "
                             f"'median_frequency' is computed from the training masks by "
                             f"SegmentationTask.from_splits (train_model / --task-arg)")
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]
        if self.class_weights is not None and len(self.class_weights) != self.num_classes:
            raise ValueError(f"class_weights has {len(self.class_weights)} weights for "
                             f"{self.num_classes} classes ({', '.join(class_names)}); give one "
                             f"weight per class")
        self.ignore_index = ignore_index
        self.boundary_tolerance = boundary_tolerance
        self.border_weights = bool(border_weights)
        self.w0, self.sigma = float(w0), float(sigma)

    option_attributes = {"loss": "loss_spec"}

    @classmethod
    def from_splits(cls, splits, **kwargs):
        """With ``class_weights="median_frequency"`` the weights are computed from the training
        masks (``losses.segmentation.median_frequency_weights``; classes never seen get 0)."""
        from kerascv_apps.tasks.options import MEDIAN_FREQUENCY

        if isinstance(kwargs.get("class_weights"), str):
            if kwargs["class_weights"] != MEDIAN_FREQUENCY:
                raise ValueError(f"class_weights {kwargs['class_weights']!r}: expected a list of "
                                 f"weights or {MEDIAN_FREQUENCY!r}")
            from kerascv_apps.losses.segmentation import median_frequency_weights

            num_classes = kwargs.get("num_classes") or splits.num_classes
            kwargs["class_weights"] = median_frequency_weights(
                splits.train, num_classes, kwargs.get("ignore_index", IGNORE_INDEX)).tolist()
        return super().from_splits(splits, **kwargs)

    # --- training -------------------------------------------------------------------------
    def loss(self, model=None):
        """One loss for the main output (``experiment`` gives auxiliary outputs the same)."""
        if not isinstance(self.loss_spec, str):
            return self.loss_spec
        return build_loss(self.loss_spec, self.ignore_index, self.class_weights)

    def metrics(self, model=None):
        return [seg_metrics.SegmentationMeanIoU(self.num_classes, self.ignore_index)]

    def serving_outputs(self, outputs):
        """The class-id mask (int32 [batch, H, W]) a served model answers with."""
        import keras

        return {"mask": keras.ops.cast(keras.ops.argmax(outputs, axis=-1), "int32")}

    def monitor(self):
        return "val_miou", "max"

    def augmentation(self, kind, splits):
        """Joint image + mask augmentation (masks always nearest, uncovered pixels 255):
        ``'tf'`` (TF-native affine, flips, brightness/contrast) or ``'albumentations'``."""
        if kind in (None, "none"):
            return None
        vflip = bool(splits.info.get("vertical_flip", False))
        if kind == "tf":
            from kerascv_apps.data.augment import TFAugment

            return TFAugment(rotation=20, scale=(0.85, 1.15), shift=0.05, horizontal_flip=True,
                             vertical_flip=vflip, brightness=20, contrast=(0.8, 1.2),
                             target_is_mask=True, mask_fill_value=self.ignore_index)
        if kind == "albumentations":
            import albumentations as A

            from kerascv_apps.data.augment import AlbumentationsAugment

            ops = [A.Affine(rotate=(-20, 20), scale=(0.85, 1.15), translate_percent=(-0.05, 0.05),
                            border_mode=0, fill=0, fill_mask=self.ignore_index, p=1.0),
                   A.HorizontalFlip(p=0.5), A.RandomBrightnessContrast(p=0.5)]
            if vflip:
                ops.append(A.VerticalFlip(p=0.5))
            return AlbumentationsAugment(A.Compose(ops), target_is_mask=True,
                                         mask_fill_value=self.ignore_index)
        raise ValueError(f"augment must be 'none', 'tf' or 'albumentations', got {kind!r}")

    def pipeline_map_fn(self):
        """With ``border_weights``: (image, (H, W, 2) [class, instance] target) -> (image,
        (H, W, 2) float32 [class, U-Net border weight]); the losses read channel 1 as a
        per-pixel weight and every metric reads channel 0."""
        if not self.border_weights:
            return None
        from kerascv_apps.losses.segmentation import border_weight_target_fn

        return border_weight_target_fn(self.w0, self.sigma, self.class_weights,
                                       self.ignore_index)

    def predict_files(self, model, paths, out_dir=None):
        """Predicts each image file; with ``out_dir`` writes ``<stem>_prediction.png`` (image,
        coloured mask, overlay, legend) and ``<stem>_mask.png`` (class ids)."""
        import tensorflow as tf
        from PIL import Image

        from kerascv_apps.data.sources.image_folder import read_image

        height, width, channels = model.inputs[0].shape[1:]
        results = []
        for path in paths:
            image = read_image(path, channels)
            shape = image.shape[:2]
            x = image
            if height is not None and shape != (height, width):
                x = tf.image.resize(image, (height, width), antialias=True).numpy()
            out = model(x[None], training=False)
            labels = seg_metrics.to_labels(np.asarray(out[0] if isinstance(out, (list, tuple)) else out))[0]
            if labels.shape != shape and height is not None:
                labels = tf.image.resize(labels[..., None], shape, method="nearest").numpy()[..., 0]
            counts = np.bincount(labels.ravel(), minlength=self.num_classes)
            entry = {"file": str(path), "shape": list(labels.shape),
                     "class_pixels": {n: int(counts[i]) for i, n in enumerate(self.class_names)}}
            if out_dir:
                stem = os.path.splitext(os.path.basename(str(path)))[0]
                entry["figure"] = save_prediction_png(
                    image, labels, os.path.join(out_dir, f"{stem}_prediction.png"), self.class_names)
                entry["mask"] = os.path.join(out_dir, f"{stem}_mask.png")
                Image.fromarray(labels.astype(np.uint8)).save(entry["mask"])
            results.append(entry)
        return results

    # --- evaluation -----------------------------------------------------------------------
    def score(self, targets, predictions):
        return seg_metrics.mean_iou(targets, predictions, self.num_classes, self.ignore_index)

    def evaluate(self, targets, predictions):
        cm = seg_metrics.confusion_matrix(targets, predictions, self.num_classes, self.ignore_index)
        iou = seg_metrics.iou_from_confusion(cm)
        bf = seg_metrics.boundary_f1(targets, predictions, self.num_classes,
                                     self.boundary_tolerance, self.ignore_index, per_class=True)
        total = cm.sum()
        return {
            "miou": _nanmean(iou),
            "pixel_accuracy": float(np.trace(cm) / total) if total else float("nan"),
            "boundary_f1": _nanmean(bf),
            "boundary_tolerance": self.boundary_tolerance,
            "per_class": [{"class": n, "iou": _none_if_nan(iou[i]),
                           "boundary_f1": _none_if_nan(bf[i]), "pixels": int(cm[i].sum())}
                          for i, n in enumerate(self.class_names)],
            "confusion_matrix": cm.tolist(),
            "iou_vs_boundary_distance": _iou_by_distance(
                seg_metrics.iou_by_boundary_distance(targets, predictions, self.num_classes,
                                                     ignore_index=self.ignore_index),
                self.class_names),
        }

    def plots(self, results, out_dir):
        """Per-class IoU bar chart (and the text table) from ``evaluate``'s results."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        os.makedirs(out_dir, exist_ok=True)
        names = [r["class"] for r in results["per_class"]]
        values = [r["iou"] or 0.0 for r in results["per_class"]]
        fig, ax = plt.subplots(figsize=(max(4, 0.8 * len(names) + 2), 3.5))
        ax.bar(names, values, color=palette(len(names)) / 255.0, edgecolor="black")
        ax.set_ylim(0, 1)
        ax.set_ylabel("IoU")
        ax.set_title(f"mean IoU {results['miou']:.3f}")
        plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
        fig.tight_layout()
        path = os.path.join(out_dir, "per_class_iou.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths = [path]
        if results.get("iou_vs_boundary_distance"):
            from kerascv_apps.plots import plot_iou_vs_boundary_distance

            paths.append(plot_iou_vs_boundary_distance(
                results["iou_vs_boundary_distance"],
                os.path.join(out_dir, "iou_vs_boundary_distance.png"),
                colors=palette(len(names)) / 255.0))
        table = os.path.join(out_dir, "evaluation.txt")
        with open(table, "w") as f:
            f.write(format_report(results) + "\n")
        return paths + [table]

    def save_predictions(self, images, predictions, out_dir, limit=8):
        """Coloured mask + overlay + legend PNGs for the first ``limit`` images."""
        labels = seg_metrics.to_labels(predictions)
        return [save_prediction_png(img, lab, os.path.join(out_dir, f"prediction_{i:03d}.png"),
                                    self.class_names)
                for i, (img, lab) in enumerate(zip(images[:limit], labels[:limit]))]

    # --- what the data, export and tuning layers ask the task ------------------------------
    default_dataset = "shapes"
    record_target = "mask"  # an 8-bit greyscale PNG of the class ids, 255 = ignore
    tfds_features = "image + segmentation_mask (pass num_classes)"
    tfds_priority = 1  # a dataset with a mask and a label (oxford_iiit_pet) is segmentation
    metadata_kind = "segmenter"
    # the loss mix ce + w * dice
    tuning_space = {"dice_weight": [0.0, 0.5, 1.0]}

    @classmethod
    def file_target(cls, files, index, stream):
        from kerascv_apps.data.sources.seg_folder import read_mask

        path = files["mask"][index]
        return read_mask(path, getattr(stream, "palette", None)), path

    @classmethod
    def encode_target(cls, target, where="mask"):
        import tensorflow as tf

        from kerascv_apps.data.tfrecord import mask_png

        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[mask_png(target, where)]))

    @classmethod
    def target_feature_spec(cls):
        import tensorflow as tf

        return tf.io.FixedLenFeature([], tf.string)

    @classmethod
    def decode_target(cls, value, size):
        import tensorflow as tf

        mask = tf.cast(tf.io.decode_png(value, channels=1), tf.int32)
        mask = tf.image.resize(mask, size, method="nearest")[..., 0]
        mask.set_shape(size)
        return mask

    @classmethod
    def tfds_target(cls, features, name, num_classes=None):
        from kerascv_apps.data.sources.base import DataError

        if "segmentation_mask" not in features:
            return None
        if num_classes is None:
            raise DataError(f"tfds:{name}: num_classes is required for a segmentation dataset "
                            "(pass --dataset-arg num_classes=N)")
        if int(num_classes) < 2:
            raise DataError(f"tfds:{name}: num_classes={num_classes} is not supported; a "
                            "foreground/background mask needs num_classes=2")
        import tensorflow as tf

        num = int(num_classes)

        def target(example, size):
            mask = tf.image.resize(example["segmentation_mask"], size, method="nearest")
            mask = tf.cast(mask[..., 0], tf.int32)
            bad = tf.logical_and(mask != IGNORE_INDEX, tf.logical_or(mask < 0, mask >= num))
            check = tf.debugging.Assert(tf.logical_not(tf.reduce_any(bad)), [
                f"tfds:{name}: mask values outside 0..{num - 1} (255 = ignore):",
                tf.boolean_mask(mask, bad)], summarize=10)
            with tf.control_dependencies([check]):
                return tf.identity(mask)

        return target, num, [f"class_{i}" for i in range(num)], {"ignore_index": IGNORE_INDEX}

    def output_contract(self, activation, channels):
        probabilities = activation in ("softmax", "sigmoid")
        return {"meaning": ("class_probabilities_per_pixel" if probabilities
                            else "class_logits_per_pixel"),
                "range": [0.0, 1.0] if probabilities else None,
                "postprocess": "argmax over the last axis = class-id mask (H, W)"}

    def apply_hyperparameters(self, hp, space):
        if space.get("dice_weight"):
            self.loss_spec = loss_mix(hp.Choice("dice_weight", space["dice_weight"]))

    @classmethod
    def tuned_task_kwargs(cls, values):
        if "dice_weight" not in values:
            return {}
        return {"loss": loss_mix(values.pop("dice_weight"))}


def loss_mix(dice_weight):
    """The segmentation loss spec for ``ce + dice_weight * dice``."""
    return "ce" if not dice_weight else f"ce+{float(dice_weight):g}*dice"
