"""VAE on the embedded digits: test ELBO, a classifier-based sample score, pictures, and the
decoder exported to TFLite and SavedModel (a latent vector in, an image out).

    python recipes/generation/vae_digits.py [--classifier runs/lenet5_digits/model.keras]
        [--latent-dim 2] [--epochs 150] [--out runs/vae_digits]

Without ``--classifier`` LeNet-5 is trained on digits first (``--classifier-epochs``) into
``<out>/lenet5``: the package's digits classifier that scores the samples (share of 1,000
samples classified with confidence >= 0.9, classes present, Fréchet distance to the training
images in its 84-d F6 features). Writes the VAE run to ``<out>/vae`` (``evaluation.json``;
``plots/``: samples, interpolation, 2-D latent map, reconstructions), the export to
``<out>/export`` and a summary with CPU times to ``<out>/summary.json``.

Measured (batch 64, Adam 1e-3 constant; LeNet-5 scorer: 30 epochs, test accuracy 0.956):
latent 16 / 60 epochs: test ELBO -367.5 nats, 49.1% of 1,000 samples confident >= 0.9, 10/10
classes, Fréchet 1.95; latent 8 / 150: -366.7, 54.5%, 1.55; latent 4 / 150: -378.5, 67.5%,
1.54; latent 2 / 150: -401.7, 76.2%, 10/10 classes, Fréchet 2.82, 320 s of CPU (user) for
the whole recipe. Smaller latents give more confident samples and a worse ELBO.
Latent 2 / 300 epochs with KL warm-up over the first 1,000 steps (50 epochs; the loss is the
ELBO after them) -- the defaults: test ELBO -399.3 nats (KL 6.67), 81.1% of 1,000 samples
drawn from the prior N(0, I) confident >= 0.9, 10/10 classes (counts 121, 35, 160, 51, 76, 75,
81, 71, 85, 56 for 0..9), Fréchet 2.24; 530 s of process CPU for the VAE (shared 2-core
machine, load ~16: 2,493 s wall). Same train_model call as this recipe (a copy of it in a
sweep script, with a LeNet-5 scorer trained as here: test accuracy 0.956).
Re-run end to end with the defaults (``python recipes/generation/vae_digits.py --out
runs/vae_digits``: LeNet-5 trained first, test accuracy 0.956): the same figures (test ELBO
-399.30 nats, KL 6.67; 81.1% of 1,000 samples confident >= 0.9, 10/10 classes, the same
counts; Fréchet 2.24; k-NN on the 2-d codes 0.815 vs PCA 0.496), pictures in
``<out>/vae/plots`` (samples, interpolation, latent_map, reconstructions), TFLite float32
decoder max |TFLite - Keras| 7.5e-7 (pixels / 255); 584 s process CPU (user + system) for
the VAE, 602 s CPU (567 s user) / 9 min 50 s wall for the whole recipe (shared 2-core
machine, load ~4).
"""

import json
import os
import time

from kerascv_apps.config import TrainConfig, config_from_args, recipe_parser

FLAGS = ("epochs", "batch_size", "learning_rate")  # the TrainConfig keys this recipe changes
CONFIG = {"dataset": "digits", "epochs": 300, "batch_size": 64, "learning_rate": 1e-3,
          "augment": "none", "precision": "float32", "schedule": "constant"}
OWN_FLAGS = {
    "classifier": (None, "a digits classifier (.keras); default: train LeNet-5"),
    "classifier_epochs": (30, "epochs of that LeNet-5"),
    "model": ("vae", "registered generation model (vae)"),
    "latent_dim": (2, "latent vector size"),
    "kl_warmup_steps": (1000, "KL warm-up: the KL weight rises 0 -> 1 over this many steps "
                              "(20 steps per epoch at batch 64), then the loss is the ELBO; "
                              "0: none"),
    "out": ("runs/vae_digits", "output folder"),
}


def train_classifier(out, epochs):
    """The LeNet-5 that scores the samples: (its model file, its evaluation)."""
    from kerascv_apps.experiment import train_model

    config = TrainConfig("lenet5", dataset="digits", epochs=epochs, batch_size=64,
                         augment="none", precision="float32")
    run = train_model(**config.train_kwargs(), run_dir=os.path.join(out, "lenet5"),
                      evaluate=True, verbose=0, overwrite=True)
    return run.result.model_path, run.evaluation


def tflite_max_abs_diff(run, path, count=256):
    """Largest |TFLite - Keras| of the exported generator on ``count`` latent vectors, in
    [0, 1] image units (pixels / 255)."""
    import numpy as np

    from kerascv_apps.export.tflite import TFLiteRunner

    network = run.task.export_network(run.model)
    z = run.task.latents(count, int(network.inputs[0].shape[-1]), seed=123)
    keras_out = np.asarray(network.predict(z, verbose=0))
    lite = TFLiteRunner(path).predict(z, batch_size=1)
    return float(np.max(np.abs(lite - keras_out)) / 255.0)


def main(argv=None):
    a = recipe_parser(__doc__, None, FLAGS, CONFIG, OWN_FLAGS, overwrite=False).parse_args(argv)

    from kerascv_apps.experiment import export_run, train_model

    summary = {}
    start = time.process_time()
    if a.classifier is None:
        a.classifier, clf_eval = train_classifier(a.out, a.classifier_epochs)
        summary["classifier"] = {"path": a.classifier, "test_accuracy": clf_eval.get("accuracy"),
                                 "cpu_seconds": time.process_time() - start}
    start = time.process_time()
    config = config_from_args(a, FLAGS, a.model, **CONFIG,
                              model_kwargs={"latent_dim": a.latent_dim,
                                            "kl_warmup_steps": a.kl_warmup_steps},
                              task_kwargs={"classifier": a.classifier})
    run = train_model(**config.train_kwargs(), run_dir=os.path.join(a.out, a.model),
                      evaluate=True, verbose=0, overwrite=True)
    summary["train_cpu_seconds"] = time.process_time() - start
    summary["evaluation"] = run.evaluation
    start = time.process_time()
    report = export_run(run.model, run.task, run.splits, os.path.join(a.out, "export"), a.model,
                        formats=("savedmodel", "float32"), overwrite=True, progress=lambda *_: None)
    summary["export"] = {"float32_psnr_vs_keras": report["formats"]["float32"]["value"],
                         "float32_max_abs_diff": tflite_max_abs_diff(
                             run, os.path.join(a.out, "export",
                                               report["formats"]["float32"]["path"])),
                         "cpu_seconds": time.process_time() - start}
    from kerascv_apps.io import atomic_write_text

    atomic_write_text(os.path.join(a.out, "summary.json"), json.dumps(summary, indent=2,
                                                                       default=str))
    print(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
