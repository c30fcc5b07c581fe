"""Vision Transformer (Dosovitskiy et al., 2021, "An Image is Worth 16x16 Words: Transformers
for Image Recognition at Scale")."""

import keras
from keras import layers

from kerascv_apps.layers.vit import (ClassToken, MultiHeadSelfAttention, PositionEmbedding,
                                     TokenDense)
from kerascv_apps.models.common import create_variant, image_input, predictions, resize_inside
from kerascv_apps.registry import register_model


def encoder_block(x, num_heads, mlp_dim, dropout, attention_dropout, epsilon, name):
    """Pre-norm encoder block (eq. 2-3): x + MSA(LN(x)), then x + MLP(LN(x)).

    MSA is multi-head scaled dot-product attention softmax(q k^T / sqrt(d)) v (d = dim / heads);
    the MLP is Dense(mlp_dim, GELU) - Dense(dim), applied per token. Attention and the token-wise
    Dense are the package's own layers (same function and weights as Keras' MultiHeadAttention
    and Dense) because Keras lowers a Dense on a token sequence to a batch matmul broadcast over
    the batch, which TensorFlow's oneDNN kernels compute wrongly on some CPUs.
    """
    dim = x.shape[-1]
    y = layers.LayerNormalization(epsilon=epsilon, name=f"{name}_ln1")(x)
    y = MultiHeadSelfAttention(num_heads, dropout=attention_dropout, name=f"{name}_attn")(y)
    if dropout:
        y = layers.Dropout(dropout, name=f"{name}_attn_dropout")(y)
    x = layers.Add(name=f"{name}_add1")([x, y])
    y = layers.LayerNormalization(epsilon=epsilon, name=f"{name}_ln2")(x)
    y = TokenDense(mlp_dim, activation="gelu", name=f"{name}_mlp_fc1")(y)
    if dropout:
        y = layers.Dropout(dropout, name=f"{name}_mlp_dropout1")(y)
    y = TokenDense(dim, name=f"{name}_mlp_fc2")(y)
    if dropout:
        y = layers.Dropout(dropout, name=f"{name}_mlp_dropout2")(y)
    return layers.Add(name=f"{name}_add2")([x, y])


def ViT(input_shape=(224, 224, 3), num_classes=1000, patch_size=16, hidden_dim=768,
        num_layers=12, num_heads=12, mlp_dim=3072, dropout=0.0, attention_dropout=0.0,
        layer_norm_epsilon=1e-6, include_top=True, pooling="token",
        classifier_activation="softmax", preprocessing="unit", resize_to=None, name="vit"):
    """Vision Transformer: non-overlapping patches linearly embedded (a patch-size conv with
    stride = patch size), a learned class token prepended, learned position embeddings added,
    ``num_layers`` pre-norm encoder blocks, a final LayerNorm and a linear head on the class
    token. ViT-B/16 at 224x224 with 1000 classes has 86,567,656 parameters.

    The MLP's GELU is the exact (erf) form; TFLite converts it to its builtin GELU op, which
    has an int8 kernel, so the model converts to int8 with builtin ops only.

    Args:
        input_shape: (height, width, channels), fixed (position embeddings depend on it);
            height and width (or ``resize_to``) must be multiples of ``patch_size``.
        num_classes: number of classes.
        patch_size: side of the square patches.
        hidden_dim: token width D.
        num_layers: encoder blocks.
        num_heads: attention heads (``hidden_dim`` must be divisible by it).
        mlp_dim: hidden units of each block's MLP.
        dropout: dropout after the embeddings, the attention and the MLP layers.
        attention_dropout: dropout on the attention weights.
        layer_norm_epsilon: epsilon of every LayerNorm.
        include_top: add the class layer.
        pooling: ``'token'`` (the class token, as the paper), ``'avg'`` (mean of the patch
            tokens and class token) or ``None`` (the token sequence; only without top).
        classifier_activation: activation of the class layer (``None`` for logits).
        preprocessing: what raw [0, 255] RGB becomes inside the model (``'unit'``: x / 255).
        resize_to: optional (height, width) the input is resized to inside the model
            (bilinear), so small images (32x32 digits) can feed a net that needs more.
        name: model name.
    """
    if input_shape is None or len(input_shape) != 3 or (
            resize_to is None and None in tuple(input_shape)[:2]):
        raise ValueError(f"ViT: input_shape must be a fixed (height, width, channels) (or pass "
                         f"resize_to), got {input_shape!r}")
    height, width = tuple(resize_to) if resize_to is not None else tuple(input_shape)[:2]
    if height % patch_size or width % patch_size:
        raise ValueError(f"ViT: the image size {(height, width)} (input_shape or resize_to) must be "
                         f"a multiple of patch_size={patch_size}")
    if hidden_dim % num_heads:
        raise ValueError(f"ViT: hidden_dim={hidden_dim} must be divisible by num_heads={num_heads}")
    if pooling not in (None, "token", "avg"):
        raise ValueError(f"ViT: pooling must be 'token', 'avg' or None, got {pooling!r}")
    num_patches = (height // patch_size) * (width // patch_size)
    inputs, x = image_input(input_shape, preprocessing)
    x = resize_inside(x, resize_to)
    x = layers.Conv2D(hidden_dim, patch_size, strides=patch_size, name="patch_embed")(x)
    x = layers.Reshape((num_patches, hidden_dim), name="patch_flatten")(x)
    x = ClassToken(name="class_token")(x)
    x = PositionEmbedding(name="pos_embed")(x)
    if dropout:
        x = layers.Dropout(dropout, name="pos_dropout")(x)
    for i in range(num_layers):
        x = encoder_block(x, num_heads, mlp_dim, dropout, attention_dropout, layer_norm_epsilon,
                          name=f"block{i}")
    x = layers.LayerNormalization(epsilon=layer_norm_epsilon, name="encoder_norm")(x)
    if pooling == "token":
        x = layers.Cropping1D((0, num_patches), name="cls_token_select")(x)
        x = layers.Flatten(name="cls_token")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling1D(name="avg_pool")(x)
    if not include_top:
        return keras.Model(inputs, x, name=name)
    if pooling is None:
        raise ValueError("ViT: include_top=True needs pooling 'token' or 'avg'")
    x = predictions(x, num_classes, classifier_activation, model="ViT")
    return keras.Model(inputs, x, name=name)


def _create_vit(variant, arch_args, /, **kwargs):
    return create_variant(ViT, variant, arch_args, kwargs)


@register_model(task="classification", family="vit")
def vit_tiny(**kwargs):
    """ViT-Ti (D=192, 12 layers, 3 heads, MLP 768); ``patch_size`` default 16."""
    return _create_vit(vit_tiny, dict(patch_size=16, hidden_dim=192, num_layers=12, num_heads=3,
                                      mlp_dim=768), **kwargs)


@register_model(task="classification", family="vit")
def vit_small(**kwargs):
    """ViT-S (D=384, 12 layers, 6 heads, MLP 1536); ``patch_size`` default 16."""
    return _create_vit(vit_small, dict(patch_size=16, hidden_dim=384, num_layers=12, num_heads=6,
                                       mlp_dim=1536), **kwargs)


@register_model(task="classification", family="vit")
def vit_base(**kwargs):
    """ViT-B (D=768, 12 layers, 12 heads, MLP 3072); ``patch_size`` default 16."""
    return _create_vit(vit_base, dict(patch_size=16, hidden_dim=768, num_layers=12, num_heads=12,
                                      mlp_dim=3072), **kwargs)
