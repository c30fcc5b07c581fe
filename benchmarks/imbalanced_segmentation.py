"""Default loss vs a balanced task option on a small imbalanced segmentation folder.

Writes ``seg_folder`` data of its own making (60 images of 64x64, 3 classes: textured
background; small disks, class 1; smaller squares in about half of the images, class 2; the
foreground is a few percent of the pixels), then trains the same small U-Net through the
training workflow (`train_model`, what `kerascv-apps train` runs) with the defaults and with each
balanced option (task arguments, as `--task-arg` takes them), for
several seeds, and prints the test mIoU and per-class IoU side by side.

    python benchmarks/imbalanced_segmentation.py [--seeds 0,1,2] [--epochs 40]
        [--options "class_weights=median_frequency" "loss=ce+dice"] [--work DIR]
"""

import argparse
import json
import os
import sys
import tempfile

import numpy as np


def write_folder(root, count=60, size=64, seed=0):
    """The imbalanced folder; returns the class pixel fractions."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    os.makedirs(os.path.join(root, "masks"), exist_ok=True)
    yy, xx = np.mgrid[:size, :size]
    counts = np.zeros(3, np.int64)
    for i in range(count):
        base = rng.uniform(60, 190, 3)
        image = base + rng.normal(0, 28, (size, size, 3))  # textured background
        image += 25 * np.sin(xx / rng.uniform(3, 8))[..., None]
        mask = np.zeros((size, size), np.uint8)
        for _ in range(rng.integers(1, 3)):  # class 1: small disks, any colour
            cy, cx, r = rng.integers(8, size - 8), rng.integers(8, size - 8), rng.uniform(3.5, 6.0)
            disk = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
            image[disk] = rng.uniform(0, 255, 3) + rng.normal(0, 10, (disk.sum(), 3))
            mask[disk] = 1
        if rng.random() < 0.5:  # class 2: smaller squares with a dark border, in half the images
            cy, cx, h = rng.integers(4, size - 10), rng.integers(4, size - 10), rng.integers(4, 7)
            image[cy - 1:cy + h + 1, cx - 1:cx + h + 1] = 20
            image[cy:cy + h, cx:cx + h] = rng.uniform(150, 255, 3)
            mask[cy - 1:cy + h + 1, cx - 1:cx + h + 1] = 2
        counts += np.bincount(mask.ravel(), minlength=3)
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(
            os.path.join(root, "images", f"{i:03d}.png"))
        Image.fromarray(mask).save(os.path.join(root, "masks", f"{i:03d}.png"))
    with open(os.path.join(root, "labels.txt"), "w") as f:
        f.write("background\ndisk\nsquare\n")
    return counts / counts.sum()


def train(folder, run_dir, seed, epochs, task_args):
    from kerascv_apps.experiment import train_model

    task_kwargs = {}
    for arg in task_args:
        key, sep, value = arg.partition("=")
        if not sep:
            raise SystemExit(f"--options: expected KEY=VALUE task arguments, got {arg!r}")
        try:  # a JSON value when it parses, as --task-arg takes it
            task_kwargs[key] = json.loads(value)
        except json.JSONDecodeError:
            task_kwargs[key] = value
    train_model("unet_same", f"seg_folder:{folder}", run_dir, epochs=epochs, batch_size=8,
                seed=seed, model_kwargs=dict(base_filters=16, depth=3), task_kwargs=task_kwargs,
                evaluate=True)
    with open(os.path.join(run_dir, "evaluation.json")) as f:
        evaluation = json.load(f)
    return evaluation["miou"], [row["iou"] for row in evaluation["per_class"]]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--options", nargs="*", default=["class_weights=median_frequency"],
                   help="balanced settings to compare with the defaults (each a comma-joined "
                        "list of KEY=VALUE task args)")
    p.add_argument("--work", help="scratch folder (default: a new temp folder)")
    args = p.parse_args(argv)
    work = args.work or tempfile.mkdtemp(prefix="imbalanced_")
    folder = os.path.join(work, "folder")
    fractions = write_folder(folder)
    print(f"folder {folder}: pixel fractions background {fractions[0]:.3f}, disk "
          f"{fractions[1]:.3f}, square {fractions[2]:.3f}", flush=True)
    settings = [("defaults", [])] + [(o, o.split(",")) for o in args.options]
    seeds = [int(s) for s in args.seeds.split(",")]
    results = {}
    for name, task_args in settings:
        for seed in seeds:
            run = os.path.join(work, f"{name.replace('=', '_').replace(',', '+')}-seed{seed}")
            results[(name, seed)] = train(folder, run, seed, args.epochs, task_args)
            print(f"{name} seed {seed}: mIoU {results[(name, seed)][0]:.4f}, per class "
                  f"{results[(name, seed)][1]}", file=sys.stderr, flush=True)
    print(f"\n| setting | {' | '.join(f'seed {s}' for s in seeds)} | mean mIoU | "
          f"mean IoU disk | mean IoU square |")
    print("|---|" + "---|" * (len(seeds) + 3))
    for name, _ in settings:
        miou = [results[(name, s)][0] for s in seeds]
        per = np.array([[v if v is not None else np.nan for v in results[(name, s)][1]]
                        for s in seeds])
        print(f"| {name} | " + " | ".join(f"{m:.3f}" for m in miou) +
              f" | {np.mean(miou):.3f} | {np.nanmean(per[:, 1]):.3f} | "
              f"{np.nanmean(per[:, 2]):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
