"""Detection examples: the padded box format, box checks that name the file, streamed folder
splits and box-aware augmentation.

The example format (the contract of ``kerascv_apps/models/detection/heads.py``)::

    image  float32 (H, W, 3), pixel values in [0, 255]
    boxes  float32 (max_boxes, 5): y_min, x_min, y_max, x_max (ratios of H and W), class id

Rows are objects in file order; unused rows are padding (zeros, class id -1). An image without
objects is kept as a background example (every row padding). Relative coordinates do not
change when an image is resized, so sources resize images freely; pixel boxes of a W x H image
become ``y / H`` and ``x / W`` with the pixel-edge convention (a box covering pixels 0..9
inclusive has x_min 0 and x_max 10).

Every source checks its boxes with :func:`check_object` / :func:`pad_boxes`: a box outside
the image, a degenerate box (zero or negative width or height), a non-finite number, a class
id outside the classes and more objects than ``max_boxes`` are refused, each naming the file
and the object. :class:`BoxAugment` flips and scale-crops image and boxes together, in graph
mode: boxes are transformed with the same arithmetic as the pixels, clipped to the crop, and a
box whose visible part is below ``min_visible`` of its area is dropped (padding), never kept
at a place where its object is not.
"""

import numpy as np

from kerascv_apps.data.sources.base import DataError
from kerascv_apps.models.detection.heads import DEFAULT_MAX_BOXES, PAD_CLASS, TARGET_COLUMNS

# a pixel box may overshoot the image border by this much (rounding in annotation tools)
BORDER_TOLERANCE = 0.5
_LISTED = 20


def empty_boxes(max_boxes=DEFAULT_MAX_BOXES):
    """A background example's target: every row padding."""
    boxes = np.zeros((int(max_boxes), len(TARGET_COLUMNS)), np.float32)
    boxes[:, 4] = PAD_CLASS
    return boxes


def pixel_box(y_min, x_min, y_max, x_max, height, width, class_id, num_classes, where):
    """One object in pixels of a ``width`` x ``height`` image as a relative row (numpy
    float32 (5,)); a ``DataError`` naming ``where`` for a non-finite, degenerate or outside box
    or a class id outside ``0..num_classes-1``."""
    values = np.array([y_min, x_min, y_max, x_max], np.float64)
    if not np.all(np.isfinite(values)):
        raise DataError(f"{where}: box {values.tolist()} has a non-finite coordinate")
    if not (values[2] > values[0] and values[3] > values[1]):
        raise DataError(f"{where}: degenerate box (y_min, x_min, y_max, x_max) = "
                        f"{_fmt(values)} (width and height must be positive)")
    tol = BORDER_TOLERANCE
    if values[0] < -tol or values[1] < -tol or values[2] > height + tol or values[3] > width + tol:
        raise DataError(f"{where}: box (y_min, x_min, y_max, x_max) = {_fmt(values)} is outside "
                        f"the {width}x{height} image")
    check_class(class_id, num_classes, where)
    rel = np.clip(values / np.array([height, width, height, width], np.float64), 0.0, 1.0)
    return np.array([*rel, int(class_id)], np.float32)


def relative_box(y_min, x_min, y_max, x_max, class_id, num_classes, where, tolerance=1e-3):
    """One object already in ratios (YOLO, tfds) as a row; the same checks as ``pixel_box``."""
    values = np.array([y_min, x_min, y_max, x_max], np.float64)
    if not np.all(np.isfinite(values)):
        raise DataError(f"{where}: box {values.tolist()} has a non-finite coordinate")
    if not (values[2] > values[0] and values[3] > values[1]):
        raise DataError(f"{where}: degenerate box (y_min, x_min, y_max, x_max) = "
                        f"{_fmt(values)} (width and height must be positive)")
    if values.min() < -tolerance or values.max() > 1 + tolerance:
        raise DataError(f"{where}: box (y_min, x_min, y_max, x_max) = {_fmt(values)} is outside "
                        f"the image (relative coordinates must be in 0..1)")
    check_class(class_id, num_classes, where)
    return np.array([*np.clip(values, 0, 1), int(class_id)], np.float32)


