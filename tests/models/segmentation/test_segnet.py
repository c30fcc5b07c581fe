"""SegNet (models/segmentation/segnet.py): VGG-16 encoder, the harness with an XLA training
step, and any input size (padded to 2**stages inside, cropped back)."""

import keras
import numpy as np

from kerascv_apps import build_model
from tests.harness import check_mixed_precision
from tests.models.dynamic_size import check_any_size
from tests.models.segmentation.seg_common import NUM_CLASSES, batch, check_segmentation

TINY = dict(stackwise_num_filters=(4, 8, 8), stackwise_num_blocks=(1, 1, 2))


def test_encoder_is_vgg16_convs():
    model = build_model("segnet", input_shape=(224, 224, 3), num_classes=12)
    # counted from the paper's layers: 13 encoder and 13 mirrored decoder 3x3 convolutions
    # without bias ((3*3*m) * n), each followed by BN (4n), then a 1x1 classifier with bias
    # ((1*1*64 + 1) * 12); the decoder of stage i ends at stage i-1's width
    encoder = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
               (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
    decoder = [(512, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 256),
               (256, 256), (256, 256), (256, 128), (128, 128), (128, 64), (64, 64), (64, 64)]
    expected = sum(3 * 3 * m * n + 4 * n for m, n in encoder + decoder) + (64 + 1) * 12
    assert model.count_params() == expected
    convs = [l for l in model.layers if l.name.startswith("block") and l.name[-6:-1] == "_conv"]
    assert len(convs) == 13
    # VGG-16's 13 conv kernels (biases replaced by BN): 14,714,688 - 4,224 biases
    assert sum(int(np.prod(l.kernel.shape)) for l in convs) == 14_710_464
    assert len([l for l in model.layers if l.name.endswith("_unpool")]) == 5


def test_harness_with_jit_training_step():
    # three stages keep the XLA compile short; the mechanism is the same at five
    _, report = check_segmentation("segnet", input_shape=(32, 32, 3), harness=dict(jit_compile=True),
                                   **TINY)
    assert not [op for op in report["int8_ops"] if op.startswith("Flex")]
    check_mixed_precision(lambda: build_model("segnet", input_shape=(32, 32, 3),
                                              num_classes=NUM_CLASSES, **TINY), batch()[0])


def test_any_input_size_including_sizes_that_used_to_fail():
    model = build_model("segnet", input_shape=(None, None, 3), num_classes=NUM_CLASSES, **TINY)
    rows = check_any_size(model, [(32, 32), (30, 33), (17, 45)])  # stride 8
    assert max(diff for _, _, diff in rows) < 1e-4, rows
    keras.utils.clear_session()
    static = build_model("segnet", input_shape=(30, 33, 3), num_classes=NUM_CLASSES, **TINY)
    assert tuple(static.output.shape) == (None, 30, 33, NUM_CLASSES)


def test_encoder_is_the_vgg_backbone_with_switch_pooling(monkeypatch):
    """SegNet asks the VGG backbone for its levels and their pooling switches; switch pooling
    gives the backbone the same features as VGG's MaxPooling2D."""
    from kerascv_apps.models import backbones
    from kerascv_apps.models.segmentation import segnet

    built = []
    monkeypatch.setattr(segnet, "build_backbone",
                        lambda *a, **k: built.append((a, k)) or backbones.build_backbone(*a, **k))
    model = build_model("segnet", input_shape=(32, 32, 3), num_classes=NUM_CLASSES, **TINY)
    assert len(built) == 1 and built[0][0] == ("vgg16_bn",)
    assert built[0][1]["switch_pooling"] is True
    assert len([l for l in model.layers if l.name.endswith("_unpool")]) == 3

    keras.utils.clear_session()
    kwargs = dict(input_shape=(32, 32, 3), stackwise_num_filters=(4, 8, 8),
                  stackwise_num_blocks=(1, 1, 2))
    switched = backbones.build_backbone("vgg16_bn", switch_pooling=True, **kwargs)
    plain = backbones.build_backbone("vgg16_bn", **kwargs)
    assert switched.levels == plain.levels and set(switched.switches) == {"P1", "P2", "P3"}
    assert (switched.levels["P1"].stride, switched.levels["P1"].offset) == (2, 0.5)
    with_switches, without = switched.model(), plain.model()
    without.set_weights(with_switches.get_weights())
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    a, b = with_switches(x), without(x)
    for level in ("P1", "P2", "P3"):
        np.testing.assert_allclose(np.asarray(a[level]), np.asarray(b[level]), atol=1e-5)
    mask = np.asarray(a["P1_switches"])
    assert mask.shape == (2, 32, 32, 4) and mask.reshape(2, 16, 2, 16, 2, 4).sum(axis=(2, 4)).max() == 1
