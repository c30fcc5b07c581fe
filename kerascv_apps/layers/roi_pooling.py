"""Region of interest pooling (Fast R-CNN) and RoIAlign (Mask R-CNN).

Girshick 2015, "Fast R-CNN": each region (in input-image pixels) is projected onto the feature
map by the spatial scale and quantized (rounded) to feature cells, divided into an H x W grid of
sub-windows of about h/H x w/W cells (floor / ceil bin edges) and each sub-window is
max-pooled. As in the paper's Caffe layer (``roi_pooling_layer.cpp``): region ends are
inclusive, a region is at least 1 x 1 cell, bins are clipped to the feature map and an empty
bin (a bin wholly outside the map) outputs 0.

He et al. 2017, "Mask R-CNN" (``mode="align"``): no quantization; each bin is sampled at
``sampling_ratio x sampling_ratio`` regularly spaced points by bilinear interpolation and the
samples are averaged (Detectron's ``RoIAlign``, ``aligned=False``: feature cell ``j`` covers
input pixels around ``j / spatial_scale``; samples more than one cell outside the map are 0,
others are clamped to the border).

Only ``keras.ops`` and no gather: the max over a rectangle is separable (max over rows then
over columns), so each bin's rows and columns are boolean masks broadcast against the feature
map; RoIAlign's bilinear weights are "hat" functions of the cell index, reduced the same way
(an elementwise product and a sum, no batch matmul).
"""

import keras
from keras import ops

MODES = ("max", "align")


