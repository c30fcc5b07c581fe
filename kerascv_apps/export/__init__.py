"""Export: SavedModel for TF Serving, TFLite (+ quantization), verification and reports."""
