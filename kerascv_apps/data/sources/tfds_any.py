"""``tfds:<any name>``: any prepared tensorflow_datasets dataset with image features.

An ``image`` + ``label`` (ClassLabel) dataset is image classification; ``image`` +
``segmentation_mask`` is segmentation (mask values are the class ids; pass ``num_classes``).
Names registered here as their own source (``mnist``, ``cifar10``, ``oxford_iiit_pet``, ...)
use that source instead. Nothing is downloaded unless ``download=True``; a dataset that is not
prepared in ``data_dir`` is refused with the exact arguments that prepare it.

Splits: the dataset's ``validation`` split when it has one, else the last ``val_percent`` of
``train``; ``test`` when it has one, else the ``validation`` split (and then val is carved from
train).
"""

from kerascv_apps.data.sources.base import DataError, DatasetSplits, register_source

IGNORE_INDEX = 255


def _not_prepared(name, data_dir, error):
    where = f" in data_dir={data_dir!r}" if data_dir else " in the default tfds data folder"
    flag = f"--dataset tfds:{name} --dataset-arg download=true"
    build = f"tfds build {name}"
    if data_dir:
        flag += f" --dataset-arg data_dir={data_dir}"
        build += f" --data_dir {data_dir}"
    return DataError(f"tfds dataset {name!r} is not prepared{where} and download is off. "
                     f"Prepare it once (network needed) with `{flag}`, or `{build}`, then run "
                     f"again ({str(error).splitlines()[0][:200]})")


@register_source("tfds", description="tfds:<name>: any prepared TFDS dataset (image + label or "
                                     "image + segmentation_mask)")
def load_tfds_any(name, data_dir=None, download=False, image_size=None, num_classes=None,
                  val_percent=10, channels=None):
    import tensorflow as tf
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as e:
        raise DataError(f"tfds has no dataset named {name!r} (see `tfds.list_builders()`)") from e
    features = builder.info.features
    keys = set(features.keys()) if hasattr(features, "keys") else set()
    if "image" in keys and "segmentation_mask" in keys:
        task = "segmentation"
    elif "image" in keys and "label" in keys and hasattr(features["label"], "num_classes"):
        task = "classification"
    else:
        raise DataError(f"tfds:{name}: features {sorted(keys)} are neither image + label "
                        "(classification) nor image + segmentation_mask (segmentation)")
    if task == "segmentation":
        if num_classes is None:
            raise DataError(f"tfds:{name}: num_classes is required for a segmentation dataset "
                            "(pass --dataset-arg num_classes=N)")
        if int(num_classes) < 2:
            raise DataError(f"tfds:{name}: num_classes={num_classes} is not supported; a "
                            "foreground/background mask needs num_classes=2")
    if not 0 < int(val_percent) < 100:
        raise DataError(f"val_percent must be in 1..99, got {val_percent!r}")
    known = set(builder.info.splits.keys()) or {"train", "test"}
    if "train" not in known:
        raise DataError(f"tfds:{name} has no 'train' split (splits: {sorted(known)})")
    cut = 100 - int(val_percent)
    if "validation" in known and "test" in known:
        split_names = ["train", "validation", "test"]
    else:
        held_out = "test" if "test" in known else "validation" if "validation" in known else None
        if held_out is None:
            raise DataError(f"tfds:{name} has only the splits {sorted(known)}; it needs a test "
                            "or validation split besides train")
        split_names = [f"train[:{cut}%]", f"train[{cut}%:]", held_out]
    try:
        parts = tfds.load(name, split=split_names, data_dir=data_dir, download=bool(download))
    except (AssertionError, FileNotFoundError, tfds.core.registered.DatasetNotFoundError) as e:
        raise _not_prepared(name, data_dir, e) from e

    shape = tuple(features["image"].shape)
    native_channels = shape[-1] if shape and shape[-1] else 3
    channels = int(channels or native_channels)
    if image_size is None:
        if None in shape[:2]:
            raise DataError(f"tfds:{name}: images have no fixed size {shape}; pass "
                            "--dataset-arg image_size=H (or [H,W])")
        size = (int(shape[0]), int(shape[1]))
    else:
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        size = (int(size[0]), int(size[1]))

    def image_of(example):
        image = tf.cast(example["image"], tf.float32)
        if channels != image.shape[-1]:
            image = tf.image.rgb_to_grayscale(image) if channels == 1 else \
                tf.image.grayscale_to_rgb(image)
        image = tf.image.resize(image, size, method="bilinear", antialias=True)
        return tf.clip_by_value(image, 0.0, 255.0)

    if task == "classification":
        label = features["label"]
        num = label.num_classes
        names = list(label.names)

        def convert(example):
            return image_of(example), tf.cast(example["label"], tf.int32)
    else:
        num = int(num_classes)
        names = [f"class_{i}" for i in range(num)]

        def convert(example):
            mask = tf.image.resize(example["segmentation_mask"], size, method="nearest")
            mask = tf.cast(mask[..., 0], tf.int32)
            bad = tf.logical_and(mask != IGNORE_INDEX, tf.logical_or(mask < 0, mask >= num))
            check = tf.debugging.Assert(tf.logical_not(tf.reduce_any(bad)), [
                f"tfds:{name}: mask values outside 0..{num - 1} (255 = ignore):",
                tf.boolean_mask(mask, bad)], summarize=10)
            with tf.control_dependencies([check]):
                mask = tf.identity(mask)
            return image_of(example), mask

    ds = [d.map(convert, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True) for d in parts]
    sizes = {k: int(d.cardinality()) for k, d in zip(("train", "val", "test"), ds)}
    info = {"source": f"tfds:{name}", "tfds_splits": split_names}
    if task == "segmentation":
        info["ignore_index"] = IGNORE_INDEX
    return DatasetSplits(name=f"tfds:{name}", task=task, train=ds[0], val=ds[1], test=ds[2],
                         image_shape=size + (channels,), num_classes=num, class_names=names,
                         sizes=sizes, info=info)
