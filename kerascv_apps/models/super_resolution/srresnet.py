"""SRResNet, the SRGAN generator (Ledig et al. 2017, "Photo-Realistic Single Image
Super-Resolution Using a Generative Adversarial Network", CVPR)."""

import math

import keras
from keras import layers

from kerascv_apps.layers.pixel_shuffle import PixelShuffle
from kerascv_apps.models.common import image_input, variant_arguments
from kerascv_apps.registry import register_model


def upsampling_steps(scale):
    """The sub-pixel steps for ``scale``: ×2 steps for powers of two, one ×3 step for 3."""
    scale = int(scale)
    if scale == 3:
        return [3]
    if scale >= 2 and scale & (scale - 1) == 0:
        return [2] * int(math.log2(scale))
    raise ValueError(f"scale must be 2, 3, 4 or 8, got {scale!r}")


def nearest_anchor(x, scale, name="anchor"):
    """Nearest-neighbour ×scale upsampling built from concat + depth-to-space (TFLite builtins)."""
    x = layers.Concatenate(axis=-1, name=f"{name}_repeat")([x] * (scale * scale))
    return PixelShuffle(scale, name=f"{name}_shuffle")(x)


def residual_block(x, filters, batch_norm, name):
    """conv3x3 - BN - PReLU - conv3x3 - BN, plus the identity (the paper's B blocks)."""
    shortcut = x
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv1")(x)
    if batch_norm:
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn1")(x)
    x = layers.PReLU(shared_axes=[1, 2], name=f"{name}_prelu")(x)
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv2")(x)
    if batch_norm:
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn2")(x)
    return layers.Add(name=f"{name}_add")([shortcut, x])


def subpixel_block(x, filters, factor, name):
    """conv3x3 (filters * factor²) - depth-to-space (×factor) - PReLU."""
    x = layers.Conv2D(filters * factor * factor, 3, padding="same", name=f"{name}_conv")(x)
    x = PixelShuffle(factor, name=f"{name}_shuffle")(x)
    return layers.PReLU(shared_axes=[1, 2], name=f"{name}_prelu")(x)


def SRResNet(input_shape=(None, None, 3), scale=4, filters=64, num_blocks=16, batch_norm=True,
             anchor_skip=False, name=None):
    """SRResNet generator: LR pixels in [0, 255] -> HR pixels in [0, 255].

    9×9 conv + PReLU; ``num_blocks`` residual blocks (3×3 conv, BN, PReLU, 3×3 conv, BN, add);
    3×3 conv + BN + long skip; one sub-pixel block per ×2 (conv to 4·filters, depth-to-space,
    PReLU); 9×9 conv to 3 channels (Ledig et al. 2017, Fig. 4). Fully convolutional: with
    ``input_shape=(None, None, 3)`` it upscales any input size. The LR input is scaled to
    [0, 1] inside; the last conv predicts HR in [0, 1] and a float32 ``Rescaling(255)`` maps it
    to pixels (the paper's tanh output in [-1, 1] is replaced by this linear output so PSNR
    pretraining with MSE is not squashed at the range ends). With the defaults (×4, 16 blocks)
    the model has 1,554,883 parameters.

    Args:
        input_shape: (height, width, channels) of the LR input; ``None`` sizes stay dynamic.
        scale: upscaling factor: 2, 3, 4 or 8.
        filters: feature channels of the trunk (64 in the paper).
        num_blocks: residual blocks (16 in the paper).
        batch_norm: BN inside the blocks (the paper's choice; EDSR later removed it).
        anchor_skip: add nearest-neighbour upsampling of the input to the output (input
            repeated scale² times along channels + depth-to-space, as in Du et al. 2021,
            "Anchor-based Plain Net for Mobile Image Super-Resolution"), so the network learns
            a residual; converges far faster on a small budget. Off by default (the paper).
        name: model name (default ``srresnet_x{scale}``).
    """
    steps = upsampling_steps(scale)
    if int(num_blocks) < 1 or int(filters) < 1:
        raise ValueError(f"num_blocks and filters must be positive, got {num_blocks}, {filters}")
    inputs, x = image_input(input_shape, "unit", name="lr_image")
    lr = x
    x = layers.Conv2D(filters, 9, padding="same", name="stem_conv")(x)
    x = stem = layers.PReLU(shared_axes=[1, 2], name="stem_prelu")(x)
    for i in range(int(num_blocks)):
        x = residual_block(x, filters, batch_norm, name=f"block{i + 1}")
    x = layers.Conv2D(filters, 3, padding="same", name="trunk_conv")(x)
    if batch_norm:
        x = layers.BatchNormalization(momentum=0.9, name="trunk_bn")(x)
    x = layers.Add(name="long_skip")([stem, x])
    for i, factor in enumerate(steps):
        x = subpixel_block(x, filters, factor, name=f"upsample{i + 1}")
    x = layers.Conv2D(input_shape[-1], 9, padding="same", name="output_conv")(x)
    if anchor_skip:
        x = layers.Add(name="anchor_add")([x, nearest_anchor(lr, scale)])
    outputs = layers.Rescaling(255.0, dtype="float32", name="hr_image")(x)
    return keras.Model(inputs, outputs, name=name or f"srresnet_x{scale}")


def _create_srresnet(variant, arch_args, /, **kwargs):
    return SRResNet(**variant_arguments(variant, arch_args, kwargs))


@register_model(task="super_resolution", family="srresnet", info={"scale": 2})
def srresnet_x2(**kwargs):
    """SRResNet ×2 (Ledig et al. 2017), 16 residual blocks, any input size."""
    return _create_srresnet(srresnet_x2, dict(scale=2, filters=64, num_blocks=16), **kwargs)


@register_model(task="super_resolution", family="srresnet", info={"scale": 4})
def srresnet_x4(**kwargs):
    """SRResNet ×4 (Ledig et al. 2017), 16 residual blocks, any input size."""
    return _create_srresnet(srresnet_x4, dict(scale=4, filters=64, num_blocks=16), **kwargs)
