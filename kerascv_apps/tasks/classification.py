"""Classification: sparse cross-entropy, accuracy/top-k, confusion matrix."""

import os

import numpy as np

from kerascv_apps.metrics import classification as M
from kerascv_apps.metrics import curves as C
from kerascv_apps.tasks.base import Task, register_task


@register_task
class ClassificationTask(Task):
    name = "classification"
    quality_metric = "accuracy"
    explainable = True
    higher_is_better = True

    def __init__(self, num_classes=None, class_names=None, top_k=5):
        super().__init__(num_classes, class_names)
        self.top_k = top_k

    def loss(self, model=None):
        import keras

        return keras.losses.SparseCategoricalCrossentropy()

    def metrics(self, model=None):
        import keras

        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        if self.num_classes and self.num_classes > self.top_k:
            metrics.append(keras.metrics.SparseTopKCategoricalAccuracy(
                k=self.top_k, name=f"top{self.top_k}_accuracy"))
        return metrics

    def monitor(self):
        return "val_accuracy", "max"

    def score(self, targets, predictions):
        return M.accuracy(targets, predictions)

    def evaluate(self, targets, predictions):
        num_classes = self.num_classes or predictions.shape[-1]
        cm = M.confusion_matrix(targets, np.argmax(predictions, -1), num_classes)
        per_class = M.per_class_report(cm)
        names = self.class_names or [str(i) for i in range(num_classes)]
        curves = C.per_class_curves(targets, predictions)
        ece, bins = C.reliability(targets, predictions)
        per_class_report = {n: {k: float(v[i]) for k, v in per_class.items()}
                            for i, n in enumerate(names)}
        for i, n in enumerate(names):
            per_class_report[n].update(roc_auc=curves[i]["roc_auc"],
                                       average_precision=curves[i]["average_precision"])
        aucs = [c["roc_auc"] for c in curves.values() if c["roc_auc"] is not None]
        aps = [c["average_precision"] for c in curves.values()
               if c["average_precision"] is not None]
        return {
            "accuracy": M.accuracy(targets, predictions),
            f"top{self.top_k}_accuracy": M.top_k_accuracy(targets, predictions, self.top_k),
            "top_k_accuracy": C.top_k_accuracies(targets, predictions, self.top_k),
            "macro_roc_auc": float(np.mean(aucs)) if aucs else None,
            "macro_average_precision": float(np.mean(aps)) if aps else None,
            "ece": ece,
            "reliability": bins,
            # ROC / PR at 101 fixed points per class (curves.sampled_curves), for the plots
            "curves": {"grid": C.GRID.round(2).tolist(), "per_class": {
                names[c]: v for c, v in C.sampled_curves(curves).items()}},
            "num_examples": int(len(targets)),
            "confusion_matrix": cm.tolist(),
            "per_class": per_class_report,
        }

    def plots(self, results, out_dir):
        from kerascv_apps.plots import (plot_class_curves, plot_confusion_matrix,
                                        plot_reliability)

        names = self.class_names or [str(i) for i in range(len(results["confusion_matrix"]))]
        paths = [plot_confusion_matrix(results["confusion_matrix"], names,
                                       os.path.join(out_dir, "confusion_matrix.png"))]
        if results.get("curves"):
            for kind in ("roc", "pr"):
                paths.append(plot_class_curves(results, os.path.join(out_dir, f"{kind}_curves.png"),
                                               kind))
        if results.get("reliability"):
            paths.append(plot_reliability(results["reliability"], results["ece"],
                                          os.path.join(out_dir, "reliability.png")))
        return paths

    def serving_outputs(self, outputs):
        import keras

        return {"probabilities": outputs, "class_id": keras.ops.argmax(outputs, axis=-1)}

    def augmentation(self, kind, splits):
        from kerascv_apps.data.augment import default_classification_augment

        return default_classification_augment(kind, splits.image_shape,
                                              flips=splits.info.get("horizontal_flip", True))

    def predict_files(self, model, paths, out_dir=None, top_k=3):
        """Top-k classes for each image file (resized to the model's input size)."""
        import tensorflow as tf

        from kerascv_apps.data.sources.image_folder import read_image

        height, width, channels = model.inputs[0].shape[1:]
        results = []
        for path in paths:
            image = read_image(path, channels)
            if height is not None and image.shape[:2] != (height, width):
                image = tf.image.resize(image, (height, width), antialias=True).numpy()
            probs = np.asarray(model(image[None], training=False))[0]
            order = np.argsort(-probs)[:top_k]
            names = self.class_names or [str(i) for i in range(len(probs))]
            results.append({"file": str(path), "top": [
                {"class_id": int(i), "class_name": names[i], "probability": float(probs[i])}
                for i in order]})
        return results

    # --- what the data, export and tuning layers ask the task ------------------------------
    default_dataset = "digits"
    record_target = "label"
    record_holds_class_ids = True
    tfds_features = "image + label (ClassLabel)"
    metadata_kind = "classifier"

    @classmethod
    def file_target(cls, files, index, stream):
        return int(files["label"][index]), f"label of {files['image'][index]}"

    @classmethod
    def encode_target(cls, target, where="target"):
        import tensorflow as tf

        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(target)]))

    @classmethod
    def target_feature_spec(cls):
        import tensorflow as tf

        return tf.io.FixedLenFeature([], tf.int64)

    @classmethod
    def decode_target(cls, value, size):
        import tensorflow as tf

        return tf.cast(value, tf.int32)

    @classmethod
    def tfds_target(cls, features, name, num_classes=None):
        if "label" not in features or not hasattr(features["label"], "num_classes"):
            return None
        import tensorflow as tf

        label = features["label"]
        return (lambda example, size: tf.cast(example["label"], tf.int32),
                label.num_classes, list(label.names), {})

    def output_contract(self, activation, channels):
        probabilities = activation in ("softmax", "sigmoid")
        return {"meaning": "probabilities" if probabilities else "logits",
                "range": [0.0, 1.0] if probabilities else None,
                "postprocess": "argmax over the last axis = class id"}

    def serving_class_names(self, model):
        """The class names, else the class ids as text (``class_names`` is always there)."""
        names = super().serving_class_names(model)
        if names:
            return names
        return [str(i) for i in range(int(self.num_classes or model.outputs[0].shape[-1]))]
