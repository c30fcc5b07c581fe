"""The generation Task: models that learn the data distribution (autoencoder, VAE, DCGAN),
their representation (bottleneck codes), anomaly scores, samples and generator export.

Data: any image source with class labels (default: the package's ``digits``); the labels are
not used for training, only by the evaluation (k-NN on codes, anomaly ROC-AUC on
``holdout_classes``, class coverage of samples). Every model keeps the package's pixel
convention: images in and out are [0, 255].

What ``fit`` runs:
- an autoencoder (``autoencoder``, ``autoencoder_dense``): image -> image, pixel MSE;
- ``vae``: image -> image, Bernoulli reconstruction (``BernoulliReconstructionLoss``) plus the
  KL term its ``Reparameterize`` layer adds: the negative ELBO;
- a generator (``dcgan``): wrapped by :meth:`GenerationTask.training_model` in
  :class:`~kerascv_apps.training.gan.DCGAN` with a ``dcgan_discriminator`` (the SRGAN
  phase's glue, ``training.gan.AdversarialPair``); evaluation and export get the generator.

Export ships the generator (the VAE's / autoencoder's ``decoder``, DCGAN's G): TFLite and
SavedModel files take a float32 latent vector (N, latent_dim) and return [0, 255] images;
verification compares their samples with the Keras generator's on fixed latent vectors
(``psnr`` vs Keras, capped at 100 dB; the report's ``max_abs_diff`` in pixels).
"""

import os

import numpy as np

from kerascv_apps.tasks.base import Task, register_task

CONFIDENCE = 0.9  # a sample "is" a digit when the classifier gives it >= 0.9
VERIFY_LATENTS = 64  # fixed latent vectors the exported generator is verified on


def _arrays(dataset, limit=None):
    """(images float32, labels) of an unbatched (image, label) split."""
    images, labels = [], []
    for i, (image, label) in enumerate(dataset.as_numpy_iterator()):
        if limit is not None and i >= limit:
            break
        images.append(np.asarray(image, np.float32))
        labels.append(np.asarray(label))
    if not images:
        raise ValueError("generation: the split is empty")
    return np.stack(images), np.stack(labels)


def _tile(images, rows, cols, pad=1):
    """[0, 255] images (N, H, W, C) as one uint8 grid picture (rows x cols)."""
    images = np.clip(np.round(np.asarray(images, np.float32)), 0, 255).astype(np.uint8)
    n, h, w, c = images.shape
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, np.uint8)
    for i in range(min(n, rows * cols)):
        r, k = divmod(i, cols)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h,
             pad + k * (w + pad):pad + k * (w + pad) + w] = images[i]
    return grid[..., 0] if c == 1 else grid


def write_png(path, grid, scale=2):
    """Writes a uint8 picture atomically (nearest upscaling by ``scale`` for small digits)."""
    import io

    from PIL import Image

    from kerascv_apps.io import atomic_write_bytes

    image = Image.fromarray(grid)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
    return path