def check_class(class_id, num_classes, where):
    if isinstance(class_id, (bool, np.bool_)) or int(class_id) != class_id or \
            not 0 <= int(class_id) < int(num_classes):
        raise DataError(f"{where}: class id {class_id!r} is not one of the {num_classes} "
                        f"classes (0..{int(num_classes) - 1})")


def _fmt(values):
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"


def pad_boxes(rows, max_boxes, where):
    """Object rows (n, 5) as the padded target (max_boxes, 5); more than ``max_boxes`` objects
    is a ``DataError`` naming ``where`` and the argument that raises the limit."""
    rows = np.asarray(rows, np.float32).reshape(-1, len(TARGET_COLUMNS))
    if len(rows) > int(max_boxes):
        raise DataError(f"{where}: {len(rows)} objects, more than max_boxes={max_boxes} (pass "
                        f"--dataset-arg max_boxes={len(rows)} or more)")
    out = empty_boxes(max_boxes)
    out[:len(rows)] = rows
    return out


def raise_all(problems, what):
    """One ``DataError`` listing every problem (first 20), or nothing when there is none."""
    if problems:
        more = f"\n  ... and {len(problems) - _LISTED} more" if len(problems) > _LISTED else ""
        raise DataError(f"{len(problems)} problems in {what}:\n  "
                        + "\n  ".join(problems[:_LISTED]) + more)


def boxes_from_mask(instances, classes):
    """Pixel-edge boxes ``(y_min, x_min, y_max, x_max)`` and class ids of every instance of an
    instance-id image (0 = none); ``classes`` is the class-id image (same size)."""
    out = []
    for inst in np.unique(instances):
        if inst == 0:
            continue
        ys, xs = np.nonzero(instances == inst)
        values, counts = np.unique(classes[ys, xs], return_counts=True)
        out.append(((ys.min(), xs.min(), ys.max() + 1, xs.max() + 1), int(values[counts.argmax()])))
    return out


def detection_stream(images, targets, nbytes, image_size, channels, split, cache_dir=None):
    """A streamed split of image files (decoded and resized to ``image_size``) with their
    padded targets (held in memory: a few floats per object)."""
    import tensorflow as tf

    from kerascv_apps.data.decode import decode_image, resize_image
    from kerascv_apps.data.streaming import Stream, cache_key, file_records, read_checked, streamed

    size = tuple(int(s) for s in image_size)
    targets = np.stack(targets).astype(np.float32)

    def decode(path, n, boxes):
        image = resize_image(decode_image(read_checked(path, n), channels), size)
        return image, tf.ensure_shape(boxes, targets.shape[1:])

    columns = (np.asarray(images, str), np.asarray(nbytes, np.int64), targets)
    key = cache_key(split, list(images), ("detection", size, channels,
                                          targets.tobytes().hex()[:64])) if cache_dir else split
    stream = Stream(lambda seed: file_records(columns, seed), decode, len(images), key,
                    cache_dir)
    stream.files = {"image": list(images), "boxes": list(targets)}
    return streamed(stream)


