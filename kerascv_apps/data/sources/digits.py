"""Embedded default: scikit-learn's real 8x8 handwritten digits (1,797 images, on disk).

Images are upsampled to 32x32 (LeNet-5's field) with bilinear interpolation and mapped from
the 0..16 ink scale to [0, 255]. The split is fixed and stratified (seed 0): 70% train,
15% validation, 15% test (1,257 / 270 / 270 images).
"""

import numpy as np

from kerascv_apps.data.sources.base import DatasetSplits, register_source

SPLIT_SEED = 0


def digits_arrays(image_size=32):
    """(images float32 (N, S, S, 1) in [0, 255], labels int32 (N,)) for all 1,797 digits."""
    import tensorflow as tf
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images.astype(np.float32)[..., None] * (255.0 / 16.0)
    if image_size != 8:
        images = tf.image.resize(images, (image_size, image_size), method="bilinear").numpy()
    return np.clip(images, 0, 255).astype(np.float32), bunch.target.astype(np.int32)


def stratified_indices(labels, val_fraction=0.15, test_fraction=0.15, seed=SPLIT_SEED):
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    train_val, test = train_test_split(idx, test_size=test_fraction, stratify=labels,
                                       random_state=seed)
    rel_val = val_fraction / (1.0 - test_fraction)
    train, val = train_test_split(train_val, test_size=rel_val, stratify=labels[train_val],
                                  random_state=seed)
    return np.sort(train), np.sort(val), np.sort(test)


@register_source("digits", task="classification")
def load_digits_dataset(image_size=32, classes=None, holdout_classes=None):
    """scikit-learn's 8x8 handwritten digits at ``image_size`` (default 32), fixed split.

    Args:
        image_size: output side length.
        classes: optional subset of digit classes (relabelled 0..k-1 in the given order),
            e.g. for transfer-learning experiments.
        holdout_classes: digit classes (labels after ``classes``) left out of the train and
            validation splits but kept in the test split (the same fixed split): the unseen
            class of anomaly detection (the generation task scores it, ``info``
            ``"holdout_classes"``).
    """
    import tensorflow as tf

    if int(image_size) < 8:
        raise ValueError(f"image_size must be >= 8, got {image_size}")
    images, labels = digits_arrays(int(image_size))
    class_names = [str(i) for i in range(10)]
    if classes is not None:
        classes = [int(c) for c in classes]
        bad = [c for c in classes if c not in range(10)]
        if bad or len(set(classes)) != len(classes):
            raise ValueError(f"classes must be distinct digits 0..9, got {classes}")
        keep = np.isin(labels, classes)
        images, labels = images[keep], labels[keep]
        remap = {c: i for i, c in enumerate(classes)}
        labels = np.array([remap[int(c)] for c in labels], np.int32)
        class_names = [str(c) for c in classes]
    splits = stratified_indices(labels)
    info = {"source": "sklearn.datasets.load_digits", "horizontal_flip": False}
    if holdout_classes is not None:
        if isinstance(holdout_classes, (int, str)):
            holdout_classes = [c for c in str(holdout_classes).split(",") if c.strip()]
        try:
            holdout = sorted({int(c) for c in holdout_classes})
        except (TypeError, ValueError):
            holdout = []
        if not holdout or any(c not in range(len(class_names)) for c in holdout) or \
                len(holdout) >= len(class_names):
            raise ValueError(f"holdout_classes must be some (not all) of the labels "
                             f"0..{len(class_names) - 1}, got {holdout_classes!r}")
        keep = lambda idx: idx[~np.isin(labels[idx], holdout)]  # noqa: E731
        splits = (keep(splits[0]), keep(splits[1]), splits[2])
        info["holdout_classes"] = holdout
    ds = [tf.data.Dataset.from_tensor_slices((images[s], labels[s])) for s in splits]
    return DatasetSplits(
        name="digits", task="classification", train=ds[0], val=ds[1], test=ds[2],
        image_shape=images.shape[1:], num_classes=len(class_names), class_names=class_names,
        sizes={"train": len(splits[0]), "val": len(splits[1]), "test": len(splits[2])},
        info=info)
