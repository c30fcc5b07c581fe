"""Sharded TFRecords of any dataset (``kerascv-apps prepare``) and the way back in.

Layout of a prepared folder::

    manifest.json                       what the data is and where it is (see below)
    train-00000-of-00003.tfrecord ...   tf.train.Example records, one per example
    val-00000-of-00001.tfrecord ...

Each record holds ``image`` (the encoded file bytes, exactly as on disk for folder sources,
so reading decodes the same pixels through ``kerascv_apps.data.decode``; in-memory sources are
written as 8-bit PNGs of their pixel values rounded) and the target as the task's
``record_target`` feature (the Task encodes and decodes it): ``label`` (int64) for
classification, ``mask`` (an 8-bit greyscale PNG of the class ids, 255 = ignore) for
segmentation.

``manifest.json``: ``format``/``version``, the dataset's ``name``, ``task``, ``image_shape``,
``num_classes``, ``class_names``, ``info``, and per split its ``count`` and ``shards``
(``file``, ``count``, ``bytes``, ``sha256``). The folder is written through a staging folder
and appears complete or not at all.
"""

import hashlib
import io
import json
import os
import sys

import numpy as np

from kerascv_apps.data.sources.base import DataError
from kerascv_apps.data.streaming import stream_of
from kerascv_apps.io import confined_path

FORMAT = "kerascv_apps.tfrecord"
VERSION = 1
MANIFEST = "manifest.json"
SPLITS = ("train", "val", "test")


def sha256_file(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _png(array, mode=None):
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(array, mode).save(out, format="PNG")
    return out.getvalue()


def mask_png(mask, path="mask"):
    """An (H, W) class-id mask as an 8-bit greyscale PNG (``path`` names it in errors)."""
    mask = np.asarray(mask)
    if mask.size and (mask.min() < 0 or mask.max() > 255):
        raise DataError(f"{path}: mask values must be 0..255 to be written as PNG")
    return _png(mask.astype(np.uint8))


def record_task(task_name, action="prepare"):
    """The Task class whose TFRecord format (``record_target``, ``encode_target``...) a
    ``task_name`` dataset is written and read with; refuses a task without one."""
    from kerascv_apps.tasks.base import TASK_REGISTRY, get_task_class

    cls = get_task_class(task_name)
    if cls.record_target is None:
        able = [n for n in TASK_REGISTRY.names() if get_task_class(n).record_target]
        raise DataError(f"{action}: {task_name} datasets are not supported (tasks with a "
                        f"TFRecord format: {', '.join(able)})")
    return cls


def _examples(split_ds, task):
    """(image bytes, target feature) per example: file bytes for streamed folder splits."""
    stream = stream_of(split_ds)
    files = getattr(stream, "files", None)
    if files is not None:
        for i, path in enumerate(files["image"]):
            with open(path, "rb") as f:
                data = f.read()
            target, where = task.file_target(files, i, stream)
            yield data, task.encode_target(target, where)
        return
    for image, target in split_ds.as_numpy_iterator():
        pixels = np.clip(np.round(image), 0, 255).astype(np.uint8)
        data = _png(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
        yield data, task.encode_target(target)


def _example(data, target_feature, task):
    import tensorflow as tf

    feature = {"image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[data])),
               task.record_target: target_feature}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def prepare_tfrecords(splits, out_dir, examples_per_shard=1000, overwrite=False, log=None):
    """Writes ``splits`` (a ``DatasetSplits``) as sharded TFRecords + manifest into ``out_dir``.

    Returns the manifest (dict). Refuses an existing ``out_dir`` unless ``overwrite``.
    """
    import tensorflow as tf

    from kerascv_apps.io import atomic_dir

    task = record_task(splits.task)
    if int(examples_per_shard) < 1:
        raise DataError(f"examples_per_shard must be positive, got {examples_per_shard!r}")
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    manifest = {"format": FORMAT, "version": VERSION, "name": splits.name, "task": splits.task,
                "image_shape": list(splits.image_shape), "num_classes": splits.num_classes,
                "class_names": splits.class_names,
                "info": {k: v for k, v in splits.info.items() if k not in ("streaming",)},
                "splits": {}}
    if os.path.exists(out_dir) and not overwrite:
        raise FileExistsError(f"{out_dir} already exists; choose another --out or pass --overwrite")
    with atomic_dir(out_dir, overwrite=overwrite) as stage:
        for split in SPLITS:
            total = splits.sizes.get(split)
            n_shards = max(1, -(-int(total or 0) // int(examples_per_shard))) if total else None
            shards, count, writer, shard_count = [], 0, None, 0

            def close():
                writer.close()
                path = os.path.join(stage, shards[-1]["file"])
                shards[-1].update(count=shard_count, bytes=os.path.getsize(path),
                                  sha256=sha256_file(path))
                log(f"prepare: {split} {shards[-1]['file']} ({count}/{total or '?'} examples)")

            for data, target in _examples(getattr(splits, split), task):
                if writer is None or shard_count == int(examples_per_shard):
                    if writer is not None:
                        close()
                    name = f"{split}-{len(shards):05d}-of-{n_shards or 0:05d}.tfrecord"
                    shards.append({"file": name})
                    writer, shard_count = tf.io.TFRecordWriter(os.path.join(stage, name)), 0
                writer.write(_example(data, target, task))
                shard_count += 1
                count += 1
            if writer is None:
                raise DataError(f"prepare: split {split!r} of {splits.name} is empty")
            close()
            manifest["splits"][split] = {"count": count, "shards": shards}
        with open(os.path.join(stage, MANIFEST), "w") as f:
            json.dump(manifest, f, indent=2, default=str)
    return manifest


def read_manifest(root, verify=True):
    """The manifest of a prepared folder, every shard checked (existence, size, sha256)."""
    path = os.path.join(root, MANIFEST)
    if not os.path.isfile(path):
        raise DataError(f"{root}: no {MANIFEST} (not a folder written by `kerascv-apps prepare`)")
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: cannot read manifest ({e})") from e
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise DataError(f"{path}: format {manifest.get('format')!r} version "
                        f"{manifest.get('version')!r}, expected {FORMAT!r} version {VERSION}")
    bad = []
    for split in SPLITS:
        if split not in manifest.get("splits", {}):
            raise DataError(f"{path}: split {split!r} is missing")
        for i, shard in enumerate(manifest["splits"][split].get("shards") or []):
            where = f"{path}: splits.{split}.shards[{i}]"
            missing = [k for k in ("file", "bytes", "sha256")
                       if not isinstance(shard, dict) or k not in shard]
            if missing:
                raise DataError(f"{where}: no {', '.join(missing)} (expected file, count, "
                                f"bytes, sha256)")
            try:  # names from the file: confined to the folder
                file = confined_path(root, shard["file"], f"{where}.file")
            except ValueError as e:
                raise DataError(str(e)) from None
            shard["path"] = file
            if not os.path.isfile(file):
                bad.append(f"{file}: missing")
            elif os.path.getsize(file) != shard["bytes"]:
                bad.append(f"{file}: {os.path.getsize(file)} bytes, manifest says {shard['bytes']}")
            elif verify and sha256_file(file) != shard["sha256"]:
                bad.append(f"{file}: sha256 differs from the manifest (corrupted)")
    if bad:
        raise DataError(f"{root}: {len(bad)} shards do not match {MANIFEST}:\n  " + "\n  ".join(bad))
    return manifest
