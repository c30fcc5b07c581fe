"""Detection models (one module per family) and the head contract (heads.py)."""
