"""Super-resolution losses: pixel losses (MSE, L1), the VGG19 content loss and the
adversarial loss of SRGAN (Ledig et al. 2017). Images are pixel values in [0, 255]."""

import os

import keras
from keras import ops

VGG_MEAN_BGR = (103.939, 116.779, 123.68)  # the caffe-style VGG preprocessing
CONTENT_LAYERS = ("block5_conv4", "block2_conv2")  # "VGG54" (the paper's choice), "VGG22"
VGG_FEATURE_SCALE = 1.0 / 12.75  # Ledig et al.: features rescaled so the loss matches MSE's scale
ADVERSARIAL_WEIGHT = 1e-3

NO_WEIGHTS_MESSAGE = (
    "The VGG19 content loss needs ImageNet VGG19 weights from a local file, and none was given "
    "(nothing is downloaded at run time). Provide vgg_weights=<path>: either Keras' "
    "'vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5', or a file written on a machine with "
    "internet access from keras.applications.VGG19 with its ImageNet weights and "
    "include_top=False, saved with .save_weights('vgg19_notop.weights.h5'). Pass "
    "allow_random_features=True to use "
    "randomly initialized VGG19 features instead (tests only: not a perceptual loss).")


# ITU-R BT.601 luma weights of [0, 255] RGB (the Y that PSNR-Y is computed on, without its +16)
LUMA_WEIGHTS = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)


@keras.saving.register_keras_serializable(package="kerascv_apps")
class PixelLoss(keras.losses.Loss):
    """Mean squared (``"mse"``) or absolute (``"l1"``) error on pixels scaled to [0, 1].

    Targets and predictions are [0, 255] pixels; dividing by 255 keeps the loss (and the
    GAN's content + 1e-3·adversarial sum) on the scale the paper used. ``channel="y"``
    compares the BT.601 luma of the RGB images only (the channel PSNR-Y scores; ESPCN's paper
    trains with MSE on Y): chroma errors cost nothing.
    """

    def __init__(self, kind="mse", channel="rgb", name=None, **kwargs):
        if kind not in ("mse", "l1"):
            raise ValueError(f"PixelLoss: kind must be 'mse' or 'l1', got {kind!r}")
        if channel not in ("rgb", "y"):
            raise ValueError(f"PixelLoss: channel must be 'rgb' or 'y', got {channel!r}")
        suffix = "" if channel == "rgb" else "_y"
        super().__init__(name=name or f"pixel_{kind}{suffix}", **kwargs)
        self.kind = kind
        self.channel = channel

    def call(self, y_true, y_pred):
        diff = (ops.cast(y_pred, "float32") - ops.cast(y_true, "float32")) / 255.0
        if self.channel == "y":
            weights = ops.convert_to_tensor(LUMA_WEIGHTS, dtype="float32")
            diff = ops.sum(diff * weights, axis=-1, keepdims=True)
        per_pixel = ops.square(diff) if self.kind == "mse" else ops.abs(diff)
        return ops.mean(per_pixel, axis=(1, 2, 3))

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "channel": self.channel}


def vgg_preprocess(images):
    """[0, 255] RGB -> VGG's input: BGR with the ImageNet channel means subtracted."""
    images = ops.cast(images, "float32")
    bgr = ops.flip(images, axis=-1)
    return bgr - ops.convert_to_tensor(VGG_MEAN_BGR, dtype="float32")


def build_vgg_features(layer="block5_conv4", vgg_weights=None, allow_random_features=False):
    """VGG19 (keras.applications layer names) up to ``layer``, frozen, with local weights.

    Raises:
        ValueError: no ``vgg_weights`` and ``allow_random_features`` is False (the message
            explains how to provide weights), or an unknown layer.
        FileNotFoundError: ``vgg_weights`` does not exist.
    """
    if layer not in CONTENT_LAYERS:
        raise ValueError(f"content layer must be one of {CONTENT_LAYERS}, got {layer!r}")
    if vgg_weights is None and not allow_random_features:
        raise ValueError(NO_WEIGHTS_MESSAGE)
    if vgg_weights is not None and not os.path.isfile(vgg_weights):
        raise FileNotFoundError(f"vgg_weights: file {vgg_weights!r} does not exist. "
                                + NO_WEIGHTS_MESSAGE)
    vgg = keras.applications.VGG19(include_top=False, weights=None, input_shape=(None, None, 3))
    if vgg_weights is not None:
        try:
            vgg.load_weights(vgg_weights)
        except Exception as e:
            raise ValueError(f"vgg_weights: {vgg_weights!r} does not hold VGG19 (include_top=False) "
                             f"weights: {e}") from e
    features = keras.Model(vgg.input, vgg.get_layer(layer).output, name=f"vgg19_{layer}")
    features.trainable = False
    return features


class VGGContentLoss:
    """MSE between VGG19 feature maps of the HR and SR images, features × 1/12.75.

    A plain callable (not a Keras layer), so a model holding it does not save VGG's weights.

    Args:
        layer: ``block5_conv4`` (the paper's VGG54, default) or ``block2_conv2`` (VGG22).
        vgg_weights: path to VGG19 notop weights (``.h5`` or ``.weights.h5``).
        allow_random_features: use random VGG19 weights when no path is given (explicit).
        feature_scale: multiplies the features before the MSE (1/12.75 as in the paper).
    """

    def __init__(self, layer="block5_conv4", vgg_weights=None, allow_random_features=False,
                 feature_scale=VGG_FEATURE_SCALE):
        self.layer = layer
        self.vgg_weights = vgg_weights
        self.allow_random_features = bool(allow_random_features)
        self.feature_scale = float(feature_scale)
        self.features = build_vgg_features(layer, vgg_weights, allow_random_features)

    def __call__(self, hr, sr):
        f_hr = self.features(vgg_preprocess(hr), training=False) * self.feature_scale
        f_sr = self.features(vgg_preprocess(sr), training=False) * self.feature_scale
        return ops.mean(ops.square(ops.cast(f_sr, "float32") - ops.cast(f_hr, "float32")))

    def get_config(self):
        return {"layer": self.layer, "vgg_weights": self.vgg_weights,
                "allow_random_features": self.allow_random_features,
                "feature_scale": self.feature_scale}


def adversarial_losses(real_logits, fake_logits):
    """Returns ``(d_loss, g_adv_loss)`` from discriminator logits (sigmoid cross-entropy).

    ``d_loss`` = −log D(HR) − log(1 − D(G(LR))); ``g_adv_loss`` = −log D(G(LR)) (the
    non-saturating form the paper uses).
    """
    bce = lambda labels, logits: ops.mean(
        ops.binary_crossentropy(labels, ops.cast(logits, "float32"), from_logits=True))
    ones, zeros = ops.ones_like(real_logits, "float32"), ops.zeros_like(fake_logits, "float32")
    d_loss = bce(ones, real_logits) + bce(zeros, fake_logits)
    g_loss = bce(ops.ones_like(fake_logits, "float32"), fake_logits)
    return d_loss, g_loss
