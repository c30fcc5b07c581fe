"""Adversarial training: a generator + discriminator pair with two optimizers in one custom
``train_step`` (XLA-compatible: ``compile(jit_compile=True)``). :class:`AdversarialPair` is
the glue both share (two optimizers from one ``compile``, loss trackers, serialization);
:class:`SRGAN` is SRGAN's adversarial phase (Ledig et al. 2017), :class:`DCGAN` the GAN
objective on images from latent vectors (Goodfellow et al. 2014; Radford et al. 2015).

Phase 1 is plain training of the generator with a pixel loss (``PixelLoss("mse")``); phase 2
wraps that generator in :class:`SRGAN` (``SuperResolutionTask(adversarial=True)`` does it
inside ``experiment.train_model``) and fits on (LR, HR) crops with SRGAN's own train step.
``SRGAN`` is registered and serializable (``.keras`` checkpoints reload with
``safe_mode=True``; the VGG content loss is rebuilt from its weights path, not stored). The
deployable artifact is ``gan.generator``.
"""

import keras
import tensorflow as tf
from keras import ops

from kerascv_apps.losses.super_resolution import (ADVERSARIAL_WEIGHT, PixelLoss, VGGContentLoss,
                                                  adversarial_losses)
from kerascv_apps.metrics.super_resolution import psnr_metric


