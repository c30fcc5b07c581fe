"""SegNet (Badrinarayanan, Kendall & Cipolla 2015/2017, "SegNet: A Deep Convolutional
Encoder-Decoder Architecture for Image Segmentation") with true max-pooling-index unpooling."""

import keras
from keras import layers

from kerascv_apps.layers.pooling_indices import MaxUnpoolingWithSwitches
from kerascv_apps.models.backbones import build_backbone
from kerascv_apps.models.common import variant_arguments
from kerascv_apps.models.segmentation._base import (apply_on, check_static_size, crop_to_input,
                                                    pad_to_stride)
from kerascv_apps.registry import register_model


def conv_bn_relu(x, filters, name):
    """3x3 conv (same padding) - batch norm - ReLU, named like keras.applications' VGG."""
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(epsilon=1e-5, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def decoder_stage(x, switches, index, filters, out_filters, num_blocks):
    """Index unpooling with the encoder stage's switches, then ``num_blocks`` conv-BN-ReLU (the
    last one producing ``out_filters`` channels, the next decoder's width)."""
    x = MaxUnpoolingWithSwitches(name=f"decoder{index}_unpool")([x, switches])
    for j in range(1, num_blocks + 1):
        x = conv_bn_relu(x, out_filters if j == num_blocks else filters,
                         name=f"decoder{index}_conv{j}")
    return x


def SegNet(input_shape=(None, None, 3), num_classes=12,
           stackwise_num_filters=(64, 128, 256, 512, 512), stackwise_num_blocks=(2, 2, 3, 3, 3),
           classifier_activation="softmax", rescale=True, encoder_initializer="glorot_uniform",
           name="segnet"):
    """SegNet: the 13 convolutions of VGG-16 (each followed by batch norm and ReLU) as encoder,
    its 2x2 max poolings recording where each maximum was; a mirrored decoder whose stages
    upsample by putting each value back at its encoder maximum's location (zeros elsewhere,
    no learned upsampling), followed by conv-BN-ReLU stages, then a per-pixel softmax
    classifier (Badrinarayanan et al. 2015).

    The pooling locations are kept as one-hot switch masks built from comparisons (see
    ``kerascv_apps.layers.pooling_indices``; ties go to the first element of the window in
    raster order), so the model trains with ``jit_compile=True`` and converts to TFLite with
    builtin ops only. Encoder layers carry VGG's names (``block1_conv1`` ...,
    ``block1_conv1_bn``), so a VGG-16-BN's weights can be copied by name
    (``kerascv_apps.training.transfer.load_weights_by_name``).

    Args:
        input_shape: (height, width, channels); any size (``None`` too): padded inside to a
            multiple of ``2 ** len(stages)`` (32), the output cropped back to the input size.
        num_classes: number of classes (12 for CamVid in the paper).
        stackwise_num_filters: encoder filters per stage (VGG-16: 64, 128, 256, 512, 512).
        stackwise_num_blocks: convolutions per stage (VGG-16: 2, 2, 3, 3, 3).
        classifier_activation: output activation (``None`` for logits).
        rescale: map [0, 255] pixels to [0, 1] inside the model.
        encoder_initializer: kernel initializer of the encoder's convolutions (the decoder's
            are Keras' default, glorot_uniform). Default ``glorot_uniform``, what SegNet's
            published figures were trained with; the paper initializes encoder and decoder
            with He et al.'s method (``he_normal``).

    The encoder is the VGG backbone (``build_backbone("vgg16_bn", switch_pooling=True,
    ...)``): its levels P1..P5 and the switches of each pooling; its layers run flat on the
    padded input (``apply_on``), under VGG's names.
    """
    if len(stackwise_num_filters) != len(stackwise_num_blocks) or not stackwise_num_filters:
        raise ValueError("SegNet: stackwise_num_filters and stackwise_num_blocks must be non-empty "
                         f"and of equal length, got {stackwise_num_filters!r}, {stackwise_num_blocks!r}")
    check_static_size(input_shape, "SegNet")
    # the encoder is the VGG backbone with switch pooling (its Pk levels and their switches);
    # glorot_uniform kernels as SegNet had before it used the backbone (the paper: He init)
    bb = build_backbone("vgg16_bn", input_shape=(None, None, input_shape[-1]),
                        preprocessing="unit" if rescale else None, switch_pooling=True,
                        stackwise_num_filters=tuple(stackwise_num_filters),
                        stackwise_num_blocks=tuple(stackwise_num_blocks),
                        kernel_initializer=encoder_initializer)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    encoded = apply_on(bb.model(), pad_to_stride(inputs, 2 ** len(stackwise_num_filters)))
    levels = [f"P{i}" for i in range(1, len(stackwise_num_filters) + 1)]
    x = encoded[levels[-1]]
    switches = [encoded[f"{level}_switches"] for level in levels]
    for i in range(len(stackwise_num_filters), 0, -1):
        filters = stackwise_num_filters[i - 1]
        out_filters = stackwise_num_filters[max(i - 2, 0)]
        x = decoder_stage(x, switches[i - 1], i, filters, out_filters, stackwise_num_blocks[i - 1])
    x = layers.Conv2D(num_classes, 1, name="logits")(x)
    x = crop_to_input(x, inputs)
    outputs = layers.Activation(classifier_activation, dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def _create_segnet(variant, arch_args, /, **kwargs):
    return SegNet(**variant_arguments(variant, arch_args, kwargs))


@register_model(task="segmentation", family="segnet")
def segnet(**kwargs):
    """SegNet with a VGG-16 (13 conv + BN) encoder and index-unpooling decoder."""
    return _create_segnet(segnet, dict(stackwise_num_filters=(64, 128, 256, 512, 512),
                                         stackwise_num_blocks=(2, 2, 3, 3, 3)), **kwargs)
