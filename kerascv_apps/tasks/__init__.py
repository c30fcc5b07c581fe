"""One Task per task: what differs between classification, segmentation and super-resolution
(losses, metrics, the quality metric the exporter verifies, visualizations) lives here, so the
rest of the package never branches on a task name."""

from kerascv_apps.tasks.base import Task, get_task, register_task  # noqa: F401
