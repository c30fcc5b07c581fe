"""The second shard of the reload guarantee (tests/test_reload.py says what it checks): the
other half of the registered names, and one trained run of each task through ``train_model``
(optimizer state, the trainer's warm-up schedule and the task's metrics come back)."""

import os

import pytest

from tests.reload_support import check_reloaded, save_and_reload, shard_names

pytestmark = pytest.mark.timeout(900)
NAMES = shard_names(1)


@pytest.fixture(scope="module")
def reloaded(tmp_path_factory):
    return save_and_reload(str(tmp_path_factory.mktemp("reload1")), NAMES, with_runs=True)


def test_every_name_of_this_shard_and_each_trained_run_is_reloaded(reloaded):
    results = check_reloaded(reloaded, NAMES, runs=3)
    by_name = {os.path.basename(os.path.dirname(p)): r for p, r in results.items()}
    assert "miou" in by_name["run_unet_same"]["metrics"]
    assert "psnr" in by_name["run_espcn_x2"]["metrics"]
    assert by_name["run_unet_same"]["loss"] == "SegmentationCrossentropy"
    assert by_name["run_espcn_x2"]["loss"] == "PixelLoss"


def test_the_shard_imported_only_the_registering_modules(reloaded):
    modules = set(reloaded[2]["modules"])
    assert "kerascv_apps.layers.pixel_shuffle" in modules  # espcn
    assert not {"kerascv_apps.experiment", "kerascv_apps.data.pipeline"} & modules
