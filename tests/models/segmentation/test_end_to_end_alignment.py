"""End to end, input pixel to output pixel: an impulse at (p, p) in the input gives segmentation
scores centred on (p, p) within half an input pixel, through PSPNet (dilated ResNet-50, aligned
upsampling, padding to the stride and cropping back) and the backbone U-Net (aligned decoder
steps from every level). Measured as the backbone levels are (``tests/models/test_backbones``):
uniform positive weights, zero biases, identity batch norm, response centroids."""

import keras
import numpy as np
import pytest

from kerascv_apps import build_model
from tests.models.segmentation.seg_common import TINY_BACKBONES
from tests.models.test_backbones import _centroid_errors, _uniform_weights

# Not multiples of the deepest stride (8 for PSPNet, 32 for the U-Net): the input is padded
# inside and the output cropped back; large enough that no response reaches the border.
PSP_SIZE, UNET_SIZE = 196, 360


def _errors(model, size, positions, zeroed=()):
    """Centroid errors (2, n) of the model's score maps for impulses at ``positions``, with
    uniform weights and the kernels of the ``zeroed`` layers at zero."""
    _uniform_weights(model)
    for name in zeroed:
        kernel = model.get_layer(name).kernel
        kernel.assign(np.zeros(kernel.shape, "float32"))
    images = np.zeros((len(positions), size, size, 3), "float32")
    images[np.arange(len(positions)), positions, positions, :] = 255.0
    out = np.asarray(model(images, training=False), "float64")
    assert out.shape[1:3] == (size, size)
    peak = np.abs(out).sum(axis=-1).sum(axis=2).argmax(axis=1) - positions  # rows
    return _centroid_errors(out, 1, 0.0, model.name, positions), peak


def _check(errors, period, what):
    """The systematic shift of the score maps (the mean error over one period of the deepest
    stride, where the sampling error of each impulse averages out) within 0.05 px, ten times
    tighter than the half pixel a misplaced upsampling or crop would cost; each impulse found
    within half a deepest-stride feature pixel (the sampling error of a coarse level)."""
    mean = errors[:, :period].mean(axis=1)
    worst = float(np.abs(errors).max())
    print(f"{what}: mean error {mean} px, worst impulse {worst:.3f} px")
    assert np.abs(mean).max() < 0.05, (what, mean)
    assert worst <= period / 2, (what, worst)


def test_pspnet_scores_are_centred_on_the_input_pixel():
    model = build_model("pspnet", input_shape=(PSP_SIZE, PSP_SIZE, 3), num_classes=2,
                        backbone_kwargs=TINY_BACKBONES["resnet50"], head_filters=4,
                        classifier_activation=None)
    # the pyramid's pooled branches carry no position (each bin averages its whole extent);
    # with their 1x1 convolutions at zero the measured path is the dilated backbone -> head
    # -> aligned upsampling from stride 8 -> crop
    pyramid = [l.name for l in model.layers
               if l.name.startswith("ppm_bin") and l.name.endswith("_conv")]
    assert len(pyramid) == 4
    positions = np.arange(PSP_SIZE // 2 - 8, PSP_SIZE // 2 + 8)  # two periods of stride 8
    errors, _ = _errors(model, PSP_SIZE, positions, zeroed=pyramid)
    _check(errors, 8, "pspnet")


@pytest.mark.parametrize("backbone", ["resnet50", "mobilenet_v2"])
def test_backbone_unet_scores_are_centred_on_the_input_pixel(backbone):
    keras.utils.clear_session()
    model = build_model("unet_backbone", backbone=backbone,
                        input_shape=(UNET_SIZE, UNET_SIZE, 3), num_classes=2,
                        backbone_kwargs=TINY_BACKBONES[backbone], decoder_filters=4,
                        classifier_activation=None)
    positions = np.arange(UNET_SIZE // 2 - 16, UNET_SIZE // 2 + 16)  # one period of stride 32
    errors, peak = _errors(model, UNET_SIZE, positions)
    _check(errors, 32, f"unet_backbone on {backbone}")
    # and the strongest score sits on the impulse's own pixel
    assert np.array_equal(peak, np.zeros_like(peak)), peak
