"""Reload guarantee: ``import kerascv_apps`` alone reloads every saved ``.keras`` (safe_mode=True),
compiled state included, in a fresh process; and that import stays cheap.

Every name in ``list_models()`` (built small, compiled with its task's loss and metrics and a
warm-up learning-rate schedule) plus one trained run of each task are saved; a fresh
subprocess that imports only ``kerascv_apps`` and ``keras`` loads them, checks each one's output
on a fixed input against the saved model's, and continues ``fit`` on some. The names are split
in two shards (this module and tests/test_reload_shard1.py, one per test worker); what they
share is tests/reload_support.py, which says how "small" keeps each builder's layer types.
"""

import os
import subprocess
import sys

import keras
import pytest

from kerascv_apps import build_model, list_models
from kerascv_apps.registry import MODELS
from kerascv_apps.serializables import SERIALIZABLES
from tests.reload_support import (FAMILY_KWARGS, OPTION_KWARGS, SHARDS, check_reloaded,
                                  model_kwargs, save_and_reload, shard_names)

# the fixture builds, saves and reloads half the registered names (minutes under load): a
# longer bound than the suite's 300 s per test (setup.cfg)
pytestmark = pytest.mark.timeout(900)
NAMES = shard_names(0)


@pytest.fixture(scope="module")
def reloaded(tmp_path_factory):
    return save_and_reload(str(tmp_path_factory.mktemp("reload")), NAMES,
                           option_keys=sorted(OPTION_KWARGS))


def test_the_shards_cover_every_registered_name_once():
    shards = [shard_names(i) for i in range(SHARDS)]
    assert sorted(sum(shards, [])) == sorted(list_models())
    assert len(list_models()) >= 50 and all(len(s) >= 25 for s in shards)


def test_every_name_of_this_shard_is_reloaded_compiled_and_fit_continues(reloaded):
    """Every name of the shard was saved and reloaded (none left out, none extra), each
    returning the saved model's outputs on the same input, with its loss and schedule."""
    check_reloaded(reloaded, NAMES, option_keys=sorted(OPTION_KWARGS))


def test_small_arguments_keep_each_variant():
    """The shrinking arguments are builder arguments, not a different model: every family has
    an entry and a variant's own choices (e.g. batch norm, LRN, 1x1 convs) survive them."""
    families = {MODELS.get(n).family for n in MODELS.names()}
    assert families <= set(FAMILY_KWARGS), f"add arguments for {families - set(FAMILY_KWARGS)}"
    layers = {}
    for name in ("vgg11", "vgg11_bn", "vgg11_lrn", "googlenet", "googlenet_bn"):
        model = build_model(name, **model_kwargs(name))
        layers[name] = {type(layer).__name__ for layer in model.layers}
    assert "BatchNormalization" in layers["vgg11_bn"] - layers["vgg11"]
    assert layers["vgg11_lrn"] - layers["vgg11"], "LRN layer lost"
    assert "BatchNormalization" in layers["googlenet_bn"] - layers["googlenet"]


def test_only_needed_modules_were_imported_lazily(reloaded):
    """The fresh process imported the registering modules (when Keras loaded), not the
    workflows."""
    modules = set(reloaded[2]["modules"])
    assert "kerascv_apps.layers.connection_table" in modules  # lenet5+c3_table
    assert "kerascv_apps.losses.segmentation" in modules
    assert not {"kerascv_apps.experiment", "kerascv_apps.data.pipeline"} & modules


def test_table_matches_what_modules_register():
    """Every ``kerascv_apps>`` object Keras knows is in the lazy table, at the right module."""
    from kerascv_apps.registry import import_package
    from kerascv_apps.serializables import register_all

    register_all()
    for package in ("kerascv_apps.layers", "kerascv_apps.losses", "kerascv_apps.metrics",
                    "kerascv_apps.training"):
        import_package(package)
    registered = {name.split(">", 1)[1]: obj for name, obj in
                  keras.saving.get_custom_objects().items() if name.startswith("kerascv_apps>")}
    missing = sorted(set(registered) - set(SERIALIZABLES))
    assert not missing, f"add to kerascv_apps/serializables.py SERIALIZABLES: {missing}"
    for name, module in SERIALIZABLES.items():
        assert name in registered, f"{name} is in the table but {module} does not register it"
        assert registered[name].__module__ == module, (name, registered[name].__module__)


def test_import_stays_light():
    """``import kerascv_apps`` imports neither Keras nor TensorFlow."""
    code = ("import sys, kerascv_apps; "
            "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("first", [
    "import kerascv_apps, keras",  # the hook registers when Keras finishes importing
    "import keras, kerascv_apps",  # Keras first: install registers at once
    # a table module whose `import keras` starts it all, and one that imports from another
    # module of the table still being imported (retried when that one finishes)
    "import kerascv_apps.layers.pixel_shuffle, keras",
    "import kerascv_apps.losses.super_resolution, keras",  # training.gan imports from it
])
def test_every_table_name_is_registered_through_the_public_api(first):
    code = (f"{first}; from kerascv_apps.serializables import SERIALIZABLES; "
            "known = keras.saving.get_custom_objects(); "
            "print(sorted(n for n in SERIALIZABLES if 'kerascv_apps>' + n not in known))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
