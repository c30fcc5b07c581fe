"""QAT / pruning / clustering of a Keras 3 model's tf_keras twin, then TFLite conversion.

``optimize(model, kind, train_data, ...)`` returns ``(tflite_bytes, info)``; ``info`` has the
twin's parity ``max_abs_diff`` and what was done. Fine-tuning uses ``train_data`` (a batched
tf.data of (image, label)) with the given loss; the wrappers are stripped before conversion.
"""

import numpy as np

from kerascv_apps.keras_adapter import tf_keras_inbound_layers
from kerascv_apps.optimize.qat_ranges import calibrate_ranges
from kerascv_apps.optimize.twin import check_parity, tf_keras_twin

KINDS = ("qat", "prune", "cluster")


def _quantize(twin):
    """QAT wrappers on every layer tfmot's default 8-bit registry supports; the others (e.g.
    ``Rescaling``) are left in float and listed, so ``quantize_model``'s refusal of the whole
    model becomes a per-layer skip. The converter still quantizes them after training.

    A ``BatchNormalization`` right after a (linear) Conv2D/DepthwiseConv2D is annotated too,
    as ``quantize_model`` does: tfmot's Conv+BN(+ReLU) transforms then put no fake-quant
    between the convolution and the BN (the kernel is fake-quantized per output channel,
    which BN's per-channel scale keeps exact when the converter folds BN into the
    convolution). Left unannotated, the BN gets a fake-quant before it, the converter cannot
    fold it, and the file has separate int8 MUL/ADD ops per BN (measured on MobileNetV2:
    327 int8 tensors vs 121 for post-training int8, and lower accuracy)."""
    import tensorflow_model_optimization as tfmot
    import tf_keras
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_registry)

    registry = default_8bit_quantize_registry.Default8BitQuantizeRegistry()
    skipped = []
    conv = (tf_keras.layers.Conv2D, tf_keras.layers.DepthwiseConv2D)
    foldable = set()
    for layer in twin.layers:
        if isinstance(layer, tf_keras.layers.BatchNormalization):
            inbound = tf_keras_inbound_layers(layer)
            if (len(inbound) == 1 and isinstance(inbound[0], conv)
                    and inbound[0].get_config().get("activation") == "linear"):
                foldable.add(layer.name)

    def annotate(layer):
        clone = layer.__class__.from_config(layer.get_config())
        if registry.supports(layer) or layer.name in foldable:
            return tfmot.quantization.keras.quantize_annotate_layer(clone)
        if not isinstance(layer, tf_keras.layers.InputLayer):
            skipped.append(f"{layer.name} ({type(layer).__name__})")
        return clone

    annotated = tf_keras.models.clone_model(twin, clone_function=annotate)
    annotated.set_weights(twin.get_weights())
    return tfmot.quantization.keras.quantize_apply(annotated), skipped


def _wrap_each(twin, wrap):
    """``wrap`` applied layer by layer (to the twin's own built layers, so the wrappers keep
    their weights, as tfmot's whole-model functions do); layers tfmot refuses (``ValueError``,
    e.g. Rescaling) stay as they are and are listed."""
    import tf_keras

    skipped = []

    def clone(layer):
        if isinstance(layer, tf_keras.layers.InputLayer) or not layer.weights:
            return layer.__class__.from_config(layer.get_config())
        try:
            return wrap(layer)
        except ValueError:
            skipped.append(f"{layer.name} ({type(layer).__name__})")
            return layer

    return tf_keras.models.clone_model(twin, clone_function=clone), skipped


