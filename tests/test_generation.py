"""The generation task: losses, metrics, training through the workflow (VAE, DCGAN pair,
autoencoder with a held-out class), ``sample`` / ``embed`` and generator export."""

import json
import os

import keras
import numpy as np
import pytest

from kerascv_apps.losses.generation import BernoulliReconstructionLoss, gan_losses
from kerascv_apps.metrics import generation as gm

TINY_VAE = dict(latent_dim=2, filters=(4, 8), hidden_units=8)
COMMON = dict(epochs=1, batch_size=16, augment="none", verbose=0, precision="float32",
              steps_per_epoch=2)


def test_bernoulli_reconstruction_is_summed_bce():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (3, 4, 4, 1)).astype("float32")
    p = rng.uniform(1, 254, (3, 4, 4, 1)).astype("float32")
    t, q = x / 255.0, p / 255.0
    want = -(t * np.log(q) + (1 - t) * np.log(1 - q)).reshape(3, -1).sum(-1)
    got = np.asarray(BernoulliReconstructionLoss(reduction=None)(x, p))
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_gan_losses_minimax_and_non_saturating():
    real = np.array([[2.0], [0.5]], "float32")
    fake = np.array([[-1.0], [0.3]], "float32")
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    d, g_ns = (float(v) for v in gan_losses(real, fake, "non_saturating"))
    _, g_mm = (float(v) for v in gan_losses(real, fake, "minimax"))
    assert d == pytest.approx(np.mean(-np.log(sig(real))) + np.mean(-np.log(1 - sig(fake))),
                              rel=1e-5)
    assert g_ns == pytest.approx(np.mean(-np.log(sig(fake))), rel=1e-5)
    assert g_mm == pytest.approx(np.mean(np.log(1 - sig(fake))), rel=1e-5)
    with pytest.raises(ValueError, match="generator_loss"):
        gan_losses(real, fake, "wasserstein")


def test_sample_score_frechet_knn_auc():
    probs = np.array([[0.95, 0.05, 0], [0.5, 0.5, 0], [0.0, 0.05, 0.95], [0.0, 0.0, 1.0]])
    s = gm.sample_score(probs, 0.9, num_classes=3)
    assert s["confident_share"] == 0.75 and s["class_coverage"] == pytest.approx(2 / 3)
    assert s["classes_present"] == [0, 2] and s["class_counts"] == [1, 0, 2]
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 3))
    assert gm.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shift = gm.frechet_distance(a, a + np.array([2.0, 0, 0]))
    assert shift == pytest.approx(4.0, rel=1e-3)
    assert gm.frechet_distance(a, 2 * a) == pytest.approx(3.0, rel=0.05)  # trace (1+4-2*2)*3
    codes = np.concatenate([rng.normal(0, 0.1, (20, 2)), rng.normal(5, 0.1, (20, 2))])
    labels = np.array([0] * 20 + [1] * 20)
    assert gm.knn_accuracy(codes, labels, codes + 0.01, labels, k=3) == 1.0
    assert gm.knn_accuracy(codes, labels, codes, 1 - labels, k=3) == 0.0
    assert gm.roc_auc([0.1, 0.2, 0.9, 0.8], [0, 0, 1, 1]) == 1.0
    assert gm.roc_auc([0.9, 0.8, 0.1, 0.2], [0, 0, 1, 1]) == 0.0
    assert gm.psnr(np.zeros((1, 2, 2, 1)), np.full((1, 2, 2, 1), 255.0)) == pytest.approx(0.0)


