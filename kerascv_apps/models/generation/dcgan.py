"""DCGAN (Radford, Metz & Chintala 2015, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks"): generator and discriminator.

The generation task trains them adversarially (``GenerationTask.training_model`` wraps the
generator in :class:`~kerascv_apps.training.gan.DCGAN` with a ``dcgan_discriminator``); the
deployable artifact is the generator, which takes a latent vector.
"""

import keras
from keras import layers

from kerascv_apps.models.common import create_variant
from kerascv_apps.models.generation.common import check_image_shape
from kerascv_apps.registry import register_model


def DCGANGenerator(input_shape=(32, 32, 1), latent_dim=100, base_filters=64, num_upsamplings=3,
                   kernel_size=5, name="dcgan"):
    """z -> project and reshape to (H/2^n, W/2^n, base·2^(n-1)) -> n fractionally-strided
    convolutions (stride 2) -> tanh image, returned as [0, 255] pixels.

    The paper's guidelines: no pooling or fully connected hidden layers (the projection of z
    is one matrix multiply), batch normalization in every layer but the output, ReLU in the
    generator and tanh at the output; weights drawn from N(0, 0.02). The paper's generator
    makes 64x64 images from 4x4x1024; for 32x32 digits three upsamplings from 4x4 are used
    and the widths are ``base_filters`` · (4, 2, 1) (the paper's 1024-512-256-128 scaled).

    Args:
        input_shape: (height, width, channels) of the images it generates (the data's image
            shape; the model's own input is the latent vector of ``latent_dim``).
        latent_dim: size of z (100 in the paper, drawn from a uniform distribution there;
            N(0, I) here, the choice of most later DCGAN code).
        base_filters: width of the last hidden layer.
        num_upsamplings: stride-2 steps (sides must be multiples of ``2 ** n``).
        kernel_size: 5 as in the paper.
    """
    image_shape = check_image_shape(input_shape, num_upsamplings, name)
    init = keras.initializers.RandomNormal(0.0, 0.02)
    h, w = image_shape[0] // 2 ** num_upsamplings, image_shape[1] // 2 ** num_upsamplings
    widths = [base_filters * 2 ** i for i in reversed(range(num_upsamplings - 1))]
    z = keras.Input((latent_dim,), name="latent")
    first = base_filters * 2 ** (num_upsamplings - 1)
    x = layers.Dense(h * w * first, use_bias=False, kernel_initializer=init, name="project")(z)
    x = layers.Reshape((h, w, first), name="project_reshape")(x)
    x = layers.BatchNormalization(name="project_bn")(x)
    x = layers.ReLU(name="project_relu")(x)
    for i, f in enumerate(widths):
        x = layers.Conv2DTranspose(f, kernel_size, strides=2, padding="same", use_bias=False,
                                   kernel_initializer=init, name=f"deconv{i + 1}")(x)
        x = layers.BatchNormalization(name=f"deconv{i + 1}_bn")(x)
        x = layers.ReLU(name=f"deconv{i + 1}_relu")(x)
    x = layers.Conv2DTranspose(image_shape[-1], kernel_size, strides=2, padding="same",
                               activation="tanh", kernel_initializer=init, dtype="float32",
                               name="deconv_out")(x)
    x = layers.Rescaling(127.5, offset=127.5, dtype="float32", name="pixels")(x)
    return keras.Model(z, x, name=name)


def DCGANDiscriminator(input_shape=(32, 32, 1), base_filters=64, num_downsamplings=3,
                       kernel_size=5, name="dcgan_discriminator"):
    """Image ([0, 255] pixels, mapped to [-1, 1]) -> strided convolutions (stride 2, widths
    ``base_filters`` · (1, 2, 4, ...)) with LeakyReLU(0.2), batch normalization on all but
    the first -> flatten -> one logit (D(x) = sigmoid(logit)), as in the paper."""
    image_shape = check_image_shape(input_shape, num_downsamplings, name)
    init = keras.initializers.RandomNormal(0.0, 0.02)
    image = keras.Input(image_shape, name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(image)
    for i in range(num_downsamplings):
        x = layers.Conv2D(base_filters * 2 ** i, kernel_size, strides=2, padding="same",
                          use_bias=i == 0, kernel_initializer=init, name=f"conv{i + 1}")(x)
        if i:
            x = layers.BatchNormalization(name=f"conv{i + 1}_bn")(x)
        x = layers.LeakyReLU(0.2, name=f"conv{i + 1}_lrelu")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(1, kernel_initializer=init, dtype="float32", name="logit")(x)
    return keras.Model(image, x, name=name)


def _create_generator(variant, arch_args, /, **kwargs):
    return create_variant(DCGANGenerator, variant, arch_args, kwargs)


def _create_discriminator(variant, arch_args, /, **kwargs):
    return create_variant(DCGANDiscriminator, variant, arch_args, kwargs)


@register_model(task="generation", family="dcgan")
def dcgan(**kwargs):
    """DCGAN generator (Radford et al. 2015): latent vector -> image."""
    return _create_generator(dcgan, {}, **kwargs)


@register_model(task="generation", family="dcgan")
def dcgan_discriminator(**kwargs):
    """DCGAN discriminator: image -> real/fake logit."""
    return _create_discriminator(dcgan_discriminator, {}, **kwargs)
