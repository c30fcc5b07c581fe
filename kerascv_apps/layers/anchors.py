"""Dense per-anchor predictions of one-stage detectors (SSD, RetinaNet)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerascv_apps")
class AnchorPredictions(keras.layers.Layer):
    """Concatenates per-level prediction maps ``(B, h, w, anchors * values)`` into
    ``(B, sum(h * w * anchors), values)``: level by level, row by row, column by column, anchor
    by anchor (the order the anchors are generated in).

    ``anchor_config`` (a JSON-able dict: image size, levels with stride/offset/grid, anchor
    shapes, box variances, classes, loss settings) is carried in the layer's config so the
    detector's head rebuilds the anchors of any copy of the graph (a training wrapper, a
    reloaded file) from the layer itself.
    """

    def __init__(self, values_per_anchor, anchor_config=None, **kwargs):
        super().__init__(**kwargs)
        self.values_per_anchor = int(values_per_anchor)
        self.anchor_config = dict(anchor_config or {})

    def _check(self, shapes):
        for shape in shapes:
            if None in tuple(shape[1:]) or shape[-1] % self.values_per_anchor:
                raise ValueError(f"AnchorPredictions {self.name!r}: every input must be a "
                                 f"static (B, h, w, anchors * {self.values_per_anchor}) map, "
                                 f"got {tuple(shape)}")

    def call(self, inputs):
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        self._check([x.shape for x in inputs])
        flat = [ops.reshape(x, (-1, int(x.shape[1]) * int(x.shape[2]) *
                                (int(x.shape[3]) // self.values_per_anchor),
                                self.values_per_anchor)) for x in inputs]
        return flat[0] if len(flat) == 1 else ops.concatenate(flat, axis=1)

    def compute_output_shape(self, input_shape):
        shapes = input_shape if isinstance(input_shape[0], (list, tuple)) else [input_shape]
        self._check(shapes)
        total = sum(int(s[1]) * int(s[2]) * (int(s[3]) // self.values_per_anchor)
                    for s in shapes)
        return (shapes[0][0], total, self.values_per_anchor)

    def get_config(self):
        config = super().get_config()
        config.update(values_per_anchor=self.values_per_anchor,
                      anchor_config=dict(self.anchor_config))
        return config
