"""``shapes``: a deterministic procedural segmentation dataset needing no download.

Each image shows textured objects of three classes (circle, rectangle, triangle; class 0 is
background) at varied scale and rotation, overlapping and touching, on a textured background.
Textures are crops of scikit-image's bundled photos: backgrounds from grey textures (grass,
gravel, brick, camera), darkened and faintly tinted; objects a random saturated colour
modulated by a crop of a colour photo (astronaut, coffee, chelsea, rocket). Colours and
textures are drawn independently of the class, so the class is given by the *shape*. Masks are int32 class ids; with ``instances=True`` the target is (H, W, 2):
channel 0 the class mask, channel 1 instance ids (0 = background), which U-Net's border
weight map needs (see ``kerascv_apps.losses.segmentation.border_weight_map``).
"""

import functools

import numpy as np

from kerascv_apps.data.sources.base import DataError, DatasetSplits, register_source

CLASS_NAMES = ["background", "circle", "rectangle", "triangle"]
_OBJECT_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
_BACKGROUND_PHOTOS = ("grass", "gravel", "brick", "camera")


@functools.lru_cache(maxsize=1)
def _textures():
    from skimage import data

    def as_rgb(img):
        img = np.asarray(img, np.float32)
        return np.repeat(img[..., None], 3, axis=-1) if img.ndim == 2 else img[..., :3]

    objects = [as_rgb(getattr(data, n)()) for n in _OBJECT_PHOTOS]
    backgrounds = [as_rgb(getattr(data, n)()) for n in _BACKGROUND_PHOTOS]
    return objects, backgrounds


def _crop(rng, texture, size, zoom):
    """A random (size, size, 3) crop of ``texture`` sampled every ``zoom`` pixels."""
    span = int(size * zoom)
    h, w = texture.shape[:2]
    top, left = rng.integers(0, h - span), rng.integers(0, w - span)
    idx = (np.arange(size) * zoom).astype(int)
    return texture[top + idx][:, left + idx]


def _shape_mask(rng, kind, size, center, radius, angle):
    from skimage.draw import disk, polygon

    mask = np.zeros((size, size), bool)
    cy, cx = center
    if kind == 1:
        rr, cc = disk((cy, cx), radius, shape=mask.shape)
    else:
        if kind == 2:
            aspect = rng.uniform(0.55, 1.0)
            corners = np.array([[-1, -aspect], [-1, aspect], [1, aspect], [1, -aspect]]) * radius
        else:
            t = np.deg2rad([90, 210, 330])
            corners = np.stack([np.sin(t), np.cos(t)], 1) * radius * 1.25
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        pts = corners @ rot.T + np.array([cy, cx])
        rr, cc = polygon(pts[:, 0], pts[:, 1], shape=mask.shape)
    mask[rr, cc] = True
    return mask


def _saturated_color(rng):
    """A random bright, saturated RGB colour in [0, 1]."""
    import colorsys

    return np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.55, 1.0), rng.uniform(0.75, 1.0)))


def background(rng, size):
    """A float (size, size, 3) background: a grey photo texture, darkened, faintly tinted."""
    _, backgrounds = _textures()
    tint = rng.uniform(0.8, 1.0, size=3) * rng.uniform(0.3, 0.65)
    return _crop(rng, backgrounds[rng.integers(len(backgrounds))], size,
                 rng.uniform(0.5, 2.0)) * tint


def paint(rng, image, shape, texture_strength=0.45):
    """Fills ``image[shape]`` in place with a saturated colour modulated by a photo texture
    (``texture_strength`` of its luminance)."""
    objects, _ = _textures()
    size = image.shape[0]
    photo = _crop(rng, objects[rng.integers(len(objects))], size, rng.uniform(0.3, 1.0))
    luma = photo.mean(-1, keepdims=True) / 255.0
    fill = 255.0 * _saturated_color(rng) * (1 - texture_strength + texture_strength * luma)
    image[shape] = fill[shape]


def render_example(rng, size=64, max_objects=4, touching_prob=0.3, texture_strength=0.45):
    """One (image float32 (size, size, 3) in [0, 255], mask int32, instances int32).

    The background is a grey photo texture, darkened and faintly tinted; each object is a
    saturated colour modulated by a photo texture (``texture_strength`` of its luminance), so
    objects stand out by colour while carrying real texture, and the class is given by shape.
    """
    image = background(rng, size)
    mask = np.zeros((size, size), np.int32)
    instances = np.zeros((size, size), np.int32)
    previous = None
    for inst in range(1, rng.integers(1, max_objects + 1) + 1):
        kind = int(rng.integers(1, len(CLASS_NAMES)))
        radius = rng.uniform(0.12, 0.26) * size
        if previous is not None and rng.random() < touching_prob:
            # touch the previous object: centre about one radius sum away from it
            theta = rng.uniform(0, 2 * np.pi)
            dist = previous[1] + radius * 0.9
            center = (previous[0][0] + dist * np.sin(theta), previous[0][1] + dist * np.cos(theta))
        else:
            center = tuple(rng.uniform(0.15, 0.85, size=2) * size)
        shape = _shape_mask(rng, kind, size, center, radius, rng.uniform(0, 2 * np.pi))
        if shape.sum() < 12:
            continue
        paint(rng, image, shape, texture_strength)
        mask[shape] = kind
        instances[shape] = inst
        previous = (center, radius)
    return np.clip(image, 0, 255).astype(np.float32), mask, instances


def generate(count, size=64, seed=0, max_objects=4):
    """``count`` examples as numpy arrays (images, masks, instances); same seed, same data."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, size, size, 3), np.float32)
    masks = np.zeros((count, size, size), np.int32)
    instances = np.zeros((count, size, size), np.int32)
    for i in range(count):
        images[i], masks[i], instances[i] = render_example(rng, size, max_objects)
    return images, masks, instances


@register_source("shapes", task="segmentation")
def load_shapes(image_size=64, num_train=800, num_val=100, num_test=100, seed=0, max_objects=4,
                instances=False):
    """Procedural textured shapes (circle, rectangle, triangle + background), deterministic."""
    import tensorflow as tf

    if int(image_size) < 24:
        raise DataError(f"shapes: image_size must be at least 24, got {image_size!r}")
    for arg, n in (("num_train", num_train), ("num_val", num_val), ("num_test", num_test)):
        if int(n) < 1:
            raise DataError(f"shapes: {arg} must be a positive int, got {n!r}")
    splits = {}
    for offset, (split, count) in enumerate((("train", num_train), ("val", num_val),
                                             ("test", num_test))):
        images, masks, inst = generate(int(count), int(image_size), seed * 1000 + offset, max_objects)
        target = np.stack([masks, inst], -1) if instances else masks
        splits[split] = tf.data.Dataset.from_tensor_slices((images, target))
    return DatasetSplits(
        name="shapes", task="segmentation", train=splits["train"], val=splits["val"],
        test=splits["test"], image_shape=(int(image_size), int(image_size), 3),
        num_classes=len(CLASS_NAMES), class_names=list(CLASS_NAMES),
        sizes={"train": int(num_train), "val": int(num_val), "test": int(num_test)},
        info={"instances": bool(instances), "ignore_index": 255})
