"""Small serializable layers the segmentation models need (mirror padding, crop/resize to a
reference tensor, adaptive average pooling). All work with unknown (``None``) height/width and
lower to TFLite builtin ops (MirrorPad, StridedSlice/Slice, ResizeBilinear, BatchMatMul)."""

import keras
from keras import ops

from kerascv_apps.layers.alignment import INTERPOLATIONS, interpolation_matrix, resample


@keras.saving.register_keras_serializable(package="kerascv_apps")
class MirrorPadding2D(keras.layers.Layer):
    """Reflect-pads height and width (U-Net's mirrored input tiles, Ronneberger et al. 2015).

    Args:
        padding: ``((top, bottom), (left, right))`` or an int for all four sides.
        mode: ``'reflect'`` (edge not repeated, as in the paper) or ``'symmetric'``.
    """

    def __init__(self, padding, mode="reflect", **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, int):
            padding = ((padding, padding), (padding, padding))
        self.padding = tuple(tuple(int(p) for p in side) for side in padding)
        if mode not in ("reflect", "symmetric"):
            raise ValueError(f"MirrorPadding2D: mode must be 'reflect' or 'symmetric', got {mode!r}")
        self.mode = mode

    def call(self, inputs):
        (top, bottom), (left, right) = self.padding
        return ops.pad(inputs, ((0, 0), (top, bottom), (left, right), (0, 0)), mode=self.mode)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        (top, bottom), (left, right) = self.padding
        return (b, None if h is None else h + top + bottom,
                None if w is None else w + left + right, c)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "mode": self.mode}


@keras.saving.register_keras_serializable(package="kerascv_apps")
class CenterCropToMatch(keras.layers.Layer):
    """``[x, reference] -> x`` center-cropped to the reference's height and width (U-Net's
    crop-and-concatenate skips). The extra rows/columns of an odd difference go to the bottom
    and right."""

    def call(self, inputs):
        x, ref = inputs
        xs, rs = ops.shape(x), ops.shape(ref)
        top, left = (xs[1] - rs[1]) // 2, (xs[2] - rs[2]) // 2
        return ops.slice(x, (0, top, left, 0), (xs[0], rs[1], rs[2], xs[3]))

    def compute_output_shape(self, input_shapes):
        x, ref = input_shapes
        return (x[0], ref[1], ref[2], x[3])


@keras.saving.register_keras_serializable(package="kerascv_apps")
class ResizeToMatch(keras.layers.Layer):
    """``[x, reference] -> x`` resized to the reference's height and width with half-pixel
    centres (``tf.image.resize``'s convention: the two maps cover the same extent), bilinear
    or nearest. Built from interpolation matrices of the run-time sizes, so it works when
    either size is only known at run time, also in graph mode (``predict`` at a second size,
    SavedModel, dynamic-shape TFLite), where ``keras.ops.image.resize`` needs a static size.
    Use :class:`~kerascv_apps.layers.alignment.AlignedResize` when the two grids' pixel
    centres are known (a backbone level's stride and offset)."""

    def __init__(self, interpolation="bilinear", **kwargs):
        super().__init__(**kwargs)
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"ResizeToMatch: interpolation must be one of {INTERPOLATIONS}, "
                             f"got {interpolation!r}")
        self.interpolation = interpolation

    def call(self, inputs):
        x, ref = inputs
        xs, rs = ops.shape(x), ops.shape(ref)
        dtype = x.dtype if "float" in str(x.dtype) else "float32"
        mats = []
        for axis in (1, 2):
            scale = ops.cast(xs[axis], dtype) / ops.cast(rs[axis], dtype)
            mats.append(interpolation_matrix(rs[axis], xs[axis], scale, 0.5 * scale - 0.5,
                                             self.interpolation, dtype))
        return ops.cast(resample(ops.cast(x, dtype), *mats), x.dtype)

    def compute_output_shape(self, input_shapes):
        x, ref = input_shapes
        return (x[0], ref[1], ref[2], x[3])

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation}


def _bin_matrix(size, bins, dtype):
    """(bins, size) averaging matrix of adaptive pooling: row i averages positions
    ``[floor(i*size/bins), ceil((i+1)*size/bins))`` (the usual adaptive-pooling bins)."""
    i = ops.arange(bins, dtype="int32")
    start = (i * size) // bins
    end = ((i + 1) * size + bins - 1) // bins
    pos = ops.arange(size, dtype="int32")
    inside = ops.logical_and(ops.greater_equal(pos[None, :], start[:, None]),
                             ops.less(pos[None, :], end[:, None]))
    counts = ops.cast(end - start, dtype)
    return ops.cast(inside, dtype) / counts[:, None]


@keras.saving.register_keras_serializable(package="kerascv_apps")
class AdaptiveAveragePooling2D(keras.layers.Layer):
    """Average-pools a feature map of any size to ``bins x bins`` (PSPNet's pyramid pooling,
    Zhao et al. 2017). Written as two matrix products with averaging matrices built from the
    run-time size, so it accepts ``None`` height/width and converts to TFLite builtins."""

    def __init__(self, bins, **kwargs):
        super().__init__(**kwargs)
        if int(bins) < 1:
            raise ValueError(f"AdaptiveAveragePooling2D: bins must be a positive int, got {bins!r}")
        self.bins = int(bins)

    def call(self, inputs):
        shape = ops.shape(inputs)
        rows = _bin_matrix(shape[1], self.bins, inputs.dtype)           # (bins, H)
        cols = _bin_matrix(shape[2], self.bins, inputs.dtype)           # (bins, W)
        return resample(inputs, rows, cols)                              # (B, bins, bins, C)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.bins, self.bins, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "bins": self.bins}


def bilinear_kernel(size, center=None):
    """(size, size) bilinear interpolation filter (FCN's upsampling initialisation): the hat
    ``(1 - |t - center| / factor)`` per axis, ``factor = (size + 1) // 2``, centred on the
    kernel by default; an off-centre ``center`` shifts the upsampled grid by a fraction of a
    pixel (the aligned upsampling of ``models/segmentation/fcn.py``)."""
    import numpy as np

    factor = (size + 1) // 2
    if center is None:
        center = factor - 1 if size % 2 == 1 else factor - 0.5
    t = np.arange(size, dtype="float64")
    hat = np.maximum(0.0, 1 - np.abs(t - center) / factor)
    return np.outer(hat, hat).astype("float32")


@keras.saving.register_keras_serializable(package="kerascv_apps")
class BilinearUpsamplingInitializer(keras.initializers.Initializer):
    """Initialises a ``Conv2DTranspose`` kernel (k, k, out, in) to per-channel bilinear
    upsampling (channel c -> channel c, zero across channels), as FCN does (Long et al. 2015).

    Args:
        center: kernel tap (fractional allowed) where the hat peaks; default the kernel's
            centre. See :func:`bilinear_kernel`.
    """

    def __init__(self, center=None):
        self.center = None if center is None else float(center)

    def __call__(self, shape, dtype=None):
        import numpy as np

        kh, kw, out_ch, in_ch = shape
        if kh != kw:
            raise ValueError(f"BilinearUpsamplingInitializer needs a square kernel, got {shape}")
        kernel = np.zeros(shape, "float32")
        filt = bilinear_kernel(kh, self.center)
        for c in range(min(out_ch, in_ch)):
            kernel[:, :, c, c] = filt
        return ops.convert_to_tensor(kernel, dtype=dtype or "float32")

    def get_config(self):
        return {"center": self.center}