def optimize(model, kind, train_data, loss, parity_images, epochs=2, learning_rate=1e-4,
             sparsity=0.5, clusters=16, representative_images=None, integer_io="uint8",
             calibrate=True):
    """Optimizes ``model`` with tfmot and converts the result to TFLite.

    Args:
        kind: ``"qat"`` (int8 full-integer file, ``integer_io`` I/O), ``"prune"`` (constant
            ``sparsity``, float32 file) or ``"cluster"`` (``clusters`` per weight, float32 file).
        train_data: batched (image, label) dataset for the fine-tuning ``epochs``.
        loss: a tf_keras-compatible loss (e.g. ``"sparse_categorical_crossentropy"``).
        parity_images: a float batch on which the twin must match the model (max diff reported).
        representative_images: calibration images (default ``parity_images``): QAT's
            activation ranges start from their min/max (``calibrate``; tfmot's own start is
            [-6, 6], see ``qat_ranges``), and the converter calibrates the layers QAT left in
            float (e.g. ``Rescaling``) on them; the trained layers keep their QAT ranges.
        calibrate: ``False`` keeps tfmot's [-6, 6] starting ranges (for comparison only).
    """
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    twin = tf_keras_twin(model)
    info = {"kind": kind, "twin_max_abs_diff": check_parity(model, twin, parity_images)}
    callbacks = []
    rep = parity_images if representative_images is None else representative_images
    if kind == "qat":
        opt_model, info["not_quantized"] = _quantize(twin)
        if calibrate:
            info["calibrated_ranges"] = calibrate_ranges(opt_model, rep)
    elif kind == "prune":
        if not 0.0 < sparsity < 1.0:
            raise ValueError(f"--prune sparsity must be in (0, 1), got {sparsity}")
        schedule = tfmot.sparsity.keras.ConstantSparsity(sparsity, begin_step=0, frequency=1)
        opt_model, info["not_pruned"] = _wrap_each(
            twin, lambda l: tfmot.sparsity.keras.prune_low_magnitude(l, pruning_schedule=schedule))
        callbacks = [tfmot.sparsity.keras.UpdatePruningStep()]
    else:
        if clusters < 2:
            raise ValueError(f"--cluster needs at least 2 clusters, got {clusters}")
        init = tfmot.clustering.keras.CentroidInitialization.KMEANS_PLUS_PLUS
        opt_model, info["not_clustered"] = _wrap_each(
            twin, lambda l: tfmot.clustering.keras.cluster_weights(
                l, number_of_clusters=int(clusters), cluster_centroids_init=init))
    import tf_keras

    opt_model.compile(tf_keras.optimizers.Adam(learning_rate), loss)
    if epochs:
        opt_model.fit(train_data, epochs=epochs, verbose=0, callbacks=callbacks)
    if kind == "prune":
        final = tfmot.sparsity.keras.strip_pruning(opt_model)
        kernels = [w for w in final.weights if "kernel" in w.name]
        zeros = sum(int(np.sum(np.asarray(w) == 0)) for w in kernels)
        info["sparsity"] = zeros / max(1, sum(int(np.prod(w.shape)) for w in kernels))
    elif kind == "cluster":
        final = tfmot.clustering.keras.strip_clustering(opt_model)
        info["unique_kernel_values_max"] = max(
            len(np.unique(np.asarray(w))) for w in final.weights if "kernel" in w.name)
    else:
        final = opt_model
    converter = tf.lite.TFLiteConverter.from_keras_model(final)
    if kind == "qat":
        # layers left in float (Rescaling) need calibrated ranges for a full-integer file
        from kerascv_apps.export.tflite import _calibration_feed

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.representative_dataset = _calibration_feed(
            [np.asarray(rep, np.float32)], (1,) + tuple(np.shape(rep)[1:]), len(rep))
        io_type = tf.uint8 if integer_io == "uint8" else tf.int8
        converter.inference_input_type = io_type
        converter.inference_output_type = io_type
    info["model"] = final
    data = converter.convert()
    if kind == "qat":
        from kerascv_apps.export.tflite import finish_integer_file, layer_names

        data = finish_integer_file(data, integer_io, f"QAT file of model {model.name!r}",
                                   layer_names(model))
    return data, info


def optimize_to_file(model, task, splits, out_path, kind, name=None, epochs=2, batch_size=32,
                     learning_rate=1e-4, sparsity=0.5, clusters=16, limit=None,
                     num_calibration=200, progress=print):
    """Optimizes ``model`` for ``task`` on ``splits.train``, writes ``out_path`` (.tflite with
    the embedded contract) and ``<out_path>.json``, and returns the figures: the twin's parity,
    the Keras and TFLite quality metric on ``splits.test`` (at most ``limit`` examples), and the
    gzipped size (what clustering and pruning shrink). QAT's ranges and the converter's
    calibration use ``num_calibration`` training images (as ``export`` does)."""
    import gzip
    import json
    import os

    from kerascv_apps.export.contract import build_contract
    from kerascv_apps.export.metadata import embed_metadata
    from kerascv_apps.export.tflite import TFLiteRunner
    from kerascv_apps.io import atomic_write_bytes

    if os.path.exists(out_path):
        raise FileExistsError(f"{out_path} already exists; choose another --out")
    from kerascv_apps.models.outputs import float32_model

    model = float32_model(model)  # a run trained in mixed precision: tfmot needs float32
    name = name or model.name
    parity = np.stack([x for x, _ in splits.test.take(4).as_numpy_iterator()]).astype("float32")
    loss = task.tfmot_loss(model)
    progress(f"[optimize] {kind}: tf_keras twin, parity check, {epochs} epoch(s) of fine-tuning")
    rep = task.calibration_images(splits, num_calibration) if kind == "qat" else None
    data, info = optimize(model, kind, splits.train.shuffle(2048, seed=0).batch(batch_size), loss,
                          parity, epochs=epochs, learning_rate=learning_rate, sparsity=sparsity,
                          clusters=clusters, representative_images=rep)
    info.pop("model")
    contract = build_contract(task, data, name, kind, model=model,
                              file_name=os.path.basename(out_path))
    data = embed_metadata(data, contract, task.metadata_kind)
    progress("[optimize] verifying on the test split")
    targets, predictions = task.predict_batches(TFLiteRunner(data), splits.test, limit=limit)
    keras_targets, keras_pred = task.predict_batches(
        lambda x: np.asarray(model(x, training=False)), splits.test, limit=limit)
    info.update({"metric": task.quality_metric,
                 "value": float(task.score(targets, predictions)),
                 "keras_value": float(task.score(keras_targets, keras_pred)),
                 "size_bytes": len(data), "gzip_bytes": len(gzip.compress(data, 9))})
    atomic_write_bytes(out_path, data)
    atomic_write_bytes(out_path + ".json", json.dumps({**contract, "optimization": info},
                                                      indent=2).encode())
    return info