def test_vae_run_evaluation_sample_embed_and_export(tmp_path):
    from kerascv_apps.cli import main
    from kerascv_apps.experiment import export_run, train_model
    from kerascv_apps.export.tflite import TFLiteRunner

    run = train_model("vae", "digits", str(tmp_path / "vae"), model_kwargs=TINY_VAE,
                      dataset_kwargs={"holdout_classes": [7]}, evaluate=True,
                      task_kwargs={"num_samples": 20}, **COMMON)
    ev = run.evaluation
    assert ev["test_elbo"] == pytest.approx(-(ev["test_reconstruction_nll"] + ev["test_kl"]),
                                            rel=1e-5)
    assert ev["test_elbo"] < 0 and ev["test_kl"] >= 0
    assert ev["knn"]["code_size"] == 2 and 0 <= ev["knn"]["pca_accuracy"] <= 1
    assert ev["anomaly"]["holdout_classes"] == [7] and 0 <= ev["anomaly"]["roc_auc"] <= 1
    assert ev["latent_dim"] == 2
    assert {os.path.basename(p) for p in ev["plots"]} >= {
        "samples.png", "interpolation.png", "latent_map.png", "reconstructions.png"}
    info = json.load(open(tmp_path / "vae" / "run.json"))
    assert info["task"] == "generation" and info["dataset"] == "digits"
    # sample / embed through the CLI
    model_path = str(tmp_path / "vae" / "model.keras")
    assert main(["sample", "--model-path", model_path, "--n", "9", "--out",
                 str(tmp_path / "s")]) == 0
    saved = np.load(tmp_path / "s" / "samples.npz")
    assert saved["images"].shape == (9, 32, 32, 1) and saved["latents"].shape == (9, 2)
    decoder = run.task.export_network(run.model)
    np.testing.assert_allclose(np.asarray(decoder(saved["latents"])), saved["images"], atol=1e-3)
    assert main(["embed", "--model-path", model_path, "--out", str(tmp_path / "e.npz")]) == 0
    emb = np.load(tmp_path / "e.npz")
    assert emb["codes"].shape == (270, 2) and emb["labels"].shape == (270,)
    encoder = run.model.get_layer("encoder")
    x = np.stack([im for im, _ in run.splits.test.take(3).as_numpy_iterator()])
    np.testing.assert_allclose(emb["codes"][:3], np.asarray(encoder(x)[0]), atol=1e-4)
    assert main(["embed", "--model-path", model_path, "--out", str(tmp_path / "e.txt")]) == 2
    # export: the decoder on latent vectors, TFLite float32 equal to Keras within 1e-4
    report = export_run(run.model, run.task, run.splits, str(tmp_path / "export"), "vae",
                        formats=("savedmodel", "float32"), progress=lambda *_: None,
                        latency_runs=2)
    assert report["formats"]["float32"]["value"] >= 80.0  # PSNR vs Keras samples (dB)
    path = tmp_path / "export" / report["formats"]["float32"]["path"]
    z = np.random.default_rng(5).standard_normal((8, 2)).astype("float32")
    lite = TFLiteRunner(str(path)).predict(z)
    assert np.max(np.abs(lite - np.asarray(decoder(z)))) / 255.0 < 1e-4
    contract = json.load(open(str(path).replace(".tflite", ".json")))
    assert contract["input"]["shape"] == [1, 2] and contract["input"]["layout"] == "NC"
    import tensorflow as tf

    sm_dir = tmp_path / "export" / report["formats"]["savedmodel"]["path"]
    served = tf.saved_model.load(str(sm_dir)).signatures["serving_default"](
        latent=tf.constant(z))["image"].numpy()
    assert served.dtype == np.uint8 and served.shape == (8, 32, 32, 1)
    assert np.max(np.abs(served.astype(np.float32) - np.asarray(decoder(z)))) <= 0.5 + 1e-3


def test_dcgan_trains_as_a_pair_and_returns_the_generator(tmp_path):
    from kerascv_apps.experiment import train_model
    from kerascv_apps.training.gan import DCGAN

    run = train_model("dcgan", "digits", str(tmp_path / "g"), evaluate=True,
                      model_kwargs=dict(latent_dim=4, base_filters=4),
                      task_kwargs={"generator_loss": "minimax", "num_samples": 10,
                                   "discriminator_kwargs": {"base_filters": 4}}, **COMMON)
    assert run.model.name == "dcgan" and tuple(run.model.inputs[0].shape) == (None, 4)
    assert run.evaluation["latent_dim"] == 4 and "psnr" not in run.evaluation
    history = json.load(open(tmp_path / "g" / "run.json"))
    assert history["task_options"]["generator_loss"] == "minimax"
    saved = keras.models.load_model(str(tmp_path / "g" / "model.keras"), safe_mode=True)
    assert isinstance(saved, DCGAN) and saved.generator_loss == "minimax"
    z = np.zeros((2, 4), "float32")
    np.testing.assert_allclose(np.asarray(saved.generator(z)), np.asarray(run.model(z)),
                               atol=1e-5)
    # the paper's Adam beta_1 = 0.5 for both networks, the learning rate as given
    saved.compile(optimizer=keras.optimizers.Adam(2e-4))
    for opt in (saved.generator_optimizer, saved.discriminator_optimizer):
        assert opt.beta_1 == 0.5 and float(opt.learning_rate) == pytest.approx(2e-4)
    assert saved.generator_optimizer is not saved.discriminator_optimizer
    # sample from the saved pair: the generator's samples; embed refuses (no encoder)
    from kerascv_apps.cli import main

    model_path = str(tmp_path / "g" / "model.keras")
    assert main(["sample", "--model-path", model_path, "--n", "4", "--out",
                 str(tmp_path / "s")]) == 0
    samples = np.load(tmp_path / "s" / "samples.npz")
    np.testing.assert_allclose(np.asarray(run.model(samples["latents"])), samples["images"],
                               atol=1e-3)
    assert main(["embed", "--model-path", model_path, "--out", str(tmp_path / "e.npz")]) == 2
    assert not os.path.exists(tmp_path / "e.npz")
    # the saved pair exports its generator (what `kerascv-apps export` does with the file)
    from kerascv_apps.experiment import export_run

    report = export_run(saved, run.task, run.splits, str(tmp_path / "x"), "dcgan",
                        formats=("float32",), progress=lambda *_: None, latency_runs=2)
    assert report["formats"]["float32"]["value"] >= 80.0


