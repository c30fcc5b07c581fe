import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    # each test worker gets its share of the cores for TensorFlow's thread pools (and so do the
    # processes its tests start): two workers with a pool of every core each fight over them
    _share = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(_share))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", str(_share))

import keras  # noqa: E402
import pytest  # noqa: E402

pytest_plugins = ("tests.suite_bounds",)

# The modules that cost the most CPU (measured, heaviest first): the workers take whole modules
# in collection order (--dist loadfile, --no-loadscope-reorder), so these start first and the
# light ones fill in at the end, and both workers finish together. Kept in tests/module_costs.txt
# (one path per line); a module missing from this machine's checkout fails
# test_suite_order.py.
with open(os.path.join(os.path.dirname(__file__), "module_costs.txt")) as _f:
    HEAVY_FIRST = [line.split()[0] for line in _f if line.strip() and not line.startswith("#")]


def pytest_collection_modifyitems(config, items):
    rank = {path: i for i, path in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts from float32 policy, a clear Keras session (layer-name counters) and
    the same random seed: its weights and data do not depend on which tests its worker ran
    before (the two workers' share of the modules changes as tests are added)."""
    keras.config.set_dtype_policy("float32")
    keras.utils.clear_session()
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture(scope="session")
def trained_lenet():
    """LeNet-5 trained briefly on digits with its classification task: one per test process,
    shared by the export, phone-export and optimization tests (none of them changes it)."""
    from kerascv_apps import build_model
    from kerascv_apps.data import load_dataset
    from kerascv_apps.tasks import get_task

    keras.utils.set_random_seed(0)
    splits = load_dataset("digits")
    model = build_model("lenet5")
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(splits.train.batch(32), epochs=4, verbose=0)
    task = get_task("classification", num_classes=10, class_names=splits.class_names)
    return model, splits, task


@pytest.fixture(scope="session")
def lenet_run(tmp_path_factory):
    """A finished LeNet-5 run directory on digits (1 epoch of 4 steps), trained through the
    command line, shared read-only (tests that change it work on a copy)."""
    from kerascv_apps.cli import main

    run = tmp_path_factory.mktemp("lenet_run") / "run"
    assert main(["train", "--model", "lenet5", "--epochs", "1", "--steps-per-epoch", "4",
                 "--batch-size", "16", "--augment", "none", "--run-dir", str(run)]) == 0
    return run


def dead_pid():
    """The PID of a process that has exited (a writer that was killed)."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid
