"""Peak memory (ru_maxrss) of training MobileNetV2 from a generated folder of JPEGs.

Generates ``--images`` JPEGs (10 classes, ``--side`` pixels square) once under ``--root`` and
trains ``mobilenet_v2`` for ``--steps`` steps in a fresh child process, reporting that
process's peak resident memory. ``--source folder`` reads the folder (``folder:<root>``);
``--source tfrecord`` first runs ``prepare`` (in its own child process) and trains from
``tfrecord:<root>.tfrecord``. Run the same command with another checkout first on
``PYTHONPATH`` to compare implementations.

    PYTHONPATH=$PWD python benchmarks/streaming_memory.py --images 20000 --source folder
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time


def generate(root, images, side, classes=10):
    import numpy as np
    from PIL import Image

    marker = os.path.join(root, ".complete")
    if os.path.exists(marker):
        return
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    per_class = images // classes
    for c in range(classes):
        folder = os.path.join(root, f"class_{c:02d}")
        os.makedirs(folder, exist_ok=True)
        for i in range(per_class):
            a, b, phase = rng.uniform(1, 6, 3)
            base = 127 + 100 * np.sin(a * xx * 6.28 + b * yy * 3.14 + phase + c)
            rgb = np.stack([base, np.roll(base, c, 0), 255 - base], -1)
            rgb += rng.normal(0, 8, rgb.shape)
            Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(
                os.path.join(folder, f"{i:05d}.jpg"), quality=85)
        print(f"generated class {c + 1}/{classes}", file=sys.stderr, flush=True)
    open(marker, "w").close()


def child(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kerascv_apps.data import load_dataset
    from kerascv_apps.experiment import train_model

    start = time.time()
    if args.source == "prepare":
        from kerascv_apps.data.tfrecord import prepare_tfrecords

        splits = load_dataset(f"folder:{args.root}", image_size=(args.side, args.side))
        prepare_tfrecords(splits, args.root + ".tfrecord", overwrite=True)
        result = {"stage": "prepare"}
    else:
        spec = f"folder:{args.root}" if args.source == "folder" else \
            f"tfrecord:{args.root}.tfrecord"
        kwargs = {"image_size": (args.side, args.side)} if args.source == "folder" else {}
        splits = load_dataset(spec, **kwargs)
        loaded = time.time()
        with tempfile.TemporaryDirectory() as run_dir:
            train_model("mobilenet_v2", splits=splits, run_dir=run_dir, epochs=1,
                        batch_size=args.batch, augment="none", steps_per_epoch=args.steps,
                        verbose=0)
        result = {"stage": "train", "source": spec, "load_s": round(loaded - start, 1)}
    result["seconds"] = round(time.time() - start, 1)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(result), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=20000)
    p.add_argument("--side", type=int, default=96, help="image side and model input (pixels)")
    p.add_argument("--root", default=os.path.join(tempfile.gettempdir(), "kcv_stream_bench"))
    p.add_argument("--source", choices=["folder", "tfrecord", "prepare"], default="folder")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    args.root = f"{args.root}_{args.images}_{args.side}"
    generate(args.root, args.images, args.side)
    base = [sys.executable, os.path.abspath(__file__), "--child", "--root", args.root,
            "--side", str(args.side), "--steps", str(args.steps), "--batch", str(args.batch)]
    stages = ["prepare", "tfrecord"] if args.source == "tfrecord" else [args.source]
    for stage in stages:
        subprocess.run(base + ["--source", stage], check=True)


if __name__ == "__main__":
    main()
