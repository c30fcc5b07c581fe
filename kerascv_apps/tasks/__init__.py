"""One Task per task: what differs between classification, segmentation and super-resolution
(dataset defaults, TFRecord and tfds examples, losses, metrics, the quality metric the exporter
verifies, the phone contract and TFLite metadata kind, serving outputs, tuning space, the loss
tfmot fine-tunes with, visualizations) lives here, so the rest of the package never branches on
a task name: adding a task is a module here (a registered ``Task`` subclass), its models and
sources."""

from kerascv_apps.tasks.base import (Task, default_dataset_for, get_task,  # noqa: F401
                                     get_task_class, register_task)
