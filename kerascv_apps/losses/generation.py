"""Losses of the generative models: the VAE's reconstruction term and the GAN objective.

Images are [0, 255] pixels (the package's convention); the VAE's decoder outputs Bernoulli
means times 255, so targets and predictions are divided by 255 before the log-likelihood.
"""

import keras
from keras import ops

from kerascv_apps.losses.super_resolution import adversarial_losses

GENERATOR_LOSSES = ("non_saturating", "minimax")
EPSILON = 1e-6


@keras.saving.register_keras_serializable(package="kerascv_apps")
class BernoulliReconstructionLoss(keras.losses.Loss):
    """``weight`` times the negative Bernoulli log-likelihood of the image, summed over pixels
    (Kingma & Welling 2013, appendix C.1, the decoder used for MNIST): per example

        -sum_i [x_i log p_i + (1 - x_i) log(1 - p_i)],  x = target / 255, p = output / 255

    (``p`` clipped to [1e-6, 1 - 1e-6]). With the ``Reparameterize`` layer's KL term (weight
    1) the training loss is the negative ELBO per example.
    """

    def __init__(self, weight=1.0, name="bernoulli_reconstruction", **kwargs):
        super().__init__(name=name, **kwargs)
        self.weight = float(weight)

    def call(self, y_true, y_pred):
        x = ops.cast(y_true, "float32") / 255.0
        p = ops.clip(ops.cast(y_pred, "float32") / 255.0, EPSILON, 1.0 - EPSILON)
        nll = -(x * ops.log(p) + (1.0 - x) * ops.log(1.0 - p))
        return self.weight * ops.sum(ops.reshape(nll, (ops.shape(nll)[0], -1)), axis=-1)

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}


def gan_losses(real_logits, fake_logits, generator_loss="non_saturating"):
    """``(d_loss, g_loss)`` of the GAN objective (Goodfellow et al. 2014), from logits.

    The discriminator maximizes E[log D(x)] + E[log(1 - D(G(z)))], i.e. minimizes
    ``d_loss`` = -log D(x) - log(1 - D(G(z))). The generator minimizes

    - ``"minimax"``: E[log(1 - D(G(z)))], the objective as written (its gradient vanishes
      while D rejects the samples confidently, early in training);
    - ``"non_saturating"``: -E[log D(G(z))], the same fixed point with strong gradients early
      on (Goodfellow et al. 2014, section 3; what DCGAN trained with).
    """
    if generator_loss not in GENERATOR_LOSSES:
        raise ValueError(f"generator_loss must be one of {GENERATOR_LOSSES}, got "
                         f"{generator_loss!r}")
    d_loss, non_saturating = adversarial_losses(real_logits, fake_logits)
    if generator_loss == "non_saturating":
        return d_loss, non_saturating
    fake = ops.cast(fake_logits, "float32")
    # log(1 - sigmoid(l)) = -softplus(l)
    return d_loss, ops.mean(-ops.softplus(fake))
