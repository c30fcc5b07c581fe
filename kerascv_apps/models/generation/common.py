"""Pieces the generation families share: image <-> code convolution stacks and the parts
(encoder, decoder/generator) a task, ``embed`` and ``sample`` find by name."""

import keras
from keras import layers

ENCODER = "encoder"
DECODER = "decoder"
BOTTLENECK = "bottleneck"


def check_image_shape(input_shape, steps, model):
    """(height, width, channels) whose sides are multiples of ``2 ** steps``."""
    if input_shape is None or len(input_shape) != 3 or any(d is None for d in input_shape):
        raise ValueError(f"{model}: input_shape must be a static (height, width, channels), "
                         f"got {input_shape!r}")
    factor = 2 ** steps
    if input_shape[0] % factor or input_shape[1] % factor:
        raise ValueError(f"{model}: input_shape {tuple(input_shape)} must have height and "
                         f"width divisible by {factor} ({steps} stride-2 steps)")
    return tuple(int(d) for d in input_shape)


def conv_down(x, filters, prefix, kernel_size=3, activation="relu"):
    """Stride-2 convolutions, one per entry of ``filters``."""
    for i, f in enumerate(filters):
        x = layers.Conv2D(f, kernel_size, strides=2, padding="same", activation=activation,
                          name=f"{prefix}_conv{i + 1}")(x)
    return x


def conv_up_decoder(latent_dim, image_shape, filters, name, kernel_size=3,
                    activation="relu"):
    """A decoder model: latent -> dense -> (h, w, filters[-1]) -> stride-2 transposed convs
    (``filters`` reversed) -> sigmoid image scaled to [0, 255] pixels (layer ``pixels``)."""
    steps = len(filters)
    h, w = image_shape[0] // 2 ** steps, image_shape[1] // 2 ** steps
    z = keras.Input((latent_dim,), name="latent")
    x = layers.Dense(h * w * filters[-1], activation=activation, name="dec_dense")(z)
    x = layers.Reshape((h, w, filters[-1]), name="dec_reshape")(x)
    for i, f in enumerate(reversed(filters)):
        x = layers.Conv2DTranspose(f, kernel_size, strides=2, padding="same",
                                   activation=activation, name=f"dec_deconv{i + 1}")(x)
    x = layers.Conv2D(image_shape[-1], kernel_size, padding="same", activation="sigmoid",
                      dtype="float32", name="dec_out")(x)
    x = layers.Rescaling(255.0, dtype="float32", name="pixels")(x)
    return keras.Model(z, x, name=name)


def model_parts(model):
    """``{"encoder": model or None, "decoder": model or None}`` of a generation model: an
    autoencoder / VAE holds both as nested models; a generator (DCGAN's G) is its own decoder
    (its input is the latent vector)."""
    names = {layer.name for layer in model.layers}
    encoder = model.get_layer(ENCODER) if ENCODER in names else None
    decoder = model.get_layer(DECODER) if DECODER in names else None
    if decoder is None and len(model.inputs[0].shape) == 2:
        decoder = model
    return {"encoder": encoder, "decoder": decoder}


def latent_dim(model):
    """The latent size of a generation model's decoder/generator (None: no decoder)."""
    decoder = model_parts(model)["decoder"]
    return None if decoder is None else int(decoder.inputs[0].shape[-1])
