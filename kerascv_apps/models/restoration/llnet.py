"""LLNet (Lore, Akintayo, Sarkar 2017, "LLNet: A deep autoencoder approach to natural
low-light image enhancement", Pattern Recognition 61; arXiv 1511.03995)."""

import keras
from keras import layers

from kerascv_apps.layers.patches import BatchToChannels, ChannelsToBatch, PatchFold
from kerascv_apps.layers.segmentation import MirrorPadding2D
from kerascv_apps.models.common import image_input, variant_arguments
from kerascv_apps.registry import register_model

# hidden units of the three encoding DA layers, as multiples of the 17 x 17 = 289 inputs
PAPER_HIDDEN = (867, 578, 289)


def encoder_layer_names(model):
    """Names of the encoding layers of an LLNet, first to last (``enc1``, ``enc2``, ...)."""
    return sorted((l.name for l in model.layers if l.name.startswith("llnet_enc")),
                  key=lambda n: int(n[len("llnet_enc"):]))


def decoder_layer_names(model):
    """Names of the decoding layers, first to last (the last is the output layer)."""
    return sorted((l.name for l in model.layers if l.name.startswith("llnet_dec")),
                  key=lambda n: int(n[len("llnet_dec"):]))


def LLNet(input_shape=(None, None, 3), patch_size=17, hidden_units=PAPER_HIDDEN, stride=3,
          name="llnet"):
    """LLNet: a stacked sparse denoising autoencoder (SSDA) on gray ``patch_size`` patches.

    The paper's network (Sec. 3): 17×17 = 289 inputs; three encoding DA layers of 867, 578
    and 289 sigmoid units (3×, 2×, 1× the input size), mirrored by the decoder (578, 867) and
    a 289-unit sigmoid output, the clean patch. Each DA layer is pre-trained greedily as a
    sparse denoising autoencoder (tied weights, corrupted input, objective
    ``(1/N) Σ_i ½ ||x_i − x̂_i||² + β · Σ_j KL(ρ ‖ ρ̂_j) + (λ/2) ||W||²``, the squared error
    summed over the patch's pixels: the SSDA of Xie et al. 2012
    that the paper builds on), the decoder starts from the transposed encoder weights and the
    whole stack is fine-tuned on (dark/noisy, clean) patches: see
    :func:`kerascv_apps.training.layerwise.pretrain_llnet` (β, ρ, λ are its arguments; the
    package's defaults ρ = 0.05, β = 0.01, λ = 1e-5 were not checked against the paper's
    text, which was not at hand). A full image is restored by running the network on
    overlapping patches and averaging the overlapping outputs per pixel.

    Here the patch network runs convolutionally: the first layer is a ``patch_size`` ×
    ``patch_size`` convolution with ``stride`` (each output position is one patch through the
    first dense layer), the other layers are 1×1 convolutions (the same dense layers applied
    to every patch), and :class:`~kerascv_apps.layers.patches.PatchFold` puts the 289
    outputs of each position back as a 17×17 patch and averages. The image is reflect-padded
    by ``patch_size − 1`` first, so every pixel is covered by the same number of patches as
    an interior one. Fine-tuning through this model minimizes the error of the averaged
    (folded) image rather than the paper's per-patch error (a deviation of this formulation;
    the layer-wise pre-training is per patch). The paper's network works on gray images; each RGB channel goes through
    it as a gray image (shared weights). Inputs and outputs are [0, 255] pixels (the network
    sees [0, 1], its sigmoid output is scaled back).

    Args:
        input_shape: (height, width, channels); height and width may be None (any size above
            ``patch_size − 1``).
        patch_size: patch side (17 in the paper).
        hidden_units: encoder widths (the decoder mirrors them); default the paper's.
        stride: step between overlapping patches; 1 averages every patch (the most overlap),
            larger is cheaper (stride² fewer patches). Default 3, a package choice for CPU
            cost; must be <= ``patch_size``.
        name: model name.
    """
    patch_size, stride = int(patch_size), int(stride)
    hidden_units = tuple(int(u) for u in hidden_units)
    if patch_size < 2 or not 1 <= stride <= patch_size or not hidden_units:
        raise ValueError(f"LLNet: need patch_size >= 2, 1 <= stride <= patch_size and hidden "
                         f"units, got {patch_size}, {stride}, {hidden_units}")
    channels = input_shape[-1]
    inputs, x = image_input(input_shape, "unit", name="dark_image")
    gray = ChannelsToBatch(name="channels_to_batch")(x)
    pad = patch_size - 1
    h = MirrorPadding2D(pad, name="patch_padding")(gray)
    h = layers.Conv2D(hidden_units[0], patch_size, strides=stride, activation="sigmoid",
                      name="llnet_enc1")(h)
    for i, units in enumerate(hidden_units[1:], start=2):
        h = layers.Conv2D(units, 1, activation="sigmoid", name=f"llnet_enc{i}")(h)
    widths = list(reversed(hidden_units[:-1])) + [patch_size * patch_size]
    for i, units in enumerate(widths, start=1):
        h = layers.Conv2D(units, 1, activation="sigmoid", dtype="float32" if i == len(widths)
                          else None, name=f"llnet_dec{i}")(h)
    out = PatchFold(patch_size, stride, pad, dtype="float32", name="patch_fold")([h, gray])
    out = BatchToChannels(channels, dtype="float32", name="batch_to_channels")(out)
    outputs = layers.Rescaling(255.0, dtype="float32", name="restored_image")(out)
    return keras.Model(inputs, outputs, name=name)


def _create_llnet(variant, arch_args, /, **kwargs):
    return LLNet(**variant_arguments(variant, arch_args, kwargs))


@register_model(task="restoration", family="llnet")
def llnet(**kwargs):
    """LLNet (Lore et al. 2017): SSDA 289-867-578-289-578-867-289 on 17x17 patches, any size."""
    return _create_llnet(llnet, dict(patch_size=17, hidden_units=PAPER_HIDDEN, stride=3),
                         **kwargs)
