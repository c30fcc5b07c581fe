"""Runs one recipe's headline figure several times with different seeds and prints
mean/min/max, so that a figure can be compared between two commits of the package.

    python benchmarks/repeat_recipe.py quickstart --seeds 0 1 2 --out /tmp/repeat
    python benchmarks/repeat_recipe.py unet_shapes --seeds 0 1 --out /tmp/repeat
    python benchmarks/repeat_recipe.py sr_demo --seeds 0 1 2 --out /tmp/repeat

The package that is measured is whichever ``kerascv_apps`` Python imports, so the same
script measures an older checkout with ``PYTHONPATH=<that checkout>``. Each run is a fresh
process (no Keras state shared between seeds). The same seed on two commits gives the same
data order but not necessarily the same initial weights (Keras draws unseeded initializer
seeds from Python's ``random``, so a module import that creates an initializer between
``set_random_seed`` and the build shifts them): compare means over seeds. Figures (same settings as the recipes):

- ``quickstart``: LeNet-5 on digits, the quickstart's training arguments (40 epochs,
  batch 32, Adam 3e-3 cosine, ``augment="tf"``); Keras test accuracy (the export stage of
  the quickstart does not change it and is skipped).
- ``unet_shapes``: ``recipes/segmentation/unet_shapes.py``'s defaults (``unet_same``, 16 base
  filters, depth 3, 12 epochs, batch 8, 3e-3, 800 training images, CE loss); test mIoU.
- ``sr_demo``: ``recipes/super_resolution/edge.py`` with the settings of
  ``recipes/sr_demo.py`` (ESPCN x2 with the anchor skip, 5 x 80 steps, batch 16, patch 32,
  3e-3) and ``--seed``; held-out PSNR-Y gain over bicubic (dB).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def _code_root():
    import kerascv_apps

    return os.path.dirname(os.path.dirname(os.path.abspath(kerascv_apps.__file__)))


def _commit(root):
    try:
        return subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def quickstart(seed, run_dir, epochs):
    from kerascv_apps.experiment import evaluate_model, train_model

    run = train_model("lenet5", "digits", run_dir, epochs=epochs or 40, batch_size=32,
                      augment="tf", learning_rate=3e-3, schedule="cosine", seed=seed, verbose=0)
    return {"test_accuracy": float(evaluate_model(run.model, run.task, run.splits)["accuracy"])}


def unet_shapes(seed, run_dir, epochs):
    from kerascv_apps.experiment import evaluate_model, train_model

    run = train_model("unet_same", "shapes", run_dir, epochs=epochs or 12, batch_size=8,
                      augment="none", learning_rate=3e-3, schedule="cosine", seed=seed,
                      model_kwargs={"base_filters": 16, "depth": 3},
                      dataset_kwargs={"num_train": 800},
                      task_kwargs={"loss": "ce", "border_weights": False},
                      verbose=0, jit_compile="auto")
    return {"test_miou": float(evaluate_model(run.model, run.task, run.splits)["miou"])}


def sr_demo(seed, run_dir, epochs):
    script = os.path.join(_code_root(), "recipes", "super_resolution", "edge.py")
    subprocess.run([sys.executable, script, "--run-dir", run_dir, "--epochs", str(epochs or 5),
                    "--steps-per-epoch", "80", "--batch-size", "16", "--patch-size", "32",
                    "--learning-rate", "3e-3", "--no-export", "--seed", str(seed)],
                   check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(run_dir, "summary.json")) as f:
        test = json.load(f)["test"]
    return {"gain_psnr_y": float(test["gain_psnr_y"]), "psnr_y": float(test["psnr_y"]),
            "bicubic_psnr_y": float(test["bicubic_psnr_y"])}


FIGURES = {"quickstart": quickstart, "unet_shapes": unet_shapes, "sr_demo": sr_demo}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("figure", choices=sorted(FIGURES))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", required=True, help="folder for the run directories (outside the repo)")
    p.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    p.add_argument("--json", help="write the runs and their statistics here")
    p.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    root = _code_root()
    tag = f"{a.figure}-{_commit(root)}"
    if a.one is not None:  # child: one seed, one JSON line
        start = time.time()
        figures = FIGURES[a.figure](a.one, os.path.join(a.out, f"{tag}-seed{a.one}"), a.epochs)
        print("RESULT " + json.dumps({"seed": a.one, "seconds": round(time.time() - start, 1),
                                      **figures}), flush=True)
        return 0
    runs = []
    for seed in a.seeds:
        cmd = [sys.executable, os.path.abspath(__file__), a.figure, "--one", str(seed),
               "--out", a.out] + (["--epochs", str(a.epochs)] if a.epochs else [])
        proc = subprocess.run(cmd, capture_output=True, text=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not lines:
            sys.stderr.write(proc.stderr[-4000:])
            raise SystemExit(f"{a.figure} seed {seed} failed (exit {proc.returncode})")
        runs.append(json.loads(lines[-1][len("RESULT "):]))
        print(f"[{tag}] seed {seed}: " + json.dumps(runs[-1]), flush=True)
    key = [k for k in runs[0] if k not in ("seed", "seconds")][0]
    values = [r[key] for r in runs]
    stats = {"mean": statistics.fmean(values), "min": min(values), "max": max(values)}
    print(f"[{tag}] {key} over seeds {a.seeds}: mean {stats['mean']:.4f}, "
          f"min {stats['min']:.4f}, max {stats['max']:.4f} (code {root})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"figure": a.figure, "code": root, "commit": _commit(root), "key": key,
                       "runs": runs, **stats}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