class AdversarialPair(keras.Model):
    """A generator and a discriminator trained together (subclasses write ``train_step``).

    ``compile`` takes two optimizers (or one, copied for the discriminator); the losses are
    the subclass's, reported through ``self._trackers`` (``names``). The deployable model is
    ``generator``.
    """

    names = ("loss", "d_loss")

    def __init__(self, generator, discriminator, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self._trackers = {n: keras.metrics.Mean(name=n) for n in self.names}
        self.built = True  # both sub-models are built functional models

    def build(self, input_shape=None):
        self.built = True

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    @property
    def metrics(self):
        return list(self._trackers.values())

    def compile(self, generator_optimizer=None, discriminator_optimizer=None, optimizer="adam",
                loss=None, metrics=None, loss_weights=None, **kwargs):
        """Two optimizers (instances or names). Called like any model's ``compile`` (what the
        generic trainer does), ``optimizer`` serves the generator and a copy of it (same
        configuration and schedule, own state) the discriminator; ``loss``/``metrics`` are
        ignored: the losses are the pair's and the metrics its trackers."""
        super().compile(**kwargs)
        optimizer = keras.optimizers.get(optimizer)
        self.generator_optimizer = keras.optimizers.get(generator_optimizer or optimizer)
        if discriminator_optimizer is None:
            discriminator_optimizer = optimizer.__class__.from_config(optimizer.get_config())
        self.discriminator_optimizer = keras.optimizers.get(discriminator_optimizer)
        self.generator_optimizer.build(self.generator.trainable_variables)
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    def _apply(self, g_tape, g_loss, d_tape, d_loss):
        g_vars = self.generator.trainable_variables
        d_vars = self.discriminator.trainable_variables
        self.generator_optimizer.apply_gradients(zip(g_tape.gradient(g_loss, g_vars), g_vars))
        self.discriminator_optimizer.apply_gradients(zip(d_tape.gradient(d_loss, d_vars), d_vars))

    def _update(self, values):
        for name, value in values.items():
            self._trackers[name].update_state(value)
        return {name: self._trackers[name].result() for name in values}

    def get_config(self):
        return {
            "name": self.name,
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["generator"] = keras.saving.deserialize_keras_object(config["generator"])
        config["discriminator"] = keras.saving.deserialize_keras_object(config["discriminator"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="kerascv_apps")
class SRGAN(AdversarialPair):
    """Generator + discriminator trained adversarially.

    Generator loss = content + ``adversarial_weight`` · (−log D(G(LR))) (+ ``pixel_weight`` ·
    MSE); content is the VGG19 feature MSE (``content_loss``) or, without one, the pixel MSE.
    Discriminator loss = −log D(HR) − log(1 − D(G(LR))).

    Args:
        generator: LR -> HR model ([0, 255] pixels both sides).
        discriminator: HR crop -> logit.
        content_loss: a :class:`VGGContentLoss`, a dict of its arguments, or None.
        adversarial_weight: 1e-3 in the paper.
        pixel_weight: optional extra pixel MSE weight (0 in the paper).
    """

    names = ("loss", "d_loss", "content_loss", "adversarial_loss", "psnr")

    def __init__(self, generator, discriminator, content_loss=None,
                 adversarial_weight=ADVERSARIAL_WEIGHT, pixel_weight=0.0, **kwargs):
        super().__init__(generator, discriminator, **kwargs)
        if isinstance(content_loss, dict):
            content_loss = VGGContentLoss(**content_loss)
        self._content = content_loss  # plain object: VGG weights are not part of this model
        self.adversarial_weight = float(adversarial_weight)
        self.pixel_weight = float(pixel_weight)
        self._pixel = PixelLoss("mse")

    def _content_loss(self, hr, sr):
        if self._content is None:
            return ops.mean(self._pixel(hr, sr))
        return self._content(hr, sr)

    def train_step(self, data):
        lr, hr = data[0], data[1]
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            sr = self.generator(lr, training=True)
            real = self.discriminator(hr, training=True)
            fake = self.discriminator(sr, training=True)
            d_loss, adv = adversarial_losses(real, fake)
            content = self._content_loss(hr, sr)
            g_loss = content + self.adversarial_weight * adv
            if self.pixel_weight:
                g_loss = g_loss + self.pixel_weight * ops.mean(self._pixel(hr, sr))
        self._apply(g_tape, g_loss, d_tape, d_loss)
        return self._update({"loss": g_loss, "d_loss": d_loss, "content_loss": content,
                             "adversarial_loss": adv, "psnr": ops.mean(psnr_metric(hr, sr))})

    def test_step(self, data):
        lr, hr = data[0], data[1]
        sr = self.generator(lr, training=False)
        content = self._content_loss(hr, sr)
        for name in ("loss", "content_loss"):
            self._trackers[name].update_state(content)
        self._trackers["psnr"].update_state(ops.mean(psnr_metric(hr, sr)))
        return {n: self._trackers[n].result() for n in ("loss", "content_loss", "psnr")}

    def get_config(self):
        return {
            **super().get_config(),
            "content_loss": None if self._content is None else self._content.get_config(),
            "adversarial_weight": self.adversarial_weight,
            "pixel_weight": self.pixel_weight,
        }


@keras.saving.register_keras_serializable(package="kerascv_apps")
class DCGAN(AdversarialPair):
    """The GAN objective on images (Goodfellow et al. 2014) with DCGAN's networks (Radford
    et al. 2015): min_G max_D E[log D(x)] + E[log(1 - D(G(z)))], z ~ N(0, I).

    Each step draws a batch of z, takes one Adam step of D on ``d_loss`` = -log D(x) -
    log(1 - D(G(z))) and one of G on the ``generator_loss`` (``"non_saturating"``: -log
    D(G(z)), the default, what DCGAN trained with; ``"minimax"``: log(1 - D(G(z))), the
    objective as written; see ``losses.generation.gan_losses``). Batches are ``(image,
    anything)``; the label is not used. The paper's optimizer is Adam with learning rate
    2e-4 (the recipe passes it) and beta_1 = 0.5: an Adam optimizer given to ``compile``
    gets ``adam_beta_1`` (0.5; None keeps the optimizer's own).

    Args:
        generator: latent vector -> image ([0, 255] pixels).
        discriminator: image -> logit.
        generator_loss: ``"non_saturating"`` or ``"minimax"``.
        seed: seed of the latent draws.
    """

    names = ("loss", "d_loss", "d_real", "d_fake")

    def __init__(self, generator, discriminator, generator_loss="non_saturating", seed=None,
                 adam_beta_1=0.5, **kwargs):
        from kerascv_apps.losses.generation import GENERATOR_LOSSES

        if generator_loss not in GENERATOR_LOSSES:
            raise ValueError(f"generator_loss must be one of {GENERATOR_LOSSES}, got "
                             f"{generator_loss!r}")
        super().__init__(generator, discriminator, **kwargs)
        self.generator_loss = generator_loss
        self.seed = seed
        self.adam_beta_1 = None if adam_beta_1 is None else float(adam_beta_1)
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.seed_generator = keras.random.SeedGenerator(seed)

    def compile(self, generator_optimizer=None, discriminator_optimizer=None, optimizer="adam",
                **kwargs):
        """``AdversarialPair.compile`` with DCGAN's Adam beta_1 (``adam_beta_1``)."""
        def paper_adam(opt):
            opt = keras.optimizers.get(opt) if opt is not None else None
            if self.adam_beta_1 is None or not isinstance(opt, keras.optimizers.Adam):
                return opt
            config = opt.get_config()
            config["beta_1"] = self.adam_beta_1
            return opt.__class__.from_config(config)

        super().compile(paper_adam(generator_optimizer), paper_adam(discriminator_optimizer),
                        paper_adam(optimizer), **kwargs)

    def _latents(self, images):
        return keras.random.normal((ops.shape(images)[0], self.latent_dim),
                                   seed=self.seed_generator)

    def _gan_terms(self, images, training):
        from kerascv_apps.losses.generation import gan_losses

        fake_images = self.generator(self._latents(images), training=training)
        real = self.discriminator(images, training=training)
        fake = self.discriminator(fake_images, training=training)
        d_loss, g_loss = gan_losses(real, fake, self.generator_loss)
        probs = {"d_real": ops.mean(ops.sigmoid(ops.cast(real, "float32"))),
                 "d_fake": ops.mean(ops.sigmoid(ops.cast(fake, "float32")))}
        return g_loss, d_loss, probs

    def train_step(self, data):
        images = data[0] if isinstance(data, (list, tuple)) else data
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            g_loss, d_loss, probs = self._gan_terms(images, True)
        self._apply(g_tape, g_loss, d_tape, d_loss)
        return self._update({"loss": g_loss, "d_loss": d_loss, **probs})

    def test_step(self, data):
        images = data[0] if isinstance(data, (list, tuple)) else data
        g_loss, d_loss, probs = self._gan_terms(images, False)
        return self._update({"loss": g_loss, "d_loss": d_loss, **probs})

    def get_config(self):
        return {**super().get_config(), "generator_loss": self.generator_loss, "seed": self.seed,
                "adam_beta_1": self.adam_beta_1}
