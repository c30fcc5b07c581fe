"""``kerascv_apps.__all__`` is the public API; importing the package stays cheap (TensorFlow
loads with the first name that needs it)."""

import subprocess
import sys

import kerascv_apps

EXPECTED = {"build_model", "list_models", "load_model", "load_dataset", "train_model",
            "evaluate_model", "export_run", "ClassificationTask", "SegmentationTask",
            "SuperResolutionTask", "DetectionTask"}


def test_all_names_the_public_api_and_each_resolves():
    assert EXPECTED <= set(kerascv_apps.__all__)
    from kerascv_apps.experiment import train_model
    from kerascv_apps.tasks.super_resolution import SuperResolutionTask

    assert kerascv_apps.train_model is train_model
    assert kerascv_apps.SuperResolutionTask is SuperResolutionTask
    for name in kerascv_apps.__all__:
        assert callable(getattr(kerascv_apps, name)), name


def test_import_does_not_load_tensorflow():
    code = ("import sys, kerascv_apps; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'; "
            "assert 'kerascv_apps.experiment' not in sys.modules; print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_dataset_defaults_come_from_the_task_class_without_an_instance():
    from kerascv_apps.registry import get_entry
    from kerascv_apps.tasks.base import get_task_class

    # segmentation cannot be instantiated without its classes: the hook is a classmethod
    assert get_task_class("segmentation").dataset_defaults(get_entry("unet_same"), {}) == {}
    assert get_task_class("classification").dataset_defaults(get_entry("lenet5"), {}) == {}
    sr = get_task_class("super_resolution")
    assert sr.dataset_defaults(get_entry("espcn_x2"), {}) == {"scale": 2}
    assert sr.dataset_defaults(get_entry("espcn_x3"), {"anchor_skip": False}) == {"scale": 3}
    assert sr.dataset_defaults(get_entry("espcn_x3"), {"scale": 4}) == {"scale": 4}
    assert sr.dataset_defaults(get_entry("srgan_discriminator"), {}) == {}  # declares none


def test_every_sr_model_declares_the_scale_it_builds():
    """The scale an SR variant declares when it registers (what the run loads its data
    with, nothing built) is the scale its model upscales by."""
    from kerascv_apps.registry import MODELS, build_model
    from kerascv_apps.tasks.super_resolution import SuperResolutionTask

    names = [n for n in MODELS.names(task="super_resolution") if n != "srgan_discriminator"]
    assert len(names) >= 8
    for name in names:
        small = {"num_blocks": 1, "filters": 8} if name.startswith("srresnet") else {}
        model = build_model(name, input_shape=(None, None, 3), **small)
        assert MODELS.get(name).info["scale"] == SuperResolutionTask.model_scale(model), name
