"""Greedy layer-wise pre-training of LLNet (Lore et al. 2017), the stacked sparse denoising
autoencoder recipe (Vincent et al. 2010; Xie et al. 2012) the paper follows:

1. the first DA layer learns to map degraded patches to clean patches through its hidden
   layer (sigmoid units, tied decoder weights Wᵀ);
2. each following DA layer does the same on the previous hidden codes: codes of degraded
   patches -> codes of clean patches;
3. the decoder of the deep network starts from the transposed encoder weights (the k-th
   decoding layer from the DA that mirrors it), and the whole network is then fine-tuned
   end to end on degraded -> clean (``train_model(..., model=pretrained)``).

Each DA minimizes
``(1/N) Σ_i ½ ||x̂_i − target_i||² + β · Σ_j KL(ρ ‖ ρ̂_j) + (λ/2) · ||W||²_F`` with ρ̂_j the mean activation of hidden unit j over the batch (the sparsity term) and λ the
weight decay: the squared error is summed over the patch's pixels (LLNet's and Xie et al.'s
objective, :func:`half_sum_squared_error`), not averaged over them. With the pixel mean the
reconstruction term was 289/2 times smaller beside the same sparsity term on 17×17 patches;
the pre-trained units then served sparsity rather than reconstruction, and the fine-tuned
LLNet gave the same output (149) for every constant input from 32 to 255 (a bright sky was
restored to gray).
"""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="kerascv_apps")
class TiedDenoisingAutoencoder(keras.layers.Layer):
    """One DA layer for pre-training: ``h = sigmoid(x W + b)``, ``x̂ = sigmoid(h Wᵀ + b')``;
    adds the sparsity and weight-decay terms as layer losses; returns ``x̂``."""

    def __init__(self, units, sparsity_target=0.05, sparsity_weight=0.01, weight_decay=1e-5,
                 **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.sparsity_target = float(sparsity_target)
        self.sparsity_weight = float(sparsity_weight)
        self.weight_decay = float(weight_decay)

    def build(self, input_shape):
        dim = int(input_shape[-1])
        limit = 4.0 * np.sqrt(6.0 / (dim + self.units))  # Glorot range for sigmoid units
        self.kernel = self.add_weight(shape=(dim, self.units), name="kernel",
                                      initializer=keras.initializers.RandomUniform(-limit, limit))
        self.bias = self.add_weight(shape=(self.units,), name="bias", initializer="zeros")
        self.output_bias = self.add_weight(shape=(dim,), name="output_bias", initializer="zeros")

    def encode(self, x):
        return ops.sigmoid(ops.matmul(x, self.kernel) + self.bias)

    def call(self, inputs):
        h = self.encode(inputs)
        rho = self.sparsity_target
        rho_hat = ops.clip(ops.mean(h, axis=0), 1e-6, 1.0 - 1e-6)
        kl = ops.sum(rho * ops.log(rho / rho_hat)
                     + (1.0 - rho) * ops.log((1.0 - rho) / (1.0 - rho_hat)))
        self.add_loss(self.sparsity_weight * kl
                      + 0.5 * self.weight_decay * ops.sum(ops.square(self.kernel)))
        return ops.sigmoid(ops.matmul(h, ops.transpose(self.kernel)) + self.output_bias)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "sparsity_target": self.sparsity_target,
                "sparsity_weight": self.sparsity_weight, "weight_decay": self.weight_decay}


@keras.saving.register_keras_serializable(package="kerascv_apps")
def half_sum_squared_error(y_true, y_pred):
    """½ ||y_pred − y_true||² per example (summed over the last axis): a DA's reconstruction
    term."""
    return 0.5 * ops.sum(ops.square(y_pred - y_true), axis=-1)


def training_patches(splits, task, patch_size, count, seed=0):
    """``(degraded, clean)`` gray patches, (count, patch_size²) float32 in [0, 1]: random
    crops of the training photos degraded on the fly (the task's training augmentation), each
    colour channel one gray patch."""
    from kerascv_apps.data.pipeline import make_pipeline

    aug = task.augmentation("none", splits)
    aug.crop.patch_size = int(patch_size)  # the DA layers see patch-sized crops
    per_batch = 64
    ds = make_pipeline(splits.train, per_batch, training=True, augment=aug, seed=seed,
                       repeat=True)
    degraded, clean = [], []
    total = 0
    for x, y in ds:
        x = np.transpose(np.asarray(x), (0, 3, 1, 2)).reshape(-1, patch_size * patch_size)
        y = np.transpose(np.asarray(y), (0, 3, 1, 2)).reshape(-1, patch_size * patch_size)
        degraded.append(x / 255.0)
        clean.append(y / 255.0)
        total += len(x)
        if total >= count:
            break
    return (np.concatenate(degraded)[:count].astype(np.float32),
            np.concatenate(clean)[:count].astype(np.float32))


def pretrain_llnet(model, degraded, clean, epochs=5, batch_size=128, learning_rate=1e-3,
                   sparsity_target=0.05, sparsity_weight=0.01, weight_decay=1e-5, verbose=0):
    """Greedy layer-wise pre-training of an LLNet built by ``models.restoration.llnet``
    (in place); ``degraded``/``clean``: (n, patch²) patches in [0, 1]. Returns the final
    objective (½ summed squared error + sparsity + weight decay) of each DA layer."""
    from kerascv_apps.models.restoration.llnet import decoder_layer_names, encoder_layer_names

    encoders = [model.get_layer(n) for n in encoder_layer_names(model)]
    decoders = [model.get_layer(n) for n in decoder_layer_names(model)]
    if len(decoders) != len(encoders):
        raise ValueError(f"pretrain_llnet: {model.name!r} has {len(encoders)} encoding and "
                         f"{len(decoders)} decoding layers; expected a mirrored LLNet")
    x, target = np.asarray(degraded, np.float32), np.asarray(clean, np.float32)
    losses = []
    for k, (enc, dec) in enumerate(zip(encoders, reversed(decoders)), start=1):
        kernel, bias = enc.get_weights()
        dim, units = int(np.prod(kernel.shape[:-1])), kernel.shape[-1]
        if x.shape[1] != dim:
            raise ValueError(f"pretrain_llnet: layer {enc.name} takes {dim} inputs, the data "
                             f"gives {x.shape[1]}")
        da = TiedDenoisingAutoencoder(units, sparsity_target, sparsity_weight, weight_decay,
                                      name=f"da{k}")
        inp = keras.Input((dim,))
        net = keras.Model(inp, da(inp))
        net.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=half_sum_squared_error)
        history = net.fit(x, target, batch_size=batch_size, epochs=epochs, shuffle=True,
                          verbose=verbose)
        losses.append(float(history.history["loss"][-1]))
        w, b, b_out = (np.asarray(v) for v in (da.kernel, da.bias, da.output_bias))
        enc.set_weights([w.reshape(kernel.shape), b])
        dec_kernel = dec.get_weights()[0]
        dec.set_weights([w.T.reshape(dec_kernel.shape), b_out])
        encode = lambda v: 1.0 / (1.0 + np.exp(-(v @ w + b)))  # noqa: E731
        x, target = encode(x).astype(np.float32), encode(target).astype(np.float32)
    return losses
