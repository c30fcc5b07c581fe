"""What the reload tests share (tests/test_reload.py, tests/test_reload_shard1.py): small
builder arguments per family, the fresh-process loader, and ``save_and_reload``, which saves a
set of registered names and reloads them all in one fresh process.

The registered names are split in two shards (``shard_names``), one per test module, so that the
two test workers build, save and reload them side by side instead of one worker doing all.
Each model is also traced where it is built here, for the broadcast batch-matmul check
(tests/graph_check.py; ``check_reloaded`` asserts none).
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np

from kerascv_apps import build_model, list_models
from kerascv_apps.registry import MODELS, get_entry
from kerascv_apps.serializables import SERIALIZABLES
from tests.graph_check import broadcast_matmuls, traced

C3 = dict(input_shape=(32, 32, 3), num_classes=3)
# fit continues in the fresh process on these (custom losses/metrics) and on every trained run;
# the others are reloaded compiled (a fit per file would cost a traced train step each)
FIT_AFTER_RELOAD = {"fcn8s", "segnet", "unet", "vae"}
VGG_SMALL = dict(stackwise_num_filters=(4, 4, 8, 8, 8))
RESNET_SMALL = dict(stackwise_num_filters=(4, 8, 8, 8), stem_filters=4,
                    stackwise_num_blocks=(1, 1, 1, 1))
GOOGLENET_SMALL = dict(stem_filters=(4, 4, 8), aux_conv_filters=4, aux_fc_units=8,
                       stackwise_inception_filters=tuple(
                           tuple((f"inception{stage}{block}", (4, 2, 4, 2, 2, 2))
                                 for block in blocks)
                           for stage, blocks in ((3, "ab"), (4, "abcde"), (5, "ab"))))
# a 2 x 2 stride-16 map: 3 anchors per cell, 8 proposals, 2 x 2 RoI pooling
RCNN_SMALL = dict(rpn_filters=8, anchor_scales=(16,), pre_nms_top_n=12, post_nms_top_n=8,
                  pool_size=2, fc_units=(8, 8))
# builder arguments of every member of a family (the variant's own arguments not named here,
# e.g. LRN, batch norm, 1x1 last convs, bottleneck blocks, scale, stay the variant's)
FAMILY_KWARGS = {
    "lenet": dict(input_shape=(32, 32, 1), num_classes=10),
    "mlp": dict(input_shape=(8, 8, 1), num_classes=10, hidden_units=(8,)),
    "alexnet": dict(input_shape=(64, 64, 3), num_classes=3,
                    stackwise_num_filters=(4, 4, 4, 4, 4), fc_units=(8, 8)),
    "vgg": dict(C3, fc_units=(8, 8), **VGG_SMALL),
    "resnet": dict(C3, **RESNET_SMALL),
    "mobilenet": dict(C3, alpha=0.25),
    "efficientnet": dict(C3, width_coefficient=0.25, depth_coefficient=0.1, top_filters=16),
    "googlenet": dict(C3, **GOOGLENET_SMALL),
    "vit": dict(C3, patch_size=8, hidden_dim=16, num_layers=2, num_heads=2, mlp_dim=16),
    "fcn": dict(C3, backbone_kwargs=VGG_SMALL, fc_filters=8),
    "pspnet": dict(C3, backbone_kwargs=RESNET_SMALL, head_filters=8, aux_filters=8),
    "segnet": dict(C3, **VGG_SMALL),
    "unet": dict(C3, base_filters=4, depth=2),
    "espcn": dict(input_shape=(8, 8, 3), stackwise_num_filters=(8, 4)),
    "srresnet": dict(input_shape=(8, 8, 3), filters=8, num_blocks=2),
    "srgan": dict(input_shape=(32, 32, 3), stackwise_num_filters=(4, 4, 4, 4), dense_units=8),
    "faster_rcnn": dict(C3, backbone_kwargs=VGG_SMALL, **RCNN_SMALL),
    "yolo_v1": dict(input_shape=(64, 64, 3), num_classes=3, width=0.0625, fc_units=8),
    "llnet": dict(input_shape=(12, 12, 3), patch_size=5, hidden_units=(8, 6, 4), stride=2),
    "conv_autoencoder": dict(input_shape=(16, 16, 3), filters=(4, 8), bottleneck=8),
    "dae": dict(input_shape=(16, 16, 3), filters=4, num_layers=4),
    "autoencoder": dict(input_shape=(16, 16, 1), latent_dim=4, filters=(4, 8), hidden_units=(8,)),
    "vae": dict(input_shape=(16, 16, 1), latent_dim=3, filters=(4, 8), hidden_units=8),
    "dcgan": dict(input_shape=(16, 16, 1), base_filters=4),
    "ssd": dict(input_shape=(64, 64, 3), num_classes=3, fpn_filters=8, head_filters=8,
                head_depth=1, backbone_kwargs=dict(alpha=0.25, stackwise_num_blocks=(1,) * 7,
                                                   last_filters=16)),
}
# names whose architecture arguments differ from their family's (another backbone)
NAME_KWARGS = {
    "fcn8s_resnet50": dict(C3, backbone_kwargs=RESNET_SMALL),
    "unet_backbone": dict(C3, backbone_kwargs=RESNET_SMALL, decoder_filters=4),
    "faster_rcnn_small": dict(C3, backbone_kwargs=RESNET_SMALL, **RCNN_SMALL),
    "mobilenet_v2": dict(C3, alpha=0.25, stackwise_num_blocks=(1,) * 7),
    "mobilenet_v2_050": dict(C3, alpha=0.25, stackwise_num_blocks=(1,) * 7),
    "dcgan": dict(input_shape=(16, 16, 1), latent_dim=8, base_filters=4, num_upsamplings=2),
    "dcgan_discriminator": dict(input_shape=(16, 16, 1), base_filters=4, num_downsamplings=2),
    # P3-P7: the input must be a multiple of 2 ** 7
    "ssd_mobilenet_v2_fpnlite": dict(input_shape=(128, 128, 3), num_classes=3, fpn_filters=8,
                                     head_filters=8, head_depth=1,
                                     backbone_kwargs=dict(alpha=0.25, last_filters=16,
                                                          stackwise_num_blocks=(1,) * 7)),
    "retinanet_resnet50": dict(input_shape=(128, 128, 3), num_classes=3, fpn_filters=8,
                               head_filters=8, head_depth=1, backbone_kwargs=RESNET_SMALL),
}
# builder options that swap in a custom layer a registered name's default does not use: saved
# and reloaded too, under "<name>+<option>"
OPTION_KWARGS = {
    "lenet5+c3_table": ("lenet5", dict(c3_table=True)),
}
SEG_LOSSES = {"fcn8s": "focal", "pspnet": "ce", "segnet": "dice", "unet": "ce+0.5*dice"}
MAX_OUTPUT_DIFF = 1e-5
DISCRIMINATORS = ("srgan_discriminator", "dcgan_discriminator")


def model_kwargs(name):
    """Small builder arguments for a registered name (the paper U-Net at a legal size)."""
    if name in NAME_KWARGS:
        return dict(NAME_KWARGS[name])
    kwargs = dict(FAMILY_KWARGS[MODELS.get(name).family])
    if name == "unet":  # valid convs: the smallest input whose output covers 4x4 pixels
        from kerascv_apps.models.segmentation.unet import unet_input_size

        size = unet_input_size(4, depth=kwargs["depth"])
        kwargs["input_shape"] = (size, size, 3)
    return kwargs


LOADER = textwrap.dedent("""
    import json, sys
    import kerascv_apps  # the only package import: what a user of a saved file writes
    import keras
    import numpy as np
    manifest = json.load(open(sys.argv[1]))
    out = {}
    for item in manifest:
        model = keras.models.load_model(item["path"], safe_mode=True)
        saved = np.load(item["outputs"])
        outputs = keras.tree.flatten(model(saved["x"], training=False))
        diff = max(float(np.max(np.abs(np.asarray(o) - saved[f"y{i}"])))
                   for i, o in enumerate(outputs))
        x = np.random.default_rng(0).uniform(0, 255, item["x_shape"]).astype("float32")
        if item["y_kind"] == "labels":
            y = np.arange(item["x_shape"][0]) % item["classes"]
        elif item["y_kind"] == "mask":
            y = np.random.default_rng(1).integers(0, item["classes"], item["y_shape"])
        else:
            y = np.random.default_rng(1).uniform(0, item["y_high"], item["y_shape"])
            y = y.astype("float32")
        iterations = int(model.optimizer.iterations.numpy())
        out[item["path"]] = r = {
            "loss": type(model.loss).__name__ if model.loss is not None else None,
            "schedule": type(model.optimizer._learning_rate).__name__,
            "iterations_before": iterations,
            "output_diff": diff, "num_outputs": len(outputs),
        }
        if item["fit"]:
            history = model.fit(x, y, batch_size=len(x), epochs=1, verbose=0)
            r["metrics"] = sorted(history.history)
            r["iterations_after"] = int(model.optimizer.iterations.numpy())
            r["fit_loss"] = float(history.history["loss"][0])
    modules = sorted(m for m in sys.modules if m.startswith("kerascv_apps"))
    print(json.dumps({"results": out, "modules": modules}))
