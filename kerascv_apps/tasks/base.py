"""The Task interface and its registry."""

import numpy as np

from kerascv_apps.registry import TASKS as TASK_REGISTRY


def register_task(cls):
    """Class decorator registering a Task subclass under its ``name``."""
    return TASK_REGISTRY.register(cls.name)(cls)


def get_task_class(name):
    """The registered Task class for ``name`` (for its classmethods, without instantiating)."""
    return TASK_REGISTRY.get(name).obj


def default_dataset_for(model_name):
    """The bundled dataset of a registered model's task (``Task.default_dataset``)."""
    from kerascv_apps.registry import get_entry

    return get_task_class(get_entry(model_name).task).default_dataset


def get_task(name, splits=None, **kwargs):
    """Returns a Task instance for ``name`` (``classification``, ``segmentation``, ...);
    with ``splits`` its settings follow the data (classes, SR scale) via ``from_splits``."""
    cls = get_task_class(name)
    if splits is not None:
        return cls.from_splits(splits, **kwargs)
    return cls(**kwargs)


class Task:
    """What a task contributes to training, evaluation and export.

    Subclasses set ``name``, ``quality_metric`` (the one number export verification compares
    between the Keras model and each TFLite file) and ``higher_is_better``.
    """

    name = None
    quality_metric = None
    higher_is_better = True
    # Pipelines: examples of varying size (whole SR photos) are evaluated one at a time, and a
    # training split of random crops is repeated for a fixed number of steps per epoch.
    eval_batch_size = None  # None: the training batch size
    steps_per_epoch = None  # None: one pass over the training split
    # constructor arguments a user may set are declared in ``tasks/options.py`` under the
    # task's name; an option kept under another attribute name is mapped here
    option_attributes = {}
    # outputs are class scores that Grad-CAM / saliency can explain (explain/gradcam.py)
    explainable = False

    def __init__(self, num_classes=None, class_names=None):
        self.num_classes = num_classes
        self.class_names = list(class_names) if class_names is not None else None

    @classmethod
    def from_splits(cls, splits, **kwargs):
        """The task configured for a dataset (its classes); subclasses add what they need."""
        if splits.num_classes:
            kwargs.setdefault("num_classes", splits.num_classes)
            kwargs.setdefault("class_names", splits.class_names)
        return cls(**kwargs)

    @classmethod
    def accepts_data(cls, data_task):
        """Whether a dataset of ``data_task`` (its source's task) fits this task (default:
        its own datasets only)."""
        return data_task == cls.name

    @classmethod
    def options(cls):
        """``{name: Option}`` of the options a user may set (see ``tasks/options.py``)."""
        from kerascv_apps.tasks.options import task_options

        return task_options(cls.name)

    def option_values(self):
        """Every declared option's value in this task (JSON-able; run.json records it)."""
        from kerascv_apps.tasks.options import jsonable

        return {name: jsonable(getattr(self, self.option_attributes.get(name, name)))
                for name in self.options()}

    @classmethod
    def dataset_defaults(cls, entry, model_kwargs, model=None):
        """Dataset arguments that follow from the model (e.g. the SR scale); {} by default.
        ``entry``: the model's registry entry (the run's one lookup: read ``entry.info``,
        don't look the name up again or build the model); ``model``: a model given to the
        run, if any."""
        return {}

    # --- training -------------------------------------------------------------------------
    def training_model(self, model):
        """The model ``fit`` runs for ``model`` (default: itself). A task with its own train
        step (the SRGAN adversarial phase) wraps the model here."""
        return model

    def trained_model(self, fitted):
        """The model to evaluate and export from what ``fit`` ran (undoes ``training_model``)."""
        return fitted

    def loss(self, model=None):
        raise NotImplementedError

    def metrics(self, model=None):
        return []

    def monitor(self):
        """(metric name, mode) that checkpoints and early stopping watch."""
        return "val_loss", "min"

    # --- evaluation -----------------------------------------------------------------------
    def prediction_model(self, model):
        """The model whose outputs ``score``, ``evaluate`` and the serving signatures take
        (default: ``model``; detection decodes raw outputs to detections here)."""
        return model

    def prediction_outputs(self, outputs):
        """The predictions ``score`` takes from what a predictor returned (a Keras model, a
        TFLite or ONNX runner): by default its first output."""
        return outputs[0] if isinstance(outputs, (list, tuple)) else outputs

    def keep_images(self, images):
        """Receives the first batch of evaluated inputs (a task whose plots draw them keeps
        them; by default nothing is kept)."""

    def score(self, targets, predictions):
        """The quality metric from numpy targets and model outputs (a float)."""
        raise NotImplementedError

    def evaluate(self, targets, predictions):
        """A JSON-serializable dict of every metric; must include ``quality_metric``."""
        return {self.quality_metric: float(self.score(targets, predictions))}

    def plots(self, results, out_dir):
        """Writes PNG figures for ``evaluate``'s results; returns their paths."""
        return []

    def evaluate_split(self, model, splits, split="test"):
        """Every metric of ``model`` on ``split`` when the task evaluates by itself (e.g. a
        generator, which takes no images); None: the model predicts the split's inputs and
        ``evaluate`` scores the outputs (the default)."""
        return None

    def quality_drop(self, reference, other):
        """How much worse ``other`` is than ``reference`` (positive = worse)."""
        return (reference - other) if self.higher_is_better else (other - reference)

    def model_kwargs(self, splits):
        """Builder arguments that follow from the data (input shape, number of classes)."""
        kwargs = {"input_shape": tuple(splits.image_shape)}
        if splits.num_classes:
            kwargs["num_classes"] = splits.num_classes
        return kwargs

    def validate_model(self, model, splits):
        """Raises a clear error when a built model cannot fit the data: its input shape
        against the data's model inputs (after ``pipeline_map_fn``), and, for tasks with
        classes, its class outputs against the data's number of classes. Runs before any
        file of a run is written or moved, so a mismatch is refused, not found mid-``fit``."""
        data = splits.train
        fn = self.pipeline_map_fn()
        if fn is not None:
            data = data.map(fn)
        spec = data.element_spec[0]
        data_shape = tuple(getattr(spec, "shape", ()) or ())
        model_shape = tuple(model.inputs[0].shape[1:])
        fits = len(data_shape) == len(model_shape) and all(
            d is None or m is None or d == m for d, m in zip(data_shape, model_shape))
        if not fits:
            show = lambda shape: "x".join("?" if d is None else str(d) for d in shape)  # noqa: E731
            raise ValueError(
                f"model {model.name!r} takes {show(model_shape)} inputs but dataset "
                f"{splits.name!r} gives {show(data_shape)} images; drop --model-arg "
                f"input_shape (it follows from the data) or load the data at that size")
        classes = getattr(self, "num_classes", None) or splits.num_classes
        if classes and self.name in ("classification", "segmentation"):
            out = model.outputs[0].shape[-1]
            if out is not None and out != classes and not (out == 1 and classes == 2):
                raise ValueError(
                    f"model {model.name!r} predicts {out} classes but dataset {splits.name!r} "
                    f"has {classes}; drop --model-arg num_classes (it follows from the data)")

    # --- data hooks -----------------------------------------------------------------------
    def augmentation(self, kind, splits):
        """The training augmentation for ``kind`` ('none', 'tf', 'albumentations') on
        ``splits`` (a ``DatasetSplits``; its ``info`` may say e.g. whether flips are safe)."""
        return None

    def pipeline_map_fn(self):
        """A deterministic ``(image, target) -> (model input, target)`` map applied after
        augmentation in every split (e.g. making LR inputs); None for identity."""
        return None

    def calibration_images(self, splits, count):
        """Model inputs from the training split for int8 calibration (float32 batch)."""
        from kerascv_apps.data.pipeline import take_images

        ds = splits.train.shuffle(min(count * 4, 10_000), seed=0)
        fn = self.pipeline_map_fn()
        if fn is not None:
            ds = ds.map(fn)
        return take_images(ds, count)

    @classmethod
    def clean_image(cls, image, target):
        """The full-quality image of one example (tensors): what the restoration data
        degrades when it wraps this task's dataset (``data/sources/restoration.py``)."""
        return image

    def predict_files(self, model, paths, out_dir=None):
        """Runs the model on image files; returns a JSON-serializable result per file."""
        raise NotImplementedError(f"predict is not implemented for task {self.name!r}")

    def sample_files(self, model, n, out_dir, seed=None):
        """``kerascv-apps sample``: draws ``n`` samples into ``out_dir`` (generative tasks)."""
        raise ValueError(f"sample: a {self.name} model does not generate images (sample "
                         f"takes a generation model: vae, dcgan, an autoencoder's decoder)")

    def embed_split(self, model, dataset, out_path):
        """``kerascv-apps embed``: writes the codes of a split to ``out_path``."""
        raise ValueError(f"embed: a {self.name} model has no bottleneck to embed (embed takes "
                         f"an autoencoder or a VAE)")

    # --- export ---------------------------------------------------------------------------
    def serving_outputs(self, outputs):
        """Named outputs of the serving signatures."""
        return {"outputs": outputs}

    def predict_batches(self, predict_fn, dataset, limit=None):
        """Runs ``predict_fn`` over an unbatched (image, target) dataset one image at a time.

        Returns ``(targets, predictions)`` stacked as numpy arrays. One image at a time is
        what a phone does and what a batch-1 TFLite model accepts.
        """
        _, targets, preds = self.predict_each(predict_fn, dataset, limit)
        return np.stack(targets), np.stack(preds)

    @staticmethod
    def predict_each(predict_fn, dataset, limit=None, keep_inputs=False):
        """Lists ``(inputs or None, targets, predictions)``, one image at a time (the first
        output of multi-output models); for tasks whose examples differ in size."""
        inputs, targets, preds = [], [], []
        for i, (image, target) in enumerate(dataset.as_numpy_iterator()):
            if limit is not None and i >= limit:
                break
            image = np.asarray(image, np.float32)
            out = predict_fn(image[None])
            if isinstance(out, (list, tuple)):
                out = out[0]
            preds.append(np.asarray(out)[0])
            targets.append(np.asarray(target))
            if keep_inputs:
                inputs.append(image)
        return (inputs if keep_inputs else None), targets, preds

    # --- task specifics the data, export and tuning layers ask for --------------------------
    # (they never compare a task name; each hook below is what one of them used to branch on)

    default_dataset = None  # the bundled dataset a command uses when none is named

    # TFRecord examples (``kerascv-apps prepare`` writes them, the ``tfrecord:`` source reads
    # them): the target is stored as the feature ``record_target``; None: no TFRecord format.
    record_target = None
    # the stored target is one class id per record (checked against num_classes at load)
    record_holds_class_ids = False

    @classmethod
    def file_target(cls, files, index, stream):
        """``(target, where)`` of example ``index`` of a streamed folder split (``files``: its
        columns, e.g. ``files["label"]``); ``where`` names it in errors."""
        raise NotImplementedError(f"task {cls.name!r} has no TFRecord format")

    @classmethod
    def encode_target(cls, target, where="target"):
        """The ``tf.train.Feature`` stored for one target (numpy)."""
        raise NotImplementedError(f"task {cls.name!r} has no TFRecord format")

    @classmethod
    def target_feature_spec(cls):
        """The ``tf.io.FixedLenFeature`` that parses ``encode_target``'s feature."""
        raise NotImplementedError(f"task {cls.name!r} has no TFRecord format")

    @classmethod
    def decode_target(cls, value, size):
        """The target tensor from the parsed feature, for images resized to ``size``."""
        raise NotImplementedError(f"task {cls.name!r} has no TFRecord format")

    # tensorflow_datasets (the ``tfds:<name>`` source): datasets whose features fit several
    # tasks go to the one with the highest ``tfds_priority``.
    tfds_features = None  # e.g. "image + label" (for the error listing what fits); None: none
    tfds_priority = 0

    @classmethod
    def tfds_target(cls, features, name, num_classes=None):
        """For a tfds dataset with ``features`` that fit this task: ``(target_fn, num_classes,
        class_names, info)`` where ``target_fn(example, size)`` returns the target tensor;
        None when they do not fit."""
        return None

    # export
    metadata_kind = None  # TFLite metadata of the outputs: "classifier", "segmenter", "image"
    # the exported network takes images (TFLite files of gray models get an RGB input); a
    # generator takes a latent vector
    image_input = True
    embeds_metadata = True  # TFLite metadata (image input) embedded in every file
    # the formats ``export`` writes when none are asked for (None: ExportConfig's defaults);
    # a task whose files cannot be full-integer names the ones that make sense
    export_formats = None

    def headline(self, results):
        """``{name: value}`` that ``train`` prints for ``results`` (default: the quality
        metric); a value of None prints the name alone (a message)."""
        return {self.quality_metric: results.get(self.quality_metric)}

    def export_network(self, model):
        """The network the export ships (a generator task: the decoder / generator)."""
        return model

    def verification_data(self, network, splits, limit=None):
        """The unbatched (input, target) data exported files are verified on with ``score``
        (default: the test split)."""
        return splits.test

    def input_contract(self, channels):
        """What the exported file's input is (the contract's input fields)."""
        return {"layout": "NHWC", "channels": channels,
                "color_space": "RGB" if channels == 3 else "GRAYSCALE",
                "pixel_range": [0.0, 255.0],
                "normalization": {"mean": [0.0] * channels, "std": [1.0] * channels}}

    def output_contract(self, activation, channels):
        """What an output of the exported file means (the contract's ``meaning``, ``range``,
        ``postprocess``...), from the model's output ``activation`` and last-axis size."""
        return {"meaning": "raw", "range": None, "postprocess": None}

    def contract_fields(self, runner, input_shape):
        """Task fields of the phone contract measured on the converted file (``runner``: a
        ``TFLiteRunner``): ``scale`` for super-resolution, None otherwise."""
        return {"scale": None}

    def convert_tflite(self, model, mode, calibration, input_shape, integer_io):
        """The TFLite flatbuffer of ``model`` in ``mode`` when this task converts its models
        itself (detection: files ending in TFLite's DETECTION_POSTPROCESS op); None: the
        export pipeline's own conversion."""
        return None

    def embed_tflite_metadata(self, tflite_bytes, contract):
        """``tflite_bytes`` with the phone contract embedded as TFLite metadata (default:
        ``export.metadata.embed_metadata`` for ``metadata_kind``)."""
        from kerascv_apps.export.metadata import embed_metadata

        return embed_metadata(tflite_bytes, contract, self.metadata_kind)

    def serving_class_names(self, model):
        """Class names a SavedModel answers with beside ``class_id`` (None: no names)."""
        return [str(n) for n in self.class_names] if self.class_names else None

    def tfmot_loss(self, model):
        """The loss fine-tuning of the tf_keras twin (QAT, pruning, clustering) minimizes: the
        task's own loss, called on the twin's tensors."""
        loss = self.loss(model)
        return lambda y_true, y_pred: loss(y_true, y_pred)

    def benchmark_targets(self, model, batch, rng):
        """Random training targets of ``batch`` images for ``kerascv-apps benchmark``'s
        images/s (``rng``: a NumPy Generator): class ids in ``[0, num_classes)`` by default."""
        return rng.integers(0, self.num_classes or 10, batch).astype("int32")

    # tuning: hyperparameters this task adds to the search space (name -> choices)
    tuning_space = {}
    # tuning: model-builder arguments of this task's families (name -> choices), tuned for the
    # models whose builder takes them (as the width multipliers are) and written into the best
    # train command as --model-arg
    tuning_model_space = {}

    def tuning_objective(self):
        """``(name, mode)`` a tuning trial is scored by: the training monitor (read from the
        trial run's history) by default. ``"val_" + quality_metric`` when that is not a
        history column: the trial's model is evaluated on the validation split with
        ``score`` (losses with tuned hyperparameters are not comparable between trials)."""
        return self.monitor()

    def apply_hyperparameters(self, hp, space):
        """Sets this task's options for one trial from KerasTuner's ``hp`` (keys of
        ``tuning_space`` present in ``space``)."""

    @classmethod
    def tuned_task_kwargs(cls, values):
        """Task arguments for tuned ``values`` of ``tuning_space`` keys (popped from
        ``values``), for the train command the tuner writes."""
        return {}