class BoxAugment:
    """Box-aware augmentation in graph mode: a random crop of ``scale`` of the image (pixel
    offsets, resized back to the input size), a horizontal flip, brightness and contrast.

    Boxes follow the pixels exactly: with a crop of ``(ch, cw)`` pixels at ``(oy, ox)`` of an
    ``H x W`` image, ``y' = (y * H - oy) / ch`` (the same map the resize applies to pixel
    edges), then clipped to [0, 1]; a flip maps ``x`` to ``1 - x`` (x_min and x_max swap).
    A box whose visible area is less than ``min_visible`` of its area becomes padding.
    ``scale`` None, ``brightness`` 0 and ``contrast`` None leave out the crop and the colour
    changes (``flips_only()``: horizontal flips alone, pixels and boxes mirrored exactly).
    Callable as ``(image, boxes, seed) -> (image, boxes)`` (``make_pipeline``).
    """

    def __init__(self, scale=(0.6, 1.0), horizontal_flip=True, brightness=20.0,
                 contrast=(0.8, 1.2), min_visible=0.4):
        self.scale = None if scale is None else tuple(float(s) for s in scale)
        self.horizontal_flip = bool(horizontal_flip)
        self.brightness = float(brightness)
        self.contrast = contrast
        self.min_visible = float(min_visible)

    @classmethod
    def flips_only(cls):
        """Horizontal flips (probability 0.5) and nothing else."""
        return cls(scale=None, horizontal_flip=True, brightness=0.0, contrast=None)

    def __call__(self, image, boxes, seed):
        import tensorflow as tf

        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 6)
        uniform = lambda i, lo, hi: tf.random.stateless_uniform([], seeds[i], lo, hi)  # noqa: E731
        if self.scale is not None:
            image, boxes = self._crop(image, boxes, uniform)
        if self.horizontal_flip:
            do = uniform(3, 0.0, 1.0) < 0.5
            image = tf.where(do, tf.reverse(image, [1]), image)
            boxes = tf.where(do, flip_boxes(boxes), boxes)
        if self.brightness:
            image = image + uniform(4, -self.brightness, self.brightness)
        if self.contrast:
            mean = tf.reduce_mean(image, axis=[0, 1], keepdims=True)
            image = (image - mean) * uniform(5, self.contrast[0], self.contrast[1]) + mean
        return tf.clip_by_value(image, 0.0, 255.0), boxes

    def _crop(self, image, boxes, uniform):
        import tensorflow as tf

        shape = tf.shape(image)
        h, w = shape[0], shape[1]
        hf, wf = tf.cast(h, tf.float32), tf.cast(w, tf.float32)
        s = uniform(0, self.scale[0], self.scale[1])
        ch = tf.clip_by_value(tf.cast(tf.round(hf * s), tf.int32), 1, h)
        cw = tf.clip_by_value(tf.cast(tf.round(wf * s), tf.int32), 1, w)
        oy = tf.cast(tf.floor(uniform(1, 0.0, 1.0) * tf.cast(h - ch + 1, tf.float32)), tf.int32)
        ox = tf.cast(tf.floor(uniform(2, 0.0, 1.0) * tf.cast(w - cw + 1, tf.float32)), tf.int32)
        oy, ox = tf.minimum(oy, h - ch), tf.minimum(ox, w - cw)
        crop = tf.image.crop_to_bounding_box(image, oy, ox, ch, cw)
        crop = tf.image.resize(crop, tf.stack([h, w]), method="bilinear")
        image = tf.reshape(crop, tf.shape(image))
        return image, crop_boxes(boxes, hf, wf, oy, ox, ch, cw, self.min_visible)


def crop_boxes(boxes, height, width, oy, ox, ch, cw, min_visible):
    """Padded boxes (n, 5) in the crop ``(oy, ox, ch, cw)`` (pixels) of a ``height x width``
    image: transformed, clipped, and padding where less than ``min_visible`` stays visible."""
    import tensorflow as tf

    oy, ox = tf.cast(oy, tf.float32), tf.cast(ox, tf.float32)
    ch, cw = tf.cast(ch, tf.float32), tf.cast(cw, tf.float32)
    y0 = (boxes[:, 0] * height - oy) / ch
    x0 = (boxes[:, 1] * width - ox) / cw
    y1 = (boxes[:, 2] * height - oy) / ch
    x1 = (boxes[:, 3] * width - ox) / cw
    area = (y1 - y0) * (x1 - x0)
    cy0, cx0 = tf.clip_by_value(y0, 0.0, 1.0), tf.clip_by_value(x0, 0.0, 1.0)
    cy1, cx1 = tf.clip_by_value(y1, 0.0, 1.0), tf.clip_by_value(x1, 0.0, 1.0)
    visible = tf.maximum(cy1 - cy0, 0.0) * tf.maximum(cx1 - cx0, 0.0)
    keep = (boxes[:, 4] != PAD_CLASS) & (visible > 0) & (visible >= min_visible * area)
    out = tf.stack([cy0, cx0, cy1, cx1, boxes[:, 4]], axis=-1)
    pad = tf.concat([tf.zeros_like(out[:, :4]), tf.fill(tf.shape(out[:, 4:]), float(PAD_CLASS))],
                    axis=-1)
    out = tf.where(keep[:, None], out, pad)
    return compact(out)


