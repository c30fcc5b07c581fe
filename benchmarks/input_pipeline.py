"""Input-pipeline throughput (images/s) with no augmentation, TF-native augmentation and
albumentations, next to the model's training throughput, all measured in one run.

    python benchmarks/input_pipeline.py [--model lenet5] [--batch-size 64] [--steps 60]

The pipeline is only worth optimizing while it is slower than training: the printed ratio
pipeline/training says how much head-room it has (> 1 means the model is the bottleneck).
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kerascv_apps import build_model  # noqa: E402
from kerascv_apps.data import load_dataset, make_pipeline  # noqa: E402
from kerascv_apps.data.augment import default_classification_augment  # noqa: E402


def pipeline_rate(dataset, batch_size, augment, steps, seed=0):
    ds = make_pipeline(dataset, batch_size, training=True, augment=augment, seed=seed,
                       repeat=True, drop_remainder=True)
    it = iter(ds)
    for _ in range(5):  # warm-up: fills the cache and the prefetch buffer
        next(it)
    start = time.perf_counter()
    for _ in range(steps):
        next(it)
    return steps * batch_size / (time.perf_counter() - start)


def training_rate(model_name, splits, batch_size, steps):
    model = build_model(model_name, input_shape=splits.image_shape, num_classes=splits.num_classes)
    model.compile("adam", "sparse_categorical_crossentropy")
    x = np.stack([a for a, _ in splits.train.take(batch_size).as_numpy_iterator()])
    y = np.array([b for _, b in splits.train.take(batch_size).as_numpy_iterator()])
    for _ in range(5):
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return steps * batch_size / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="lenet5")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    splits = load_dataset(args.dataset)
    rows = []
    for kind in ("none", "tf", "albumentations"):
        aug = default_classification_augment(kind, splits.image_shape,
                                             flips=splits.info.get("horizontal_flip", True))
        rows.append((f"pipeline, augment={kind}", pipeline_rate(splits.train, args.batch_size, aug, args.steps)))
    train = training_rate(args.model, splits, args.batch_size, args.steps)
    print(f"{args.dataset}, batch {args.batch_size}, {args.steps} steps, {os.cpu_count()} CPU cores")
    print(f"{'what':<36} {'images/s':>10} {'vs training':>12}")
    for name, rate in rows:
        print(f"{name:<36} {rate:>10.0f} {rate / train:>11.2f}x")
    print(f"{'training ' + args.model + ' (train_on_batch)':<36} {train:>10.0f} {1.0:>11.2f}x")


if __name__ == "__main__":
    main()