""")


def _compile_for_task(model, name, task_name, num_classes):
    from kerascv_apps.tasks.base import get_task
    from kerascv_apps.training.optimizers import WarmupSchedule, build_optimizer

    schedule = WarmupSchedule(keras.optimizers.schedules.CosineDecay(1e-3, 100), 2, 1e-3)
    if name in DISCRIMINATORS:  # a discriminator is trained on real/fake logits
        loss, metrics = keras.losses.BinaryCrossentropy(from_logits=True), []
    elif task_name == "generation":  # the VAE's own reconstruction loss
        task = get_task(task_name)
        loss, metrics = task.loss(model), task.metrics(model)
    elif task_name == "super_resolution":
        task = get_task(task_name, scale=2)
        loss, metrics = task.loss(), task.metrics()
    elif task_name == "segmentation":
        task = get_task(task_name, num_classes=num_classes, loss=SEG_LOSSES.get(name, "ce"))
        loss, metrics = task.loss(), task.metrics()
    else:
        task = get_task(task_name, num_classes=num_classes)
        loss, metrics = task.loss(), task.metrics()
    model.compile(optimizer=build_optimizer("adam", schedule), loss=loss, metrics=metrics)
    # a task that trains through its own graph (detection: the head's loss) compiles no loss
    return type(loss).__name__ if loss is not None else None


def _item(path, model, task_name, name, num_classes, batch=2):
    shape = [batch] + list(model.inputs[0].shape[1:])
    out_shape = [batch] + list(model.outputs[0].shape[1:])
    if name in DISCRIMINATORS:
        return dict(path=path, x_shape=shape, y_kind="real", y_shape=out_shape, y_high=1.0)
    if task_name == "classification":
        return dict(path=path, x_shape=shape, y_kind="labels", classes=num_classes)
    if task_name == "segmentation":
        return dict(path=path, x_shape=shape, y_kind="mask", y_shape=out_shape[:3],
                    classes=num_classes)
    return dict(path=path, x_shape=shape, y_kind="real", y_shape=out_shape, y_high=255.0)


def _save_outputs(model, path, x_shape):
    """The saved model's outputs on a fixed input, beside the file (compared after reload)."""
    x = np.random.default_rng(2).uniform(0, 255, [1] + list(x_shape[1:])).astype("float32")
    outputs = keras.tree.flatten(model(x, training=False))
    np.savez(path, x=x, **{f"y{i}": np.asarray(o) for i, o in enumerate(outputs)})
    return path


