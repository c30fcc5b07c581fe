"""``oxford_iiit_pet`` through tensorflow_datasets: the trimap as a 3-class segmentation mask.

Trimap values 1 (pet), 2 (background), 3 (boundary / not classified) become class ids
1, 0, 2 (``CLASS_NAMES``). Images are resized bilinearly and masks with nearest neighbour.
Nothing is downloaded unless ``download=True`` (tests use ``tfds.testing.mock_data``).
"""

from kerascv_apps.data.sources.base import DataError, DatasetSplits, register_source

CLASS_NAMES = ["background", "pet", "boundary"]
# trimap value -> class id (index 0 unused by the dataset)
TRIMAP_TO_CLASS = (255, 1, 0, 2)


def trimap_to_mask(trimap):
    """(H, W[, 1]) trimap 1/2/3 -> int32 class ids (pet 1, background 0, boundary 2); any other
    value becomes 255 (ignore)."""
    import tensorflow as tf

    trimap = tf.cast(trimap, tf.int32)
    if trimap.shape.rank == 3:
        trimap = trimap[..., 0]
    table = tf.constant(TRIMAP_TO_CLASS, tf.int32)
    inside = tf.logical_and(trimap >= 1, trimap <= 3)
    return tf.where(inside, tf.gather(table, tf.clip_by_value(trimap, 0, 3)), 255)


@register_source("oxford_iiit_pet", task="segmentation")
def load_oxford_pets(image_size=128, data_dir=None, val_percent=10, download=False):
    """Oxford-IIIT Pet trimaps (tfds, must be prepared locally) as 3-class masks."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    if not 0 < int(val_percent) < 100:
        raise DataError(f"oxford_iiit_pet: val_percent must be in 1..99, got {val_percent!r}")
    size = (int(image_size), int(image_size)) if isinstance(image_size, int) else tuple(image_size)
    cut = 100 - int(val_percent)
    try:
        parts = tfds.load("oxford_iiit_pet", split=[f"train[:{cut}%]", f"train[{cut}%:]", "test"],
                          data_dir=data_dir, download=download)
    except (AssertionError, FileNotFoundError, tfds.core.registered.DatasetNotFoundError) as e:
        raise DataError("tfds dataset 'oxford_iiit_pet' is not available in data_dir="
                        f"{data_dir!r} and download is off; prepare it with `tfds build "
                        f"oxford_iiit_pet` on a machine with network access ({e})") from e

    def convert(example):
        image = tf.image.resize(tf.cast(example["image"], tf.float32), size, method="bilinear",
                                antialias=True)
        image = tf.clip_by_value(image, 0.0, 255.0)
        mask = tf.image.resize(example["segmentation_mask"], size, method="nearest")
        return image, trimap_to_mask(mask)

    ds = [d.map(convert, num_parallel_calls=tf.data.AUTOTUNE) for d in parts]
    return DatasetSplits(
        name="oxford_iiit_pet", task="segmentation", train=ds[0], val=ds[1], test=ds[2],
        image_shape=size + (3,), num_classes=3, class_names=list(CLASS_NAMES),
        sizes={k: int(d.cardinality()) for k, d in zip(("train", "val", "test"), ds)},
        info={"source": "tfds:oxford_iiit_pet", "ignore_index": 255})
