"""Classification datasets through ``tensorflow_datasets`` (mnist, fashion_mnist, cifar10).

Nothing is downloaded unless ``download=True`` is passed explicitly: by default the data must
already be in ``data_dir`` (tests use ``tfds.testing.mock_data``). The validation split is the
last ``val_percent`` of the official training split.
"""

import functools

from kerascv_apps.data.sources.base import DataError, DatasetSplits, register_source

TFDS_CLASSIFICATION = {
    "mnist": {"image_shape": (28, 28, 1)},
    "fashion_mnist": {"image_shape": (28, 28, 1)},
    "cifar10": {"image_shape": (32, 32, 3)},
}


def load_tfds_classification(name, data_dir=None, val_percent=10, download=False):
    import tensorflow as tf
    import tensorflow_datasets as tfds

    if not 0 < int(val_percent) < 100:
        raise ValueError(f"val_percent must be in 1..99, got {val_percent}")
    cut = 100 - int(val_percent)
    splits = [f"train[:{cut}%]", f"train[{cut}%:]", "test"]
    try:
        (train, val, test), info = tfds.load(name, split=splits, as_supervised=True,
                                             with_info=True, data_dir=data_dir,
                                             download=download)
    except (AssertionError, FileNotFoundError, tfds.core.registered.DatasetNotFoundError) as e:
        raise DataError(f"tfds dataset {name!r} is not available in data_dir={data_dir!r} and "
                        f"download is off; prepare it with `tfds build {name}` on a machine with "
                        f"network access, or pass download=True ({e})") from e

    def to_float(image, label):
        return tf.cast(image, tf.float32), tf.cast(label, tf.int32)

    ds = [d.map(to_float, num_parallel_calls=tf.data.AUTOTUNE) for d in (train, val, test)]
    label = info.features["label"]
    sizes = {"train": int(ds[0].cardinality()), "val": int(ds[1].cardinality()),
             "test": int(ds[2].cardinality())}
    return DatasetSplits(name=name, task="classification", train=ds[0], val=ds[1], test=ds[2],
                         image_shape=tuple(info.features["image"].shape),
                         num_classes=label.num_classes, class_names=list(label.names),
                         sizes=sizes, info={"source": f"tfds:{name}",
                                                     "horizontal_flip": name == "cifar10"})


for _name in TFDS_CLASSIFICATION:
    register_source(_name, task="classification",
                    description=f"tfds {_name} (must be prepared locally)")(
        functools.partial(load_tfds_classification, _name))
