"""``tfrecord:<dir>``: a folder written by ``kerascv-apps prepare`` (see ``data/tfrecord.py``).

The manifest and every shard are checked first (size, and sha256 unless ``verify=False``).
Training streams: shard order shuffled, shards interleaved, records shuffled in a bounded
buffer of encoded records, then decoded in parallel by ``kerascv_apps.data.decode``.
"""

import os

from kerascv_apps.data.decode import decode_image, resize_image
from kerascv_apps.data.sources.base import DataError, DatasetSplits, register_source
from kerascv_apps.data.streaming import Stream, streamed
from kerascv_apps.data.tfrecord import SPLITS, read_manifest, record_task

RECORD_SHUFFLE = 4096  # encoded records held for shuffling


def _records(files, size, seed):
    import tensorflow as tf

    names = tf.data.Dataset.from_tensor_slices(files)
    if seed is not None:
        names = names.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    ds = names.interleave(tf.data.TFRecordDataset, cycle_length=min(4, len(files)),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if seed is not None:
        ds = ds.shuffle(max(1, min(size, RECORD_SHUFFLE)), seed=seed,
                        reshuffle_each_iteration=True)
    return ds


def check_labels(root, manifest):
    """Refuses a manifest whose ``num_classes`` does not cover the labels of its records (each
    shard is read once; the refusal names the shard and the labels found), so a lying manifest
    is refused at load, not by a graph error mid-training."""
    import numpy as np
    import tensorflow as tf

    num_classes = manifest.get("num_classes")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise DataError(f"{os.path.join(root, 'manifest.json')}: num_classes "
                        f"{num_classes!r}, expected an integer >= 2")
    spec = {"label": tf.io.FixedLenFeature([], tf.int64)}
    for split in SPLITS:
        for shard in manifest["splits"][split]["shards"]:
            labels = tf.data.TFRecordDataset(shard["path"]).map(
                lambda r: tf.io.parse_single_example(r, spec)["label"]).batch(1 << 16)
            try:
                values = np.concatenate([b.numpy() for b in labels] or [np.zeros(0, np.int64)])
            except tf.errors.OpError as e:
                raise DataError(f"{shard['path']}: cannot read its records "
                                f"({(e.message or str(e)).splitlines()[0][:200]})") from None
            bad = values[(values < 0) | (values >= num_classes)]
            if bad.size:
                raise DataError(
                    f"{shard['path']}: {bad.size} records have labels outside 0.."
                    f"{num_classes - 1} (num_classes {num_classes} in manifest.json), e.g. "
                    f"{sorted(set(bad.tolist()))[:10]}; the manifest does not match its data")


@register_source("tfrecord")
def load_tfrecord(root, image_size=None, verify=True, cache=None):
    """A prepared TFRecord folder.

    Args:
        root: the folder with ``manifest.json``.
        image_size: (height, width) to resize to; default the size recorded in the manifest.
        verify: check every shard's sha256 against the manifest (reads every byte once).
        cache: optional folder for a disk cache of decoded examples.
    """
    import tensorflow as tf

    if not os.path.isdir(root):
        raise DataError(f"tfrecord folder {root!r} does not exist or is not a directory")
    manifest = read_manifest(root, verify=verify)
    task = manifest["task"]
    codec = record_task(task, f"tfrecord:{root}")
    if verify and codec.record_holds_class_ids:
        check_labels(root, manifest)
    height, width, channels = manifest["image_shape"]
    if image_size is not None:
        height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    size = (int(height), int(width))
    spec = {"image": tf.io.FixedLenFeature([], tf.string),
            codec.record_target: codec.target_feature_spec()}

    def decode(record):
        example = tf.io.parse_single_example(record, spec)
        image = resize_image(decode_image(example["image"], int(channels)), size)
        return image, codec.decode_target(example[codec.record_target], size)

    datasets, sizes = {}, {}
    for split in SPLITS:
        entry = manifest["splits"][split]
        files = [s["path"] for s in entry["shards"]]  # confined by read_manifest
        sizes[split] = int(entry["count"])
        key = f"tfrecord-{split}-{entry['shards'][0]['sha256'][:16]}-{size[0]}x{size[1]}"
        datasets[split] = streamed(Stream(lambda seed, f=files, n=sizes[split]: _records(f, n, seed),
                                          decode, sizes[split], key, cache))
    info = dict(manifest.get("info") or {})
    info.update(source=os.path.abspath(root), prepared_from=manifest["name"], streaming=True)
    return DatasetSplits(name=f"tfrecord:{root}", task=task, train=datasets["train"],
                         val=datasets["val"], test=datasets["test"],
                         image_shape=size + (int(channels),), num_classes=manifest["num_classes"],
                         class_names=manifest["class_names"], sizes=sizes, info=info)
