"""DIV2K (Agustsson & Timofte 2017) through tensorflow_datasets; LR made here by bicubic
downscaling of the HR images (the same degradation as the other SR sources)."""

from kerascv_apps.data.sources.sr_common import check_scale, to_pair
from kerascv_apps.data.sources.base import DataError, DatasetSplits, register_source


@register_source("div2k", task="super_resolution")
def div2k(scale=4, data_dir=None, val_images=10, download=False):
    """DIV2K from tfds (``div2k/bicubic_x{scale}``): train = the 800 training images,
    val = the first ``val_images`` validation images, test = the other validation images.

    Nothing is downloaded unless ``download=True``: prepare the dataset once with
    ``tfds build div2k --data_dir ...`` (or pass ``download=True`` on a machine with internet).

    Args:
        scale: 2, 3, 4 or 8.
        data_dir: tfds data directory.
        val_images: how many validation images form the val split.
        download: let tfds download and prepare the data.
    """
    import tensorflow_datasets as tfds

    scale = check_scale(scale)
    if scale not in (2, 3, 4, 8):
        raise DataError(f"div2k: scale must be 2, 3, 4 or 8, got {scale}")
    config = f"div2k/bicubic_x{scale}"
    try:
        builder = tfds.builder(config, data_dir=data_dir)
        if download:
            builder.download_and_prepare()
        ds = {split: builder.as_dataset(split=s) for split, s in (
            ("train", "train"), ("val", f"validation[:{val_images}]"),
            ("test", f"validation[{val_images}:]"))}
    except Exception as e:  # tfds raises assorted types for missing data
        raise DataError(f"div2k: could not load {config!r} from data_dir={data_dir!r} "
                        f"(prepare it with `tfds build {config}` or download=True): {e}") from e
    splits = {k: v.map(lambda ex: to_pair(ex["hr"], scale)) for k, v in ds.items()}
    return DatasetSplits(name="div2k", task="super_resolution", image_shape=(None, None, 3),
                         info={"scale": scale, "config": config}, **splits)