@keras.saving.register_keras_serializable(package="kerascv_apps")
class RoIPooling(keras.layers.Layer):
    """Pools each region of interest to a fixed ``pool_size`` grid.

    Call ``layer([features, rois])``: ``features`` (B, H, W, C); ``rois`` (B, R, 4) per image,
    ``y_min, x_min, y_max, x_max`` in input-image pixels (multiplied by ``spatial_scale`` to
    reach feature cells; 1/16 for VGG-16's conv5_3). Returns (B, R, PH, PW, C).

    Args:
        pool_size: int or (PH, PW); 7 x 7 for VGG-16 in the paper.
        spatial_scale: feature cells per input pixel (1 / the feature map's stride).
        mode: ``"max"`` (Fast R-CNN RoI max pooling, the default) or ``"align"`` (RoIAlign).
        sampling_ratio: RoIAlign samples per bin along each axis (2 in Mask R-CNN).
        image_size: optional (height, width): ``rois`` are then in ratios of an input of that
            size (rel_yxyx, the detection contract) and are scaled to pixels first.
    """

    def __init__(self, pool_size=7, spatial_scale=1.0 / 16, mode="max", sampling_ratio=2,
                 image_size=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(pool_size, int):
            pool_size = (pool_size, pool_size)
        pool_size = tuple(int(p) for p in pool_size)
        if len(pool_size) != 2 or min(pool_size) < 1:
            raise ValueError(f"RoIPooling({self.name!r}): pool_size must be a positive int or "
                             f"(height, width), got {pool_size!r}")
        if mode not in MODES:
            raise ValueError(f"RoIPooling({self.name!r}): mode must be one of {MODES}, "
                             f"got {mode!r}")
        if not spatial_scale > 0:
            raise ValueError(f"RoIPooling({self.name!r}): spatial_scale must be > 0, "
                             f"got {spatial_scale!r}")
        if int(sampling_ratio) < 1:
            raise ValueError(f"RoIPooling({self.name!r}): sampling_ratio must be >= 1, "
                             f"got {sampling_ratio!r}")
        self.pool_size = pool_size
        self.spatial_scale = float(spatial_scale)
        self.mode = mode
        self.sampling_ratio = int(sampling_ratio)
        self.image_size = None if image_size is None else tuple(int(v) for v in image_size)

    def build(self, input_shape):
        features, rois = input_shape
        if len(features) != 4 or len(rois) != 3 or rois[-1] != 4:
            raise ValueError(f"RoIPooling({self.name!r}): expected [features (B, H, W, C), "
                             f"rois (B, R, 4)], got shapes {features} and {rois}")

    def compute_output_shape(self, input_shape):
        features, rois = input_shape
        return (features[0], rois[1], *self.pool_size, features[3])

    # ------------------------------------------------------------------ max (Fast R-CNN)
    def _max_pool(self, features, rois):
        pool_h, pool_w = self.pool_size
        shape = ops.shape(features)
        height, width = shape[1], shape[2]
        scaled = rois * self.spatial_scale  # Caffe: round(x * spatial_scale), half away from 0
        boxes = ops.sign(scaled) * ops.floor(ops.abs(scaled) + 0.5)
        y0, x0, y1, x1 = (boxes[..., i] for i in range(4))
        roi_h = ops.maximum(y1 - y0 + 1.0, 1.0)  # inclusive ends, at least one cell
        roi_w = ops.maximum(x1 - x0 + 1.0, 1.0)
        rows = self._bin_masks(y0, roi_h, pool_h, height)  # (B, R, PH, H)
        cols = self._bin_masks(x0, roi_w, pool_w, width)  # (B, R, PW, W)
        dtype = features.dtype
        lowest = ops.cast(-3.0e38 if dtype == "float32" else -6.0e4, dtype)
        f = features[:, None, None, :, :, :]  # (B, 1, 1, H, W, C)
        x = ops.where(rows[:, :, :, :, None, None], f, lowest)  # (B, R, PH, H, W, C)
        x = ops.max(x, axis=3)  # (B, R, PH, W, C)
        x = ops.where(cols[:, :, None, :, :, None], x[:, :, :, None, :, :], lowest)
        x = ops.max(x, axis=4)  # (B, R, PH, PW, C)
        empty = ops.logical_not(ops.logical_and(ops.any(rows, axis=-1)[:, :, :, None],
                                                ops.any(cols, axis=-1)[:, :, None, :]))
        return ops.where(empty[..., None], ops.zeros_like(x), x)

    @staticmethod
    def _bin_masks(start, size, bins, length):
        """(B, R, bins, length) bool: cell ``i`` lies in bin ``p`` of the region along one axis
        (Caffe: [floor(p * size / bins), ceil((p + 1) * size / bins)) + start, clipped)."""
        p = ops.cast(ops.arange(bins), "float32")
        bin_size = (size / bins)[..., None]
        lo = ops.floor(p * bin_size) + start[..., None]
        hi = ops.ceil((p + 1.0) * bin_size) + start[..., None]
        limit = ops.cast(length, "float32")
        lo = ops.clip(lo, 0.0, limit)
        hi = ops.clip(hi, 0.0, limit)
        cells = ops.cast(ops.arange(length), "float32")
        return ops.logical_and(cells >= lo[..., None], cells < hi[..., None])

    # ------------------------------------------------------------------ align (Mask R-CNN)
    def _align(self, features, rois):
        pool_h, pool_w = self.pool_size
        shape = ops.shape(features)
        height, width = shape[1], shape[2]
        boxes = rois * self.spatial_scale
        y0, x0, y1, x1 = (boxes[..., i] for i in range(4))
        wy = self._sample_weights(y0, ops.maximum(y1 - y0, 1.0), pool_h, height)
        wx = self._sample_weights(x0, ops.maximum(x1 - x0, 1.0), pool_w, width)
        dtype = features.dtype
        wy = ops.cast(wy, dtype)  # (B, R, PH*s, H)
        wx = ops.cast(wx, dtype)  # (B, R, PW*s, W)
        f = features[:, None, None, :, :, :]  # (B, 1, 1, H, W, C)
        x = ops.sum(wy[:, :, :, :, None, None] * f, axis=3)  # (B, R, PH*s, W, C)
        x = ops.sum(wx[:, :, None, :, :, None] * x[:, :, :, None, :, :], axis=4)
        s = self.sampling_ratio
        rshape = ops.shape(x)
        x = ops.reshape(x, (rshape[0], rshape[1], pool_h, s, pool_w, s, rshape[4]))
        return ops.mean(x, axis=(3, 5))

    def _sample_weights(self, start, size, bins, length):
        """(B, R, bins * s, length): bilinear weight of cell ``i`` for each sample point."""
        s = self.sampling_ratio
        k = ops.cast(ops.arange(bins * s), "float32")
        pos = start[..., None] + (k + 0.5) * (size / (bins * s))[..., None]  # (B, R, bins*s)
        limit = ops.cast(length, "float32")
        inside = ops.logical_and(pos >= -1.0, pos <= limit)
        pos = ops.clip(pos, 0.0, limit - 1.0)
        cells = ops.cast(ops.arange(length), "float32")
        weights = ops.relu(1.0 - ops.abs(pos[..., None] - cells))
        return ops.where(inside[..., None], weights, 0.0)

    def call(self, inputs):
        features, rois = inputs
        rois = ops.cast(rois, "float32")
        if self.image_size is not None:
            height, width = self.image_size
            rois = rois * ops.convert_to_tensor([height, width, height, width], "float32")
        if self.mode == "align":
            return self._align(features, rois)
        return self._max_pool(features, rois)

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=list(self.pool_size), spatial_scale=self.spatial_scale,
                      mode=self.mode, sampling_ratio=self.sampling_ratio,
                      image_size=None if self.image_size is None else list(self.image_size))
        return config
