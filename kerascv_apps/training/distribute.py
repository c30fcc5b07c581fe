"""``tf.distribute`` for training and evaluation: which strategy, which process writes.

Strategies (``--strategy``):

- ``default``: one device (``tf.distribute.get_strategy()``).
- ``mirrored``: every local GPU (or the listed devices) of this machine, synchronous.
- ``multiworker``: ``MultiWorkerMirroredStrategy`` over the processes described by the
  ``TF_CONFIG`` environment variable (one process per machine, all started with the same
  command). It must be created before TensorFlow runs anything else in the process.
- ``tpu``: ``TPUStrategy`` on the TPU found by ``TPUClusterResolver`` (wired, not tested here).

Batch size: the ``--batch-size`` given is **per replica**; the pipelines are batched with the
global batch ``per_replica x replicas`` and ``tf.distribute`` splits every global batch among
the replicas, so the gradient of one step is that of the whole global batch. Keep the
learning rate when you keep the global batch; when the global batch grows ``k`` times, scale
the learning rate ``k`` times (linear scaling rule, Goyal et al. 2017) with a few warm-up
epochs.

Writes: only the chief (``task_type`` chief, or worker 0 when the cluster has no chief)
writes the run directory: checkpoints, history, backup, model.keras, exports. The other
workers save the same files (saving reads the variables, a collective operation every worker
must join) into a private scratch folder that is removed at the end, and restore from the
chief's backup, so all processes resume from the same epoch (the run directory must be on a
file system every worker sees).
"""

import contextlib
import json
import os
import re

STRATEGIES = ("default", "mirrored", "multiworker", "tpu")


class DistributeError(RuntimeError):
    """A distributed run cannot start or lost one of its workers."""


def make_strategy(name="default", devices=None):
    """The ``tf.distribute.Strategy`` named ``name`` (see the module docstring).

    ``devices``: for ``mirrored``, e.g. ``["/cpu:0", "/cpu:1"]`` (default: all local GPUs, or
    the CPU when there is none). A strategy object is returned unchanged.
    """
    import tensorflow as tf

    if isinstance(name, tf.distribute.Strategy):
        return name
    if name in (None, "default"):
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multiworker":
        config = tf_config()
        if not config.get("cluster"):
            raise DistributeError("--strategy multiworker needs the TF_CONFIG environment "
                                  "variable ({'cluster': {'worker': [host:port, ...]}, 'task': "
                                  "{'type': 'worker', 'index': i}}) in every process")
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=None)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")


def tf_config():
    text = os.environ.get("TF_CONFIG", "")
    if not text:
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DistributeError(f"TF_CONFIG is not valid JSON ({e}): {text[:200]!r}") from None