def test_task_refusals():
    from kerascv_apps.data import load_dataset
    from kerascv_apps.experiment import task_for
    from kerascv_apps.tasks import get_task

    assert task_for("vae", load_dataset("digits")).name == "generation"
    with pytest.raises(ValueError, match="generator_loss"):
        get_task("generation", generator_loss="wgan")
    with pytest.raises(FileNotFoundError, match="classifier"):
        get_task("generation", classifier="/nonexistent.keras")
    with pytest.raises(ValueError, match="holdout_classes"):
        load_dataset("digits", holdout_classes=[11])
    splits = load_dataset("digits", holdout_classes="3")
    train_labels = [int(y) for _, y in splits.train.as_numpy_iterator()]
    test_labels = [int(y) for _, y in splits.test.as_numpy_iterator()]
    assert 3 not in train_labels and 3 in test_labels and len(test_labels) == 270
    with pytest.raises(ValueError, match="does not generate"):
        get_task("classification", num_classes=10).sample_files(None, 4, "x")


def test_dcgan_cli_train_prints_no_nan_and_default_export_has_metadata(tmp_path, capsys):
    """`train` of a generator prints no NaN metric and writes strict JSON; `export` without
    --formats writes the task's formats (no int8) and every TFLite file carries metadata
    describing a latent input; int8 asked for explicitly is refused, nothing left behind."""
    from kerascv_apps.cli import main
    from kerascv_apps.export.metadata import read_metadata
    from kerascv_apps.export.tflite import TFLiteRunner
    from kerascv_apps.io import load_model

    run_dir = str(tmp_path / "g")
    assert main(["train", "--model", "dcgan", "--run-dir", run_dir, "--epochs", "1",
                 "--steps-per-epoch", "2", "--batch-size", "16", "--augment", "none",
                 "--precision", "float32", "--model-arg", "latent_dim=4",
                 "--model-arg", "base_filters=4", "--task-arg", "num_samples=10"]) == 0
    printed = capsys.readouterr().out
    assert "nan" not in printed.lower() and "no test metric" in printed

    def no_nan(value):
        raise ValueError(f"non-finite number {value} in evaluation.json")

    evaluation = json.loads(open(os.path.join(run_dir, "evaluation.json")).read(),
                            parse_constant=no_nan)
    assert "psnr" not in evaluation and evaluation["latent_dim"] == 4
    model_path = os.path.join(run_dir, "model.keras")
    out = str(tmp_path / "export")
    assert main(["export", "--model-path", model_path, "--out", out, "--limit", "8"]) == 0
    report = json.load(open(os.path.join(out, "export_report.json")))
    assert set(report["formats"]) == {"savedmodel", "float32", "float16", "dynamic"}
    generator = load_model(model_path, compile=False).generator
    z = np.random.default_rng(1).standard_normal((3, 4)).astype("float32")
    for mode in ("float32", "float16", "dynamic"):
        path = os.path.join(out, report["formats"][mode]["path"])
        data = open(path, "rb").read()
        meta = read_metadata(data)
        assert meta["input_name"] == "latent" and meta["input_content"] == "feature"
        assert meta["input_mean"] is None and meta["output_ranges"] == [[0.0, 255.0]]
        assert meta["contract"] == json.load(open(path.replace(".tflite", ".json")))
        assert meta["contract"]["input"]["shape"] == [1, 4]
        lite = TFLiteRunner(data).predict(z)  # LiteRT runs the file with its metadata
        tol = 1e-4 if mode == "float32" else 0.05
        assert np.max(np.abs(lite - np.asarray(generator(z)))) / 255.0 < tol
    refused = str(tmp_path / "int8")
    assert main(["export", "--model-path", model_path, "--out", refused,
                 "--formats", "float32,int8", "--limit", "8"]) != 0
    assert "int8 export of a generator is not supported" in capsys.readouterr().err
    assert not os.path.exists(refused)
