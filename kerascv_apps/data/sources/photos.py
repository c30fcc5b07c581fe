"""The embedded super-resolution dataset: scikit-image's bundled photos (no download).

A fixed split by image name (documented in ``TRAIN``/``VAL``/``TEST``); grayscale photos are
repeated to three channels. Examples are whole ``(lr, hr)`` pairs (see ``kerascv_apps.data.sources.sr_common``);
training crops, flips and rotations come from :class:`SRAugment`.
"""

import numpy as np

from kerascv_apps.data.sources.sr_common import check_scale, from_images
from kerascv_apps.data.sources.base import DataError, DatasetSplits, register_source

# Held-out photos never appear in training. "motorcycle_left" is stereo_motorcycle()[0].
TRAIN = ("astronaut", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
         "motorcycle_left", "brick", "grass", "gravel", "moon", "clock", "page", "cell", "text")
VAL = ("coins", "colorwheel")
TEST = ("chelsea", "coffee", "camera")
# Real photos outside the embedded set, shipped with scikit-learn and matplotlib (on disk, no
# download): with TEST they are the held-out benchmark of SR models trained on TRAIN.
OUTSIDE = ("sklearn:china", "sklearn:flower", "matplotlib:grace_hopper")
HELD_OUT = TEST + OUTSIDE


def load_photo(name):
    """One bundled photo as a uint8 array (gray (H, W) or RGB (H, W, 3)): a scikit-image
    name, or ``sklearn:<china|flower>`` / ``matplotlib:grace_hopper`` (files those packages
    install)."""
    import skimage.data

    if name.startswith("sklearn:"):
        from sklearn.datasets import load_sample_image

        return np.asarray(load_sample_image(name.split(":", 1)[1] + ".jpg"))
    if name.startswith("matplotlib:"):
        import matplotlib.cbook
        from PIL import Image

        with matplotlib.cbook.get_sample_data(name.split(":", 1)[1] + ".jpg") as f:
            return np.asarray(Image.open(f).convert("RGB"))
    if name == "motorcycle_left":
        image = skimage.data.stereo_motorcycle()[0]
    elif name == "retina":  # 1411×1411, mostly black border: keep the centre
        image = skimage.data.retina()[256:1156, 256:1156]
    else:
        fn = getattr(skimage.data, name, None)
        if fn is None:
            raise DataError(f"photos: skimage.data has no image {name!r}")
        image = fn()
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise DataError(f"photos: {name!r} is {image.dtype}, expected uint8")
    return image


@register_source("photos", task="super_resolution")
def photos(scale=4, train=TRAIN, val=VAL, test=TEST):
    """scikit-image's bundled photos as (LR, HR) pairs: 14 training, 2 val, 3 held-out test.

    Args:
        scale: downscaling factor of the LR images.
        train, val, test: photo names for each split (defaults: the fixed split above).
    """
    scale = check_scale(scale)
    overlap = set(train) & (set(val) | set(test))
    if overlap:
        raise DataError(f"photos: held-out images also in train: {sorted(overlap)}")
    splits, sizes = {}, {}
    for split, names in (("train", train), ("val", val), ("test", test)):
        splits[split], sizes[split] = from_images([load_photo(n) for n in names], scale)
    return DatasetSplits(name="photos", task="super_resolution", image_shape=(None, None, 3),
                         sizes=sizes, info={"scale": scale, "train_images": list(train),
                                            "val_images": list(val), "test_images": list(test)},
                         **splits)