def task_of(strategy=None):
    """``(task_type, task_id)`` of this process in its strategy's cluster (multi-worker, from
    ``TF_CONFIG``); ``(None, None)`` for single-process strategies."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is not None and getattr(resolver, "task_type", None):
        return resolver.task_type, int(resolver.task_id or 0)
    return None, None


def is_chief(strategy=None):
    """True for the one process that writes: single-process runs, the chief, or worker 0 of
    a cluster without a chief."""
    task_type, task_id = task_of(strategy)
    if task_type is None:
        return True
    if task_type == "chief":
        return True
    cluster = tf_config().get("cluster", {})
    return task_type == "worker" and task_id == 0 and "chief" not in cluster


def worker_name(strategy=None):
    task_type, task_id = task_of(strategy)
    return "chief" if task_type is None else f"{task_type} {task_id}"


def replicas(strategy=None):
    return int(strategy.num_replicas_in_sync) if strategy is not None else 1


def global_batch_size(per_replica_batch, strategy=None):
    """``per_replica_batch x replicas in sync``: what the pipelines are batched with."""
    return int(per_replica_batch) * replicas(strategy)


def shard(dataset, file_based=False):
    """Sets how a multi-worker run splits ``dataset`` among workers.

    ``file_based`` (streamed sources): ``AUTO``, i.e. by file where the pipeline reads files
    through a reader dataset (TFRecord shards: each worker opens its own shards), else by data.
    In-memory sources: by data (every worker runs the whole pipeline and keeps its part of each
    global batch)."""
    import tensorflow as tf

    policy = (tf.data.experimental.AutoShardPolicy.AUTO if file_based
              else tf.data.experimental.AutoShardPolicy.DATA)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = policy
    return dataset.with_options(options)


def describe(strategy=None):
    """A one-line description for logs and run.json."""
    if strategy is None:
        return {"strategy": "default", "replicas": 1}
    return {"strategy": type(strategy).__name__, "replicas": replicas(strategy),
            "worker": worker_name(strategy), "chief": is_chief(strategy)}


def check_in_scope(model, strategy):
    """Refuses a model whose variables were created outside ``strategy.scope()``."""
    import tensorflow as tf

    if strategy is None or not model.weights:
        return
    variable = model.weights[0]
    variable = getattr(variable, "value", variable)
    if not tf.distribute.get_strategy().extended.variable_created_in_scope(variable):
        raise ValueError(f"model {model.name!r} was built outside the scope of the "
                         f"{type(strategy).__name__}: build it inside strategy.scope() or pass "
                         f"a function that builds it")


def _backup_class():
    import keras

    class WorkerBackup(keras.callbacks.BackupAndRestore):
        """A non-chief worker's backup: restores from the chief's folder, writes its own copy
        into its scratch folder. Writing is not optional: saving reads the variables, which is
        a collective operation every worker must take part in."""

        def __init__(self, chief_backup_dir, own_backup_dir):
            super().__init__(own_backup_dir, double_checkpoint=True)
            self.chief_backup_dir = chief_backup_dir

        def on_train_begin(self, logs=None):
            own = self.__dict__.copy()
            chief = keras.callbacks.BackupAndRestore(self.chief_backup_dir, double_checkpoint=True)
            for key in ("_weights_path", "_training_metadata_path", "_prev_weights_path",
                        "_prev_training_metadata_path"):
                setattr(self, key, getattr(chief, key))
            try:
                super().on_train_begin(logs)
            finally:
                for key in ("_weights_path", "_training_metadata_path", "_prev_weights_path",
                            "_prev_training_metadata_path"):
                    setattr(self, key, own[key])

    return WorkerBackup


def WorkerBackup(chief_backup_dir, own_backup_dir):  # noqa: N802  (keras is imported late)
    return _backup_class()(chief_backup_dir, own_backup_dir)


@contextlib.contextmanager
def lost_worker_errors(strategy=None):
    """Turns TensorFlow's errors about an unreachable peer into a ``DistributeError`` that says
    which process lost whom and what to do (nothing is lost: the backup holds the last epoch)."""
    import tensorflow as tf

    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
            tf.errors.AbortedError, tf.errors.CancelledError, tf.errors.InternalError) as e:
        if task_of(strategy)[0] is None:
            raise
        message = str(e).strip().splitlines()[0][:400]
        me = task_of(strategy)
        peers = sorted({(job, int(task)) for job, task in
                        re.findall(r"/job:(\w+)/(?:replica:\d+/)?task:(\d+)", str(e))} - {me})
        named = ", ".join(f"{job} {task}" for job, task in peers) or "another worker"
        raise DistributeError(
            f"{worker_name(strategy)}: lost contact with {named} during training ({message}). "
            f"Start every worker again with the same command: they resume from the last epoch "
            f"backed up in the run directory.") from e


@contextlib.contextmanager
def keras_multiworker_fixes(model, dataset, strategy):
    """Keras' ``fit`` under ``MultiWorkerMirroredStrategy`` needs two fixes (see
    :func:`kerascv_apps.keras_adapter.multiworker_fit_fixes`); other strategies run as is."""
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        yield
        return
    from kerascv_apps.keras_adapter import multiworker_fit_fixes

    with multiworker_fit_fixes(model, dataset, strategy):
        yield