def flip_boxes(boxes):
    """Horizontal flip of padded boxes (padding rows stay padding)."""
    import tensorflow as tf

    real = boxes[:, 4:] != PAD_CLASS
    flipped = tf.stack([boxes[:, 0], 1.0 - boxes[:, 3], boxes[:, 2], 1.0 - boxes[:, 1],
                        boxes[:, 4]], axis=-1)
    return tf.where(real, flipped, boxes)


def compact(boxes):
    """Padded boxes with the real rows first (their order kept), padding after."""
    import tensorflow as tf

    real = boxes[:, 4] != PAD_CLASS
    order = tf.argsort(tf.cast(tf.logical_not(real), tf.int32), stable=True)
    return tf.gather(boxes, order)


class AlbumentationsBoxAugment:
    """The same augmentation through albumentations' ``bbox_params`` (``RandomSizedBBoxSafeCrop``
    is not used: a random crop may cut boxes, which then follow ``min_visibility``): a random
    resized crop of ``scale`` of the area at the input's aspect ratio, a horizontal flip and
    brightness/contrast. Boxes go in and out in albumentations' own normalized
    ``x_min, y_min, x_max, y_max`` format; padding rows are left out and put back.
    ``scale`` None: horizontal flips alone."""

    def __init__(self, scale=(0.36, 1.0), min_visible=0.4):
        self.scale = None if scale is None else tuple(scale)
        self.min_visible = float(min_visible)
        self._transforms = {}

    def _compose(self, height, width):
        import threading

        key = (threading.get_ident(), height, width)
        if key not in self._transforms:
            import albumentations as A

            steps = [A.HorizontalFlip(p=0.5)]
            if self.scale is not None:
                steps = [A.RandomResizedCrop(size=(height, width), scale=self.scale,
                                             ratio=(width / height, width / height), p=1.0),
                         *steps, A.RandomBrightnessContrast(p=0.5)]
            self._transforms[key] = A.Compose(
                steps,
                bbox_params=A.BboxParams(format="albumentations", label_fields=["classes"],
                                         min_visibility=self.min_visible))
        return self._transforms[key]

    def _apply(self, image, boxes, seed):
        height, width = image.shape[:2]
        compose = self._compose(height, width)
        compose.set_random_seed(int(np.uint32(seed[0] ^ (seed[1] << 1))))
        real = boxes[:, 4] != PAD_CLASS
        xyxy = boxes[real][:, [1, 0, 3, 2]].clip(0, 1)
        out = compose(image=np.clip(image, 0, 255).astype(np.uint8), bboxes=xyxy,
                      classes=boxes[real][:, 4].tolist())
        result = np.full_like(boxes, 0.0)
        result[:, 4] = PAD_CLASS
        kept = np.asarray(out["bboxes"], np.float32).reshape(-1, 4)
        result[:len(kept), :4] = kept[:, [1, 0, 3, 2]]
        result[:len(kept), 4] = np.asarray(out["classes"], np.float32)
        return out["image"].astype(np.float32), result

    def __call__(self, image, boxes, seed):
        import tensorflow as tf

        out_image, out_boxes = tf.numpy_function(self._apply, [image, boxes, seed],
                                                 [tf.float32, tf.float32], stateful=False)
        out_image.set_shape(image.shape)
        out_boxes.set_shape(boxes.shape)
        return out_image, out_boxes
