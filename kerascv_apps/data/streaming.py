"""Splits that stream from disk: records are listed (and shuffled) before anything is decoded.

A streamed split is an ordinary unbatched ``tf.data.Dataset`` of ``(image, target)`` (file
order, decoded in parallel, order kept) that also carries a :class:`Stream` in its
``kcv_stream`` attribute. ``make_pipeline`` uses the stream to build the training pipeline as
list -> shuffle records -> parallel decode + resize -> augment -> batch -> prefetch, so memory
holds file names and a few batches, never the decoded dataset. Without the attribute (after a
``.map`` or ``.take``) the dataset still works, it is just not shuffled at the file level.

``cache_dir``: decoded examples are cached to ``cache_dir/<key>`` (a tf.data file cache, keyed
by the file list, sizes, modification times and decode settings, so a changed folder never reads
a stale cache). A cached split is shuffled with a buffer of at most ``CACHED_SHUFFLE`` decoded
examples, since the cache replays one fixed order. A cache is complete only after a full pass
(tf.data discards a partial one); a process killed while writing leaves a ``*.lockfile`` that
tf.data names in its error on the next run (delete it when no other run uses the cache).
"""

import hashlib
import os

AUTOTUNE = -1  # tf.data.AUTOTUNE, without importing tensorflow at module import
CACHED_SHUFFLE = 1024


class Stream:
    """How to produce one split: ``records(seed)`` gives the raw records (shuffled when ``seed``
    is not None), ``decode`` maps a record to ``(image, target)``."""

    def __init__(self, records, decode, size, key, cache_dir=None):
        self.records = records
        self.decode = decode
        self.size = int(size)
        self.key = key
        self.cache_dir = cache_dir

    def dataset(self, shuffle_seed=None, shuffle_buffer=None):
        import tensorflow as tf

        ds = self.records(None if self.cache_dir else shuffle_seed)
        ds = ds.apply(tf.data.experimental.assert_cardinality(self.size))  # known epoch length
        ds = ds.map(self.decode, num_parallel_calls=AUTOTUNE, deterministic=True)
        if self.cache_dir:
            os.makedirs(self.cache_dir, exist_ok=True)
            ds = ds.cache(os.path.join(self.cache_dir, self.key))
            if shuffle_seed is not None:
                buffer = min(shuffle_buffer or CACHED_SHUFFLE, CACHED_SHUFFLE, max(self.size, 1))
                ds = ds.shuffle(buffer, seed=shuffle_seed, reshuffle_each_iteration=True)
        return ds


def streamed(stream):
    """The split's plain dataset (file order), carrying ``stream`` for ``make_pipeline``."""
    ds = stream.dataset()
    ds.kcv_stream = stream
    return ds


def stream_of(dataset):
    return getattr(dataset, "kcv_stream", None)


def file_records(columns, seed):
    """``from_tensor_slices(columns)``, shuffled over all records when ``seed`` is given."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(columns)
    if seed is not None:
        n = len(columns[0])
        ds = ds.shuffle(max(n, 1), seed=seed, reshuffle_each_iteration=True)
    return ds


def cache_key(split, paths, settings):
    """A key that changes whenever a listed file or a decode setting changes."""
    digest = hashlib.sha256(repr(settings).encode())
    for path in paths:
        st = os.stat(path)
        digest.update(f"{path}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return f"{split}-{digest.hexdigest()[:16]}"


def read_checked(path, nbytes):
    """The file's bytes, asserting it still has the size seen at validation (the error names the
    file: a file replaced or truncated after validation never trains silently)."""
    import tensorflow as tf

    data = tf.io.read_file(path)
    check = tf.debugging.Assert(tf.equal(tf.cast(tf.strings.length(data, unit="BYTE"), tf.int64),
                                         tf.cast(nbytes, tf.int64)),
                                ["file changed since it was validated (size differs):", path])
    with tf.control_dependencies([check]):
        return tf.identity(data)
