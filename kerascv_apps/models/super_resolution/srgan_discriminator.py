"""The SRGAN discriminator (Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution
Using a Generative Adversarial Network", CVPR)."""

import keras
from keras import layers

from kerascv_apps.models.common import image_input, variant_arguments
from kerascv_apps.registry import register_model


def conv_block(x, filters, strides, batch_norm, name):
    """conv3×3 (stride 1 or 2) - BN (optional) - LeakyReLU(0.2)."""
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", name=f"{name}_conv")(x)
    if batch_norm:
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return layers.LeakyReLU(negative_slope=0.2, name=f"{name}_lrelu")(x)


def SRGANDiscriminator(input_shape=(96, 96, 3), stackwise_num_filters=(64, 128, 256, 512),
                       dense_units=1024, output_activation=None, name="srgan_discriminator"):
    """SRGAN discriminator: HR pixels in [0, 255] -> one real/fake score per image.

    Eight 3×3 convs in four stages (``stackwise_num_filters``, 64→512 in the paper), each
    stage a stride-1 then a stride-2 conv; BN after every conv except the first; LeakyReLU
    0.2; Dense 1024, LeakyReLU, Dense 1 (Ledig et al. 2017, Fig. 4). The paper ends with a
    sigmoid; by default the model returns the logit (``output_activation=None``) and the GAN
    loss applies the sigmoid inside a numerically stable cross-entropy (``from_logits``).
    Needs a fixed input size (96×96 HR crops in the paper) because of the dense layer.

    Args:
        input_shape: (height, width, channels) of HR crops (fixed).
        stackwise_num_filters: channels of each stage (two convs per stage).
        dense_units: width of the hidden dense layer.
        output_activation: None (logits) or 'sigmoid' (the paper's probability).
        name: model name.
    """
    if input_shape[0] is None or input_shape[1] is None:
        raise ValueError(f"SRGANDiscriminator needs a fixed input size, got {input_shape!r}")
    inputs, x = image_input(input_shape, "unit", name="hr_image")
    for i, filters in enumerate(stackwise_num_filters):
        x = conv_block(x, filters, 1, batch_norm=i > 0, name=f"stage{i + 1}_a")
        x = conv_block(x, filters, 2, batch_norm=True, name=f"stage{i + 1}_b")
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units, name="dense")(x)
    x = layers.LeakyReLU(negative_slope=0.2, name="dense_lrelu")(x)
    x = layers.Dense(1, name="score_dense")(x)
    outputs = layers.Activation(output_activation or "linear", dtype="float32", name="score")(x)
    return keras.Model(inputs, outputs, name=name)


def _create_srgan_discriminator(variant, arch_args, **kwargs):
    return SRGANDiscriminator(**variant_arguments(variant, arch_args, kwargs))


@register_model(task="super_resolution", family="srgan")
def srgan_discriminator(**kwargs):
    """SRGAN discriminator (Ledig et al. 2017) on 96×96 HR crops, returning logits."""
    return _create_srgan_discriminator(srgan_discriminator, dict(
        input_shape=(96, 96, 3), stackwise_num_filters=(64, 128, 256, 512), dense_units=1024),
        **kwargs)
