"""Layers of the generative models: the VAE's reparameterization (with its KL term)."""

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="kerascv_apps")
class Reparameterize(layers.Layer):
    """The VAE's reparameterization trick (Kingma & Welling 2013, section 2.4):
    ``z = mu + exp(log_var / 2) * eps``, ``eps ~ N(0, I)``, on inputs ``[mu, log_var]``.

    It also adds the regularisation term of the loss, ``kl_weight`` times the KL divergence
    of the posterior from the prior N(0, I), summed over the latent dimensions and averaged
    over the batch (the paper's eq. 10 with Gaussian encoder)::

        KL = -1/2 * sum_j (1 + log_var_j - mu_j^2 - exp(log_var_j))

    ``kl_weight`` = 1 is the paper's ELBO; other values are the beta-VAE weighting (Higgins
    et al. 2017), a named deviation.

    Args:
        kl_weight: weight of the KL term added with ``add_loss``.
        sample_in_inference: the paper samples ``z`` at every pass; by default this layer does
            so in training only and returns ``mu`` at inference (``training=False``), so that
            reconstructions and embeddings are deterministic (a documented deviation).
        seed: seed of the layer's ``SeedGenerator``.
        kl_warmup_steps: KL warm-up (Bowman et al. 2016; Sonderby et al. 2016, a training
            schedule, not in Kingma & Welling): the KL term's weight rises linearly from 0 to
            ``kl_weight`` over this many training steps (counted by the layer in a
            non-trainable ``kl_step`` variable, saved with the model), then stays at
            ``kl_weight``: the loss is the paper's negative ELBO from then on. 0 (default):
            no warm-up, no extra variable.
    """

    def __init__(self, kl_weight=1.0, sample_in_inference=False, seed=None,
                 kl_warmup_steps=0, **kwargs):
        super().__init__(**kwargs)
        self.kl_weight = float(kl_weight)
        self.sample_in_inference = bool(sample_in_inference)
        self.seed = seed
        self.kl_warmup_steps = int(kl_warmup_steps)
        if self.kl_warmup_steps < 0:
            raise ValueError(f"kl_warmup_steps must be >= 0, got {kl_warmup_steps}")
        self.seed_generator = keras.random.SeedGenerator(seed)
        if self.kl_warmup_steps:
            self.kl_step = self.add_weight(shape=(), initializer="zeros", dtype="float32",
                                           trainable=False, name="kl_step")

    def kl_scale(self, training=None):
        """The KL term's current weight (``kl_weight`` after the warm-up)."""
        if not self.kl_warmup_steps:
            return self.kl_weight
        ramp = ops.minimum(ops.convert_to_tensor(self.kl_step) / self.kl_warmup_steps, 1.0)
        return self.kl_weight * ramp

    def call(self, inputs, training=None):
        mu, log_var = inputs
        mu = ops.cast(mu, "float32")
        log_var = ops.cast(log_var, "float32")
        kl = -0.5 * ops.sum(1.0 + log_var - ops.square(mu) - ops.exp(log_var), axis=-1)
        if self.kl_weight:
            self.add_loss(self.kl_scale() * ops.mean(kl))
            if self.kl_warmup_steps and training:
                self.kl_step.assign(ops.minimum(self.kl_step + 1.0,
                                                float(self.kl_warmup_steps)))
        if not (training or self.sample_in_inference):
            return mu
        eps = keras.random.normal(ops.shape(mu), seed=self.seed_generator)
        return mu + ops.exp(0.5 * log_var) * eps

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config.update(kl_weight=self.kl_weight, sample_in_inference=self.sample_in_inference,
                      seed=self.seed, kl_warmup_steps=self.kl_warmup_steps)
        return config


def kl_divergence(mu, log_var):
    """Per-example KL(q(z|x) || N(0, I)) of diagonal Gaussians (numpy or tensors)."""
    return -0.5 * ops.sum(1.0 + log_var - ops.square(mu) - ops.exp(log_var), axis=-1)
