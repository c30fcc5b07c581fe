"""SRGAN's adversarial phase (Ledig et al. 2017): generator + discriminator with two
optimizers in one custom ``train_step`` (XLA-compatible: ``compile(jit_compile=True)``).

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


@keras.saving.register_keras_serializable(package="kerascv_apps")
class SRGAN(keras.Model):
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

    def __init__(self, generator, discriminator, content_loss=None,
                 adversarial_weight=ADVERSARIAL_WEIGHT, pixel_weight=0.0, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        if isinstance(content_loss, dict):
            content_loss = VGGContentLoss(**content_loss)
        self._content = content_loss  # plain object: VGG weights are not part of this model
        self.adversarial_weight = float(adversarial_weight)
        self.pixel_weight = float(pixel_weight)
        self._pixel = PixelLoss("mse")
        names = ("loss", "d_loss", "content_loss", "adversarial_loss", "psnr")
        self._trackers = {n: keras.metrics.Mean(name=n) for n in names}
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
        ignored: the losses are SRGAN's and the metrics its trackers."""
        super().compile(**kwargs)
        optimizer = keras.optimizers.get(optimizer)
        self.generator_optimizer = keras.optimizers.get(generator_optimizer or optimizer)
        if discriminator_optimizer is None:
            discriminator_optimizer = optimizer.__class__.from_config(optimizer.get_config())
        self.discriminator_optimizer = keras.optimizers.get(discriminator_optimizer)
        self.generator_optimizer.build(self.generator.trainable_variables)
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    def _content_loss(self, hr, sr):
        if self._content is None:
            return ops.mean(self._pixel(hr, sr))
        return self._content(hr, sr)

    def _update(self, values):
        for name, value in values.items():
            self._trackers[name].update_state(value)
        return {name: t.result() for name, t in self._trackers.items()}

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
        g_vars = self.generator.trainable_variables
        d_vars = self.discriminator.trainable_variables
        self.generator_optimizer.apply_gradients(zip(g_tape.gradient(g_loss, g_vars), g_vars))
        self.discriminator_optimizer.apply_gradients(zip(d_tape.gradient(d_loss, d_vars), d_vars))
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
            "name": self.name,
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "content_loss": None if self._content is None else self._content.get_config(),
            "adversarial_weight": self.adversarial_weight,
            "pixel_weight": self.pixel_weight,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["generator"] = keras.saving.deserialize_keras_object(config["generator"])
        config["discriminator"] = keras.saving.deserialize_keras_object(config["discriminator"])
        return cls(**config)
