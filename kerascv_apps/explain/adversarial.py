"""Adversarial examples and fooling images (the lectures' "deep networks are easily fooled").

- FGSM (Goodfellow et al. 2015): ``x + eps * sign(grad_x loss)``, one step.
- PGD (Madry et al. 2018): ``steps`` FGSM steps of ``step_size``, each projected back into the
  L-infinity ball of radius ``eps`` around the image (no random start unless asked).
- Fooling images (Nguyen et al. 2015): gradient ascent on ``log p(class)`` from uniform noise
  until the model gives the class at least ``confidence``.

Images are in pixel values as the models take them (0-255), so ``eps`` is in pixel units:
``eps=8`` is the literature's 8/255. Every result is clipped to [0, 255]. The loss is the
cross-entropy of the logits (the input of a final softmax, ``gradcam.score_tensor``).
"""

import numpy as np

PIXEL_MAX = 255.0


def _logit_model(model):
    import keras

    from kerascv_apps.explain.gradcam import score_tensor

    return keras.Model(model.inputs[0], score_tensor(model))


def _loss_gradient(logit_model, images, labels):
    import tensorflow as tf

    x = tf.constant(images, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = logit_model(x, training=False)
        loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(
            tf.constant(labels, tf.int32), tf.cast(logits, tf.float32)))
    return tape.gradient(loss, x).numpy()


def _check(images, labels, eps):
    images = np.asarray(images, np.float32)
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    if images.ndim != 4 or len(images) != len(labels):
        raise ValueError(f"expected (N, H, W, C) images and N labels, got {images.shape} and "
                         f"{labels.shape}")
    if not 0 <= eps <= PIXEL_MAX:
        raise ValueError(f"eps is in pixel units (0-255), got {eps}")
    return images, labels


def fgsm(model, images, labels, eps):
    """FGSM adversarial images (batch), ``eps`` in pixel units."""
    images, labels = _check(images, labels, eps)
    grad = _loss_gradient(_logit_model(model), images, labels)
    return np.clip(images + eps * np.sign(grad), 0.0, PIXEL_MAX).astype(np.float32)


def pgd(model, images, labels, eps, steps=10, step_size=None, random_start=False, seed=0):
    """PGD (L-infinity) adversarial images: ``steps`` signed-gradient steps of ``step_size``
    (default ``eps / 4``), projected into ``[x - eps, x + eps]`` and [0, 255] after each."""
    images, labels = _check(images, labels, eps)
    step_size = eps / 4.0 if step_size is None else step_size
    logit_model = _logit_model(model)
    x = images.copy()
    if random_start:
        x = x + np.random.default_rng(seed).uniform(-eps, eps, x.shape).astype(np.float32)
    for _ in range(steps):
        x = x + step_size * np.sign(_loss_gradient(logit_model, np.clip(x, 0, PIXEL_MAX), labels))
        x = np.clip(np.clip(x, images - eps, images + eps), 0.0, PIXEL_MAX)
    return x.astype(np.float32)


ATTACKS = {"fgsm": fgsm, "pgd": pgd}


def fooling_image(model, class_id, confidence=0.99, steps=500, step_size=2.0, seed=0,
                  shape=None):
    """An image the model gives ``class_id`` with at least ``confidence``, by signed gradient
    ascent on ``log p(class_id)`` (``step_size`` pixels a step) from uniform noise.

    Returns ``{"image", "class_id", "confidence", "steps"}``; ``confidence`` is what the model
    gives the final image (below the target when ``steps`` ran out).
    """
    import tensorflow as tf

    shape = tuple(shape or model.inputs[0].shape[1:])
    if any(d is None for d in shape):
        raise ValueError(f"the model's input size is not fixed ({shape}); pass shape=(H, W, C)")
    logit_model = _logit_model(model)
    x = np.random.default_rng(seed).uniform(0, PIXEL_MAX, (1,) + shape).astype(np.float32)
    for step in range(steps + 1):
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            log_probs = tf.nn.log_softmax(tf.cast(logit_model(xt, training=False), tf.float32))
            target = log_probs[0, class_id]
        p = float(np.exp(target.numpy()))
        if p >= confidence or step == steps:
            break
        x = np.clip(x + step_size * np.sign(tape.gradient(target, xt).numpy()), 0, PIXEL_MAX)
    return {"image": x[0], "class_id": int(class_id), "confidence": p, "steps": step}


def accuracy_vs_eps(predict_fn, model, images, labels, epsilons, attack="fgsm", **kwargs):
    """``[{"eps", "accuracy", "adversarial"}]``: ``predict_fn`` (images -> class scores, e.g. the
    Keras model or a TFLite runner) on ``attack``'s images made on ``model``, per eps."""
    if attack not in ATTACKS:
        raise ValueError(f"unknown attack {attack!r}; choose from {sorted(ATTACKS)}")
    labels = np.asarray(labels).reshape(-1)
    rows = []
    for eps in epsilons:
        adv = images if eps == 0 else ATTACKS[attack](model, images, labels, eps, **kwargs)
        preds = np.asarray(predict_fn(adv)).argmax(-1)
        rows.append({"eps": float(eps), "accuracy": float(np.mean(preds == labels)),
                     "adversarial": adv})
    return rows
