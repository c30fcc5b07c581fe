"""tf.data assembly: cache, shuffle, augment (parallel, seeded), batch, prefetch.

Determinism: every example gets its own stateless seed from ``Dataset.random(seed)`` zipped
beside it (rerandomized each epoch, reproducibly), and the parallel map keeps order, so two
runs with the same seed see identical batches while each epoch sees new augmentations.

Streamed splits (``kerascv_apps.data.streaming``) are shuffled as a list of records before
decoding and never cached in memory, so a folder larger than RAM trains in bounded memory.
"""

import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE


def make_pipeline(dataset, batch_size, training=False, augment=None, seed=0, cache=True,
                  shuffle_buffer=10_000, drop_remainder=False, repeat=False, map_fn=None):
    """Batches an unbatched ``(image, target)`` dataset for ``fit``/``evaluate``.

    Args:
        dataset: unbatched ``tf.data.Dataset`` of ``(image, target)``.
        batch_size: examples per batch.
        training: shuffle and augment when True.
        augment: a callable ``(image, target, seed) -> (image, target)`` where ``seed`` is a
            shape-[2] int64 tensor (see ``kerascv_apps.data.augment``); used only in training.
        seed: seed for shuffling and augmentation.
        cache: cache decoded examples in memory before augmentation (datasets that fit);
            ignored for streamed splits (they cache to disk with their source's ``cache=DIR``).
        shuffle_buffer: shuffle buffer size.
        drop_remainder: drop the last partial batch.
        repeat: repeat forever (use with ``steps_per_epoch``).
        map_fn: optional deterministic ``(image, target) -> (image, target)`` applied after
            augmentation in every split (e.g. making the LR input from an HR crop).
    """
    if batch_size is None or int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    from kerascv_apps.data.streaming import stream_of

    stream = stream_of(dataset)
    if stream is not None:
        ds = stream.dataset(shuffle_seed=seed if training else None, shuffle_buffer=shuffle_buffer)
    else:
        ds = dataset
        if cache:
            ds = ds.cache()
        if training:
            ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    if training and augment is not None:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        chunk = getattr(augment, "chunk_size", None)
        fixed = all(spec.shape.is_fully_defined() for spec in ds.element_spec)
        if chunk and fixed:  # Python augmenters: one call per chunk, then back to examples
            # unbatch() forgets how many examples there are; the count is unchanged, and the
            # schedule, early stopping and progress bars need it (an unknown length also makes
            # Keras end each epoch with "ran out of data")
            cardinality = ds.cardinality()
            ds = tf.data.Dataset.zip((ds.batch(chunk), seeds))
            ds = ds.map(lambda batch, s: augment.apply_chunk(batch[0], batch[1], s),
                        num_parallel_calls=AUTOTUNE, deterministic=True).unbatch()
            if int(cardinality) >= 0 or int(cardinality) == int(tf.data.INFINITE_CARDINALITY):
                ds = ds.apply(tf.data.experimental.assert_cardinality(cardinality))
        else:
            ds = tf.data.Dataset.zip((ds, seeds))
            ds = ds.map(lambda example, s: augment(example[0], example[1], s),
                        num_parallel_calls=AUTOTUNE, deterministic=True)
    if map_fn is not None:
        ds = ds.map(map_fn, num_parallel_calls=AUTOTUNE, deterministic=True)
    ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)
    return ds.prefetch(AUTOTUNE)


def take_images(dataset, limit):
    """The first ``limit`` images of an unbatched dataset as one float32 numpy batch."""
    import numpy as np

    images = [image for image, _ in dataset.take(limit).as_numpy_iterator()]
    if not images:
        raise ValueError("dataset is empty")
    return np.stack(images).astype(np.float32)