def _train_runs(tmp):
    """One tiny trained run per task through the workflow every CLI command and recipe uses."""
    from kerascv_apps.experiment import train_model

    common = dict(epochs=1, batch_size=8, augment="none", verbose=0, schedule="cosine",
                  warmup_epochs=1, steps_per_epoch=2)
    specs = [
        ("lenet5", "digits", {}, {}),
        ("unet_same", "shapes", dict(image_size=32, num_train=16, num_val=2, num_test=2),
         dict(base_filters=4, depth=2)),
        ("espcn_x2", "photos", dict(scale=2), dict(stackwise_num_filters=(8, 4))),
    ]
    items = []
    for name, dataset, data_kw, model_kw in specs:
        run = train_model(name, dataset, os.path.join(tmp, f"run_{name}"), dataset_kwargs=data_kw,
                          model_kwargs=model_kw, **common)
        path = os.path.join(run.run_dir, "model.keras")
        model = run.model
        task = get_entry(name).task
        shape = list(model.inputs[0].shape[1:])
        if shape[0] is None:  # dynamic size (SR): feed 8x8 crops
            shape = [8, 8, shape[2]]
            item = dict(path=path, x_shape=[2] + shape, y_kind="real",
                        y_shape=[2, 16, 16, shape[2]], y_high=255.0)
        else:
            item = _item(path, model, task, name, model.outputs[0].shape[-1])
        item.update(fit=True, outputs=_save_outputs(model, path + ".npz", item["x_shape"]))
        items.append(item)
    return items


