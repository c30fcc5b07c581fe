"""Variational autoencoder (Kingma & Welling 2013, "Auto-Encoding Variational Bayes")."""

import keras
from keras import layers

from kerascv_apps.layers.generation import Reparameterize
from kerascv_apps.models.common import create_variant, image_input
from kerascv_apps.models.generation.common import (DECODER, ENCODER, check_image_shape,
                                                   conv_down, conv_up_decoder)
from kerascv_apps.registry import register_model


def VAE(input_shape=(32, 32, 1), latent_dim=16, filters=(32, 64), hidden_units=256,
        kl_weight=1.0, kl_warmup_steps=0, name="vae"):
    """Convolutional encoder -> (``z_mean``, ``z_log_var``) -> reparameterization -> decoder.

    The encoder q(z|x) is a diagonal Gaussian: stride-2 3x3 convolutions (``filters``), a
    dense layer (``hidden_units``), then two linear heads, ``z_mean`` = mu and ``z_log_var`` =
    log sigma^2. ``Reparameterize`` draws z = mu + sigma * eps in training (mu at inference)
    and adds the KL term. The decoder p(x|z) is Bernoulli per pixel: a dense layer,
    transposed convolutions and a sigmoid, output times 255 (pixels).

    Loss (the generation task compiles it; per example, averaged over the batch)::

        loss = 1.0 * sum_pixels BCE(x / 255, x_hat / 255)              (reconstruction)
             + kl_weight * -1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)   (KL)

    With ``kl_weight`` = 1 (the default, the paper) the loss is the negative ELBO, whose
    test-set value the task reports. The paper's encoder and decoder are MLPs with one hidden
    layer; convolutions here (the lecture's convolutional VAE).

    Args:
        input_shape: image (height, width, channels), sides multiples of ``2 ** len(filters)``.
        latent_dim: size of z (2 gives the lecture's 2-D latent map directly).
        filters: encoder conv widths; the decoder mirrors them.
        hidden_units: the encoder's dense layer before the heads (0: none).
        kl_weight: weight of the KL term (1 = ELBO; other values are a beta-VAE).
        kl_warmup_steps: KL warm-up, training steps over which the KL weight rises from 0 to
            ``kl_weight`` (``Reparameterize``; a training schedule, 0 = none, the paper).
    """
    image_shape = check_image_shape(input_shape, len(filters), name)
    inputs, x = image_input(image_shape, "unit")
    x = conv_down(x, filters, "enc")
    x = layers.Flatten(name="enc_flatten")(x)
    if hidden_units:
        x = layers.Dense(hidden_units, activation="relu", name="enc_dense")(x)
    mu = layers.Dense(latent_dim, dtype="float32", name="z_mean")(x)
    log_var = layers.Dense(latent_dim, dtype="float32", name="z_log_var")(x)
    encoder = keras.Model(inputs, [mu, log_var], name=ENCODER)
    decoder = conv_up_decoder(latent_dim, image_shape, filters, DECODER)
    image = keras.Input(image_shape, name="image")
    z_mean, z_log_var = encoder(image)
    z = Reparameterize(kl_weight, kl_warmup_steps=kl_warmup_steps,
                       name="reparameterize")([z_mean, z_log_var])
    return keras.Model(image, decoder(z), name=name)


def _create_vae(variant, arch_args, /, **kwargs):
    return create_variant(VAE, variant, arch_args, kwargs)


@register_model(task="generation", family="vae")
def vae(**kwargs):
    """Convolutional VAE (Kingma & Welling 2013), 16-d latent, Bernoulli decoder."""
    return _create_vae(vae, {}, **kwargs)
