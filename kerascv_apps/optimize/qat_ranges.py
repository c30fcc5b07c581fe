"""Data-calibrated starting ranges for tfmot's activation fake-quantizers.

tfmot's ``MovingAverageQuantizer`` (every activation/output quantizer of the default 8-bit
scheme) starts at the range [-6, 6] and moves it by an exponential moving average with decay
0.999 per training step. A short fine-tuning therefore leaves the ranges near [-6, 6]: after
80 steps 92% of the initial range is still there (0.999 ** 80), so a ReLU output in [0, 3]
keeps a range of about [-5.5, 5.8] and an input in [0, 1] gets ~23 of the 256 levels. The
file converted from such a model is less accurate than post-training quantization, whose
ranges come from data.

``calibrate_ranges`` sets each of those ranges to the min/max that the layer's input reaches
on a calibration set in inference mode (the statistic the converter's post-training
calibration records), before fine-tuning; QAT then starts where post-training quantization
ends and its moving averages only refine the ranges.
"""

import contextlib

import numpy as np


@contextlib.contextmanager
def _observing():
    """While active, every ``MovingAverageQuantizer`` call passes its input through unchanged
    and widens its own min/max variables to the input's range (0 always included, as the
    quantizer itself requires), and every weight quantizer (``LastValueQuantizer``) runs as
    in training: its range becomes the weight's own (it starts at [-6, 6] too and is only
    set by a training step). Yields the activation range variables seen."""
    import tensorflow as tf
    from tensorflow_model_optimization.python.core.quantization.keras import quantizers

    cls, weight_cls = quantizers.MovingAverageQuantizer, quantizers.LastValueQuantizer
    original, weight_original = cls.__call__, weight_cls.__call__
    seen = {}

    def weight_range(self, inputs, training, weights, **kwargs):
        return weight_original(self, inputs, True, weights, **kwargs)

    def observe(self, inputs, training, weights, **kwargs):
        lo_var, hi_var = weights["min_var"], weights["max_var"]
        axes = list(range(len(inputs.shape) - 1)) if self.per_axis else None
        lo = tf.minimum(tf.reduce_min(inputs, axis=axes), 0.0)
        hi = tf.maximum(tf.reduce_max(inputs, axis=axes), 0.0)
        key = id(lo_var)
        if key in seen:
            lo, hi = tf.minimum(lo_var, lo), tf.maximum(hi_var, hi)
        seen[key] = (lo_var, hi_var)
        lo_var.assign(tf.reshape(lo, tf.shape(lo_var)))
        hi_var.assign(tf.reshape(hi, tf.shape(hi_var)))
        return inputs

    cls.__call__, weight_cls.__call__ = observe, weight_range
    try:
        yield seen
    finally:
        cls.__call__, weight_cls.__call__ = original, weight_original


def calibrate_ranges(qat_model, images, batch_size=32):
    """Sets the activation ranges of a ``quantize_apply``-ed tf_keras model from ``images``
    (float, as the model takes them); returns how many quantizers were calibrated.

    The model runs eagerly in inference mode (BatchNorm moving statistics, no dropout) on the
    float activations, as the converter's calibration does, with the weights fake-quantized
    to their own ranges (as QAT will see them); no weight is trained.
    """
    images = np.asarray(images, np.float32)
    if len(images) == 0:
        raise ValueError("calibrate_ranges needs at least one calibration image")
    with _observing() as seen:
        for start in range(0, len(images), batch_size):
            qat_model(images[start:start + batch_size], training=False)
    return len(seen)