SHARDS = 2


def shard_names(index):
    """The registered names of shard ``index``: every other name of the sorted list, so that
    each shard gets its share of each family."""
    return sorted(list_models())[index::SHARDS]


def save_and_reload(tmp, names, option_keys=(), with_runs=False):
    """Builds ``names`` (and ``OPTION_KWARGS`` entries ``option_keys``) small, compiles each
    with its task's loss and metrics, saves them (plus one trained run per task with
    ``with_runs``) and loads all in one fresh process that imports only ``kerascv_apps``.
    Returns (manifest, expected loss per name, the loader's report)."""
    manifest, expected_loss, broadcasts = [], {}, {}
    for name in names:
        task_name = get_entry(name).task
        kwargs = model_kwargs(name)
        model = build_model(name, **kwargs)
        broadcasts[name] = graph_broadcasts(model)
        num_classes = kwargs.get("num_classes")
        expected_loss[name] = _compile_for_task(model, name, task_name, num_classes)
        path = os.path.join(tmp, f"{name}.keras")
        model.save(path)
        item = _item(path, model, task_name, name, num_classes)
        item.update(fit=name in FIT_AFTER_RELOAD, loss=expected_loss[name],
                    outputs=_save_outputs(model, path + ".npz", item["x_shape"]))
        manifest.append(item)
    for key in option_keys:
        name, option = OPTION_KWARGS[key]
        kwargs = dict(model_kwargs(name), **option)
        model = build_model(name, **kwargs)
        loss = _compile_for_task(model, name, get_entry(name).task, kwargs.get("num_classes"))
        path = os.path.join(tmp, f"{key}.keras")
        model.save(path)
        item = _item(path, model, get_entry(name).task, name, kwargs.get("num_classes"))
        item.update(fit=True, loss=loss, outputs=_save_outputs(model, path + ".npz", item["x_shape"]))
        manifest.append(item)
    if with_runs:
        manifest += _train_runs(tmp)
    with open(os.path.join(tmp, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-c", LOADER, os.path.join(tmp, "manifest.json")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    report["broadcast_matmuls"] = broadcasts  # traced here, before saving
    return manifest, expected_loss, report


def graph_broadcasts(model):
    """The broadcast batch matmuls (tests/graph_check.py) of ``model`` traced at batch 2;
    the small arguments must give a static input size."""
    if any(d is None for t in model.inputs for d in t.shape[1:]):
        return [f"{model.name}: the small arguments should give a static input size"]
    return broadcast_matmuls(traced(model))


def check_reloaded(reloaded, names, option_keys=(), runs=0):
    """Every saved file came back in the fresh process with the saved model's outputs, its
    compiled loss and schedule, and (where ``fit``) one more optimizer step."""
    manifest, expected_loss, report = reloaded
    assert sorted(expected_loss) == sorted(names)
    # no registered model runs a batch matmul broadcast over the batch dimensions
    assert sorted(report["broadcast_matmuls"]) == sorted(names)
    assert {n: f for n, f in report["broadcast_matmuls"].items() if f} == {}
    results = report["results"]
    assert len(results) == len(names) + len(option_keys) + runs
    for item in manifest:
        r = results[item["path"]]
        assert r["num_outputs"] >= 1, (item["path"], r)
        assert r["output_diff"] <= MAX_OUTPUT_DIFF, (item["path"], r["output_diff"])
        if "loss" in item:  # built and compiled here (not a trained run)
            assert r["loss"] == item["loss"], (item["path"], r)
            assert r["schedule"] == "WarmupSchedule", (item["path"], r)
            assert r["iterations_before"] == 0
        else:  # trained runs: optimizer state restored, the trainer's warm-up schedule kept
            assert r["iterations_before"] == 2, (item["path"], r)
            assert r["schedule"] == "WarmupSchedule", (item["path"], r)
        if item["fit"]:
            assert r["iterations_after"] == r["iterations_before"] + 1, r
            assert np.isfinite(r["fit_loss"]), r
    assert sum(item["fit"] for item in manifest) == (
        len(FIT_AFTER_RELOAD & set(names)) + len(option_keys) + runs)
    return results
