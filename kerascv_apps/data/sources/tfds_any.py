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



def _size(image_size):
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    return (int(size[0]), int(size[1]))


def _task_of(name, features, keys, num_classes):
    """The task whose ``tfds_target`` takes these features (highest ``tfds_priority`` first):
    ``(target_fn, num_classes, class_names, info, task name)``."""
    from kerascv_apps.tasks.base import TASK_REGISTRY, get_task_class

    tasks = sorted((get_task_class(n) for n in TASK_REGISTRY.names()),
                   key=lambda cls: -cls.tfds_priority)
    for cls in tasks:
        if cls.tfds_features is None:
            continue
        fit = cls.tfds_target({k: features[k] for k in keys}, name, num_classes)
        if fit is not None:
            return (*fit, cls.name)
    wanted = "; ".join(f"{c.tfds_features} ({c.name})" for c in tasks if c.tfds_features)
    raise DataError(f"tfds:{name}: features {sorted(keys)} fit no task; known: {wanted}")


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
    if "image" not in keys:
        raise DataError(f"tfds:{name}: features {sorted(keys)} have no 'image'")
    size = None if image_size is None else _size(image_size)
    target_fn, num, names, task_info, task = _task_of(name, features, keys, num_classes)
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
    if size is None:
        if None in shape[:2]:
            raise DataError(f"tfds:{name}: images have no fixed size {shape}; pass "
                            "--dataset-arg image_size=H (or [H,W])")
        size = (int(shape[0]), int(shape[1]))

    def image_of(example):
        image = tf.cast(example["image"], tf.float32)
        if channels != image.shape[-1]:
            image = tf.image.rgb_to_grayscale(image) if channels == 1 else \
                tf.image.grayscale_to_rgb(image)
        image = tf.image.resize(image, size, method="bilinear", antialias=True)
        return tf.clip_by_value(image, 0.0, 255.0)

    def convert(example):
        return image_of(example), target_fn(example, size)

    ds = [d.map(convert, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True) for d in parts]
    sizes = {k: int(d.cardinality()) for k, d in zip(("train", "val", "test"), ds)}
    info = {"source": f"tfds:{name}", "tfds_splits": split_names, **task_info}
    return DatasetSplits(name=f"tfds:{name}", task=task, train=ds[0], val=ds[1], test=ds[2],
                         image_shape=size + (channels,), num_classes=num, class_names=names,
                         sizes=sizes, info=info)