@register_task
class GenerationTask(Task):
    """Generative models and autoencoders on images (see the module docstring).

    Args:
        generator_loss: the DCGAN generator's loss, ``"non_saturating"`` (-log D(G(z)),
            default) or ``"minimax"`` (log(1 - D(G(z))), the lecture's objective as written);
            the discriminator always maximizes E[log D(x)] + E[log(1 - D(G(z)))].
        discriminator_kwargs: builder arguments of ``dcgan_discriminator``.
        classifier: a ``.keras`` classifier of the data's classes (e.g. ``lenet5`` trained on
            ``digits`` by this package): with it, evaluation scores ``num_samples`` samples
            (share with confidence >= 0.9, class coverage) and the Fréchet distance between
            samples and training images in its penultimate features.
        num_samples: samples drawn for the sample score and the pictures.
        knn_neighbors: k of the k-NN classifier on codes (and on PCA codes of the same size).
        seed: seed of the latent draws of evaluation and ``sample``.
    """

    name = "generation"
    # export verification: PSNR of an exported generator's samples vs the Keras generator's
    # on the same latent vectors; evaluation: reconstruction PSNR of models with an encoder
    # (a generator alone has none: see ``headline``)
    quality_metric = "psnr"
    higher_is_better = True
    default_dataset = "digits"
    # the exported network takes a latent vector: no RGB wrapper; its TFLite metadata
    # describes a float latent input (a feature vector) and the image output
    metadata_kind = "generator"
    image_input = False
    # No full-integer int8 (int8, int16x8, litert_*): its input would be quantized with one
    # scale/zero point for an unbounded N(0, I) latent vector and its calibration would need
    # latent draws, not images; ``dynamic`` already stores the weights as int8 (about 4x
    # smaller) with float activations, and the samples stay comparable with Keras. Asking
    # for int8 explicitly is refused (``calibration_images``).
    export_formats = ("savedmodel", "float32", "float16", "dynamic")
    option_attributes = {}

    def __init__(self, generator_loss="non_saturating", discriminator_kwargs=None,
                 classifier=None, num_samples=1000, knn_neighbors=5, seed=0, **kwargs):
        super().__init__(**kwargs)
        from kerascv_apps.losses.generation import GENERATOR_LOSSES

        if generator_loss not in GENERATOR_LOSSES:
            raise ValueError(f"generator_loss must be one of {GENERATOR_LOSSES}, got "
                             f"{generator_loss!r}")
        if classifier is not None and not os.path.isfile(classifier):
            raise FileNotFoundError(f"classifier {classifier!r}: no such file (expected a "
                                    f".keras classifier, e.g. a lenet5 run on digits)")
        self.generator_loss = generator_loss
        self.discriminator_kwargs = dict(discriminator_kwargs or {})
        self.classifier = classifier
        self.num_samples = int(num_samples)
        self.knn_neighbors = int(knn_neighbors)
        self.seed = int(seed)
        self.last_pictures = {}

    @classmethod
    def accepts_data(cls, data_task):
        """Any labelled image source (a classification dataset) or one of this task's."""
        return data_task in (cls.name, "classification")

    # --- model structure ------------------------------------------------------------------
    @staticmethod
    def parts(model):
        """``{"encoder", "decoder"}`` of a generation model (or of a DCGAN training pair)."""
        from kerascv_apps.models.generation.common import model_parts

        return model_parts(getattr(model, "generator", model))

    @staticmethod
    def is_vae(model):
        return any(layer.name == "reparameterize" for layer in getattr(model, "layers", []))

    def model_kwargs(self, splits):
        return {"input_shape": tuple(splits.image_shape)}

    def validate_model(self, model, splits):
        """An autoencoder takes and returns the data's images; a generator returns them."""
        parts = self.parts(model)
        shape = tuple(splits.image_shape)
        if parts["encoder"] is not None:
            super().validate_model(model, splits)
        out = tuple(parts["decoder"].outputs[0].shape[1:]) if parts["decoder"] else None
        if out is not None and out != shape:
            raise ValueError(f"model {model.name!r} makes {out} images but dataset "
                             f"{splits.name!r} has {shape} images; drop --model-arg "
                             f"input_shape (it follows from the data)")

    # --- training -------------------------------------------------------------------------
    def training_model(self, model):
        """A generator (latent-vector input) trains in the DCGAN pair; others as they are."""
        if self.parts(model)["encoder"] is not None or len(model.inputs[0].shape) != 2:
            return model
        from kerascv_apps.registry import build_model
        from kerascv_apps.training.gan import DCGAN

        disc = build_model("dcgan_discriminator", input_shape=tuple(model.outputs[0].shape[1:]),
                           **self.discriminator_kwargs)
        return DCGAN(model, disc, generator_loss=self.generator_loss, seed=self.seed)

    def trained_model(self, fitted):
        return getattr(fitted, "generator", fitted)

    def pipeline_map_fn(self):
        """(image, label) -> (image, image): autoencoders reproduce their input; the DCGAN
        pair takes the images as the real batch."""
        return lambda image, label: (image, image)

    def loss(self, model=None):
        from kerascv_apps.losses.generation import BernoulliReconstructionLoss
        from kerascv_apps.losses.super_resolution import PixelLoss

        if model is not None and self.is_vae(model):
            return BernoulliReconstructionLoss()
        return PixelLoss("mse")  # autoencoders (a DCGAN pair has its own losses)

    def metrics(self, model=None):
        from kerascv_apps.metrics.super_resolution import psnr_metric

        if model is not None and hasattr(model, "generator"):
            return []
        return [psnr_metric]

    def score(self, targets, predictions):
        from kerascv_apps.metrics.generation import psnr

        return psnr(targets, predictions)

    # --- evaluation -----------------------------------------------------------------------
    def latents(self, count, dim, seed=None):
        return np.random.default_rng(self.seed if seed is None else seed).standard_normal(
            (count, dim)).astype(np.float32)

    def evaluate_split(self, model, splits, split="test"):
        """Every metric of a generation model on ``split`` (see the class docstring)."""
        from kerascv_apps.metrics import generation as gm

        model = self.trained_model(model)
        parts = self.parts(model)
        images, labels = _arrays(getattr(splits, split))
        results = {"num_images": int(len(images))}
        self.last_pictures = {}
        if parts["encoder"] is not None:
            recon = np.asarray(model.predict(images, batch_size=128, verbose=0), np.float32)
            results["psnr"] = gm.psnr(images, recon)
            errors = np.mean(((images - recon) / 255.0) ** 2, axis=(1, 2, 3))
            results["reconstruction_mse"] = float(np.mean(errors))
            self.last_pictures["reconstructions"] = np.concatenate([images[:16], recon[:16]])
            if self.is_vae(model):
                results.update(self.elbo(model, images))
            train_images, train_labels = _arrays(splits.train)
            codes = self.embed(model, np.concatenate([train_images, images]))
            train_codes, test_codes = codes[:len(train_images)], codes[len(train_images):]
            dim = train_codes.shape[1]
            holdout = splits.info.get("holdout_classes") or []
            seen = ~np.isin(labels, holdout)
            k = self.knn_neighbors
            results["knn"] = {
                "k": k, "code_size": int(dim),
                "bottleneck_accuracy": gm.knn_accuracy(train_codes, train_labels,
                                                       test_codes[seen], labels[seen], k)}
            if dim < min(len(train_images), int(np.prod(images.shape[1:]))):
                pca_train, pca_test = gm.pca_codes(train_images, images[seen], dim)
                results["knn"]["pca_accuracy"] = gm.knn_accuracy(pca_train, train_labels,
                                                                 pca_test, labels[seen], k)
            if holdout:
                results["anomaly"] = {
                    "holdout_classes": list(holdout), "score": "reconstruction MSE",
                    "roc_auc": gm.roc_auc(errors, ~seen),
                    "mean_error_seen": float(np.mean(errors[seen])),
                    "mean_error_holdout": float(np.mean(errors[~seen]))}
        if parts["decoder"] is not None:
            decoder = parts["decoder"]
            dim = int(decoder.inputs[0].shape[-1])
            samples = np.asarray(decoder.predict(self.latents(self.num_samples, dim),
                                                 batch_size=250, verbose=0), np.float32)
            results["latent_dim"] = dim
            self.last_pictures.update(self.pictures(decoder))
            if self.classifier:
                train_images, _ = _arrays(splits.train)
                results["sample_score"] = self.sample_score(samples, train_images)
        return results

    def headline(self, results):
        """What ``train`` prints: reconstruction PSNR (models with an encoder) and the
        share of confident samples (with a ``classifier``); a generator without a
        classifier has no test metric (no reconstruction), said so instead of a NaN."""
        lines = {}
        if "psnr" in results:
            lines["psnr"] = results["psnr"]
        if "sample_score" in results:
            lines["sample_confident_share"] = results["sample_score"]["confident_share"]
        if "test_elbo" in results:
            lines["test_elbo"] = results["test_elbo"]
        if not lines:
            return {"no test metric (a generator reconstructs nothing; pass --task-arg "
                    "classifier=<digits classifier .keras> for the sample score)": None}
        return lines

    def elbo(self, model, images, batch_size=128):
        """The VAE's test ELBO per image (nats; one z sample per image, as in training):
        -(reconstruction NLL + KL), with both terms."""
        import keras

        from kerascv_apps.layers.generation import kl_divergence
        from kerascv_apps.losses.generation import BernoulliReconstructionLoss

        parts = self.parts(model)
        nll = BernoulliReconstructionLoss(reduction=None)
        recon_terms, kl_terms = [], []
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size]
            mu, log_var = parts["encoder"](x, training=False)
            z = mu + keras.ops.exp(0.5 * log_var) * keras.random.normal(
                keras.ops.shape(mu), seed=self.seed + start)
            x_hat = parts["decoder"](z, training=False)
            recon_terms.append(np.asarray(nll(x, x_hat)))
            kl_terms.append(np.asarray(kl_divergence(mu, log_var)))
        recon, kl = np.concatenate(recon_terms), np.concatenate(kl_terms)
        return {"test_elbo": float(-np.mean(recon + kl)),
                "test_reconstruction_nll": float(np.mean(recon)), "test_kl": float(np.mean(kl))}

    def embed(self, model, images, batch_size=256):
        """Bottleneck codes of ``images`` (the VAE: mu)."""
        encoder = self.parts(model)["encoder"]
        if encoder is None:
            raise ValueError(f"model {model.name!r} has no encoder: only autoencoders and "
                             f"VAEs embed images")
        out = encoder.predict(np.asarray(images, np.float32), batch_size=batch_size, verbose=0)
        return np.asarray(out[0] if isinstance(out, (list, tuple)) else out, np.float32)

    def classifier_model(self):
        """(classifier, penultimate-feature model) of the ``classifier`` file."""
        import keras

        from kerascv_apps.io import load_model

        clf = load_model(self.classifier, compile=False)
        dense = [layer for layer in clf.layers if isinstance(layer, keras.layers.Dense)]
        if not dense:
            raise ValueError(f"classifier {self.classifier}: no Dense class layer")
        return clf, keras.Model(clf.inputs, dense[-1].input)

    def sample_score(self, samples, reference_images):
        """The classifier's score of ``samples`` and their Fréchet distance to
        ``reference_images`` in its penultimate features."""
        from kerascv_apps.metrics.generation import frechet_distance, sample_score

        clf, features = self.classifier_model()
        probs = np.asarray(clf.predict(samples, batch_size=250, verbose=0), np.float64)
        if probs.min() < 0 or not np.allclose(probs.sum(-1), 1.0, atol=1e-3):
            import scipy.special

            probs = scipy.special.softmax(probs, axis=-1)
        score = sample_score(probs, CONFIDENCE)
        score["frechet_distance"] = frechet_distance(
            features.predict(samples, batch_size=250, verbose=0),
            features.predict(reference_images, batch_size=250, verbose=0))
        score["frechet_reference"] = "training split"
        score["classifier"] = os.path.abspath(self.classifier)
        return score

    # --- pictures: samples, interpolation, latent map ---------------------------------------
    def pictures(self, decoder, n=64, steps=10, rows=8):
        """{"samples": (n, H, W, C), "interpolation": (rows*steps, ...), "latent_map":
        (steps*steps, ...)} from the decoder/generator (seeded latent draws)."""
        dim = int(decoder.inputs[0].shape[-1])
        run = lambda z: np.asarray(decoder.predict(z, batch_size=256, verbose=0))  # noqa: E731
        ends = self.latents(2 * rows, dim, self.seed + 1)
        t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :, None]
        line = (1 - t) * ends[:rows, None] + t * ends[rows:, None]  # (rows, steps, dim)
        # the 2-D latent map: z1, z2 over the N(0, 1) quantiles 5%..95%, other dims 0
        from scipy.stats import norm

        grid = norm.ppf(np.linspace(0.05, 0.95, steps)).astype(np.float32)
        plane = np.zeros((steps, steps, dim), np.float32)
        plane[..., 0] = grid[None, :]
        if dim > 1:
            plane[..., 1] = grid[::-1, None]
        return {"samples": run(self.latents(n, dim)),
                "interpolation": run(line.reshape(-1, dim)),
                "latent_map": run(plane.reshape(-1, dim)), "steps": steps, "rows": rows}

    def write_pictures(self, pictures, out_dir):
        """PNG grids of ``pictures`` under ``out_dir``; returns their paths."""
        os.makedirs(out_dir, exist_ok=True)
        paths = []
        steps, rows = pictures.get("steps", 10), pictures.get("rows", 8)
        if "samples" in pictures:
            n = len(pictures["samples"])
            cols = int(np.ceil(np.sqrt(n)))
            paths.append(write_png(os.path.join(out_dir, "samples.png"),
                                   _tile(pictures["samples"], int(np.ceil(n / cols)), cols)))
        if "interpolation" in pictures:
            paths.append(write_png(os.path.join(out_dir, "interpolation.png"),
                                   _tile(pictures["interpolation"], rows, steps)))
        if "latent_map" in pictures:
            paths.append(write_png(os.path.join(out_dir, "latent_map.png"),
                                   _tile(pictures["latent_map"], steps, steps)))
        if "reconstructions" in pictures:
            paths.append(write_png(os.path.join(out_dir, "reconstructions.png"),
                                   _tile(pictures["reconstructions"], 2, 16)))
        return paths

    def plots(self, results, out_dir):
        """Sample grid, latent interpolation, 2-D latent map and reconstructions (inputs top
        row, outputs bottom) of the last evaluation."""
        return self.write_pictures(self.last_pictures, out_dir)

    def sample_files(self, model, n, out_dir, seed=None):
        """``kerascv-apps sample``: ``n`` samples, an interpolation grid and a 2-D latent map
        as PNG grids and ``samples.npz`` (latents and images) under ``out_dir``."""
        import io

        from kerascv_apps.io import atomic_write_bytes

        decoder = self.parts(self.trained_model(model))["decoder"]
        if decoder is None:
            raise ValueError(f"model {model.name!r} has no decoder or generator to sample")
        if seed is not None:
            self.seed = int(seed)
        pictures = self.pictures(decoder, n=int(n))
        paths = self.write_pictures(pictures, out_dir)
        buffer = io.BytesIO()
        np.savez(buffer, latents=self.latents(int(n), int(decoder.inputs[0].shape[-1])),
                 images=pictures["samples"])
        npz = os.path.join(out_dir, "samples.npz")
        atomic_write_bytes(npz, buffer.getvalue())
        return {"latent_dim": int(decoder.inputs[0].shape[-1]), "num_samples": int(n),
                "seed": self.seed, "files": paths + [npz]}

    def embed_split(self, model, dataset, out_path):
        """``kerascv-apps embed``: bottleneck codes and labels of an unbatched split written
        atomically to ``out_path`` (``.npz``: ``codes``, ``labels``)."""
        import io

        from kerascv_apps.io import atomic_write_bytes

        images, labels = _arrays(dataset)
        codes = self.embed(self.trained_model(model), images)
        buffer = io.BytesIO()
        np.savez(buffer, codes=codes, labels=labels)
        atomic_write_bytes(out_path, buffer.getvalue())
        return {"file": out_path, "num_images": int(len(codes)), "code_size": int(codes.shape[1])}

    # --- export: the generator, on latent vectors ------------------------------------------
    def export_network(self, model):
        decoder = self.parts(self.trained_model(model))["decoder"]
        if decoder is None:
            raise ValueError(f"model {model.name!r} has no decoder or generator to export")
        return decoder

    def verification_data(self, network, splits, limit=None):
        """(latent, Keras image) pairs: exported files are scored against the Keras
        generator's samples on the same fixed latent vectors."""
        import tensorflow as tf

        dim = int(network.inputs[0].shape[-1])
        z = self.latents(min(limit or VERIFY_LATENTS, VERIFY_LATENTS), dim, self.seed + 2)
        reference = np.asarray(network.predict(z, verbose=0), np.float32)
        return tf.data.Dataset.from_tensor_slices((z, reference))

    def calibration_images(self, splits, count):
        """Latent vectors (the exported generator's inputs) for int8 calibration."""
        raise ValueError("generation: int8 export of a generator is not supported (its input "
                         "is a float latent vector); export savedmodel, float32, float16 or "
                         "dynamic")

    def input_contract(self, channels):
        return {"layout": "NC", "meaning": "latent vector z ~ N(0, I)", "channels": channels}

    def output_contract(self, activation, channels):
        return {"meaning": "image", "range": [0.0, 255.0],
                "color_space": "RGB" if channels == 3 else "GRAYSCALE",
                "postprocess": "round and clip to [0, 255] for uint8 pixels"}

    def serving_outputs(self, outputs):
        """The generated image as uint8 [batch, H, W, C]."""
        import keras

        return {"image": keras.ops.cast(keras.ops.clip(keras.ops.round(outputs), 0, 255),
                                        "uint8")}

    def serving_class_names(self, model):
        return None
