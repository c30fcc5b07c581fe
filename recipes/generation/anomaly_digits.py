"""Unsupervised anomaly detection and representation with an autoencoder on the digits: the
autoencoder never sees the held-out digit class (train and validation splits without it, the
fixed test split with it); its reconstruction error scores anomalies (ROC-AUC on the test
split), and a k-NN classifier on its bottleneck codes is compared with one on PCA codes of the
same size (the lecture's "alternative to PCA"; seen classes only).

    python recipes/generation/anomaly_digits.py [--holdout 9] [--model autoencoder]
        [--epochs 60] [--out runs/anomaly_digits]

``--holdout`` takes one or more digits (comma-separated): one run per digit. Writes each run to
``<out>/holdout_<d>`` and ``<out>/summary.json`` with ROC-AUC, k-NN accuracies and CPU times.

Measured with the defaults (shared 2-core machine, load ~5)::

    python recipes/generation/anomaly_digits.py --out runs/anomaly_digits

    holdout 9, autoencoder (latent 16), 60 epochs: anomaly ROC-AUC 0.918 (reconstruction
    error, held-out digit vs the seen ones), k-NN accuracy on the 16-d bottleneck 0.975 vs on
    16-d PCA 0.979 (seen classes), reconstruction PSNR 27.15 dB; 87 s CPU for the run, 89 s
    user CPU / 2 min 4 s wall for the process
"""

import json
import os
import time

from kerascv_apps.config import config_from_args, recipe_parser

FLAGS = ("epochs", "batch_size")  # the TrainConfig keys this recipe lets you change
CONFIG = {"dataset": "digits", "epochs": 60, "batch_size": 64, "augment": "none",
          "precision": "float32", "schedule": "constant"}
OWN_FLAGS = {
    "holdout": ("9", "held-out digit(s), comma-separated"),
    "model": ("autoencoder", "autoencoder, autoencoder_dense or vae"),
    "latent_dim": (16, "bottleneck size"),
    "out": ("runs/anomaly_digits", "output folder"),
}


def main(argv=None):
    a = recipe_parser(__doc__, None, FLAGS, CONFIG, OWN_FLAGS, overwrite=False).parse_args(argv)

    from kerascv_apps.experiment import train_model
    from kerascv_apps.io import atomic_write_text

    rows = []
    for digit in [int(d) for d in a.holdout.split(",") if d.strip()]:
        start = time.process_time()
        config = config_from_args(a, FLAGS, a.model, **CONFIG,
                                  model_kwargs={"latent_dim": a.latent_dim},
                                  dataset_kwargs={"holdout_classes": [digit]})
        run = train_model(**config.train_kwargs(), run_dir=os.path.join(a.out, f"holdout_{digit}"),
                          evaluate=True, verbose=0, overwrite=True)
        ev = run.evaluation
        rows.append({"holdout": digit, "roc_auc": ev["anomaly"]["roc_auc"],
                     "knn_bottleneck": ev["knn"]["bottleneck_accuracy"],
                     "knn_pca": ev["knn"].get("pca_accuracy"), "psnr": ev["psnr"],
                     "cpu_seconds": time.process_time() - start})
        print(json.dumps(rows[-1]), flush=True)
    atomic_write_text(os.path.join(a.out, "summary.json"),
                      json.dumps({"model": a.model, "latent_dim": a.latent_dim,
                                  "epochs": a.epochs, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
