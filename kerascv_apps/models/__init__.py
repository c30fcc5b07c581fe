"""Model builders, one sub-package per task and one module per family."""
