"""Metrics of generative and representation models (numpy; no model code).

- :func:`sample_score`: a classifier-based score of generated digits: the share of samples the
  classifier assigns a class with confidence >= ``threshold``, and which classes appear.
- :func:`frechet_distance`: the Fréchet distance between Gaussians fitted to two feature sets
  (FID's formula, Heusel et al. 2017, here in a digits classifier's penultimate features).
- :func:`knn_accuracy` / :func:`pca_codes`: the lecture's "autoencoder as an alternative to
  PCA": a k-NN classifier on the bottleneck codes vs on PCA codes of the same size.
- :func:`roc_auc`: anomaly detection from reconstruction errors.
"""

import numpy as np


def sample_score(probabilities, threshold=0.9, num_classes=None):
    """``{"confident_share", "class_coverage", "classes_present", "class_counts"}`` of
    classifier ``probabilities`` (N, C) on generated samples: confident = max probability >=
    ``threshold``; coverage = share of the ``num_classes`` classes predicted for at least one
    confident sample."""
    probabilities = np.asarray(probabilities, np.float64)
    if probabilities.ndim != 2 or len(probabilities) == 0:
        raise ValueError(f"sample_score: expected (N, C) probabilities, got shape "
                         f"{probabilities.shape}")
    num_classes = num_classes or probabilities.shape[1]
    confident = probabilities.max(axis=1) >= threshold
    predicted = probabilities.argmax(axis=1)
    counts = np.bincount(predicted[confident], minlength=num_classes)
    return {"confident_share": float(confident.mean()),
            "class_coverage": float(np.count_nonzero(counts) / num_classes),
            "classes_present": [int(c) for c in np.flatnonzero(counts)],
            "class_counts": [int(c) for c in counts], "threshold": float(threshold),
            "num_samples": int(len(probabilities))}


def frechet_distance(features_a, features_b):
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) of the two feature sets' means
    and covariances (rows are samples)."""
    from scipy import linalg

    a = np.asarray(features_a, np.float64)
    b = np.asarray(features_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"frechet_distance: expected two (N, D) feature sets with the same D "
                         f"and N >= 2, got {a.shape} and {b.shape}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(cov_a @ cov_b, disp=False)
    if not np.isfinite(covmean).all():  # near-singular product: regularize (as FID code does)
        offset = np.eye(len(cov_a)) * 1e-6
        covmean = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    covmean = np.real(covmean)
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b)
                 - 2.0 * np.trace(covmean))


def knn_accuracy(train_codes, train_labels, test_codes, test_labels, k=5):
    """Accuracy of a k-NN classifier (Euclidean) fitted on train codes, on test codes."""
    from sklearn.neighbors import KNeighborsClassifier

    clf = KNeighborsClassifier(n_neighbors=int(k))
    clf.fit(np.asarray(train_codes).reshape(len(train_codes), -1), np.asarray(train_labels))
    pred = clf.predict(np.asarray(test_codes).reshape(len(test_codes), -1))
    return float(np.mean(pred == np.asarray(test_labels)))


def pca_codes(train_images, test_images, dim):
    """PCA codes of size ``dim`` (fitted on the flattened training images scaled to [0, 1])
    for the train and test images."""
    from sklearn.decomposition import PCA

    flat = lambda x: np.asarray(x, np.float32).reshape(len(x), -1) / 255.0  # noqa: E731
    pca = PCA(n_components=int(dim), random_state=0).fit(flat(train_images))
    return pca.transform(flat(train_images)), pca.transform(flat(test_images))


def roc_auc(scores, is_positive):
    """ROC-AUC of ``scores`` (higher = more anomalous) for the binary labels ``is_positive``."""
    from sklearn.metrics import roc_auc_score

    is_positive = np.asarray(is_positive, bool)
    if is_positive.all() or not is_positive.any():
        raise ValueError("roc_auc: needs both anomalous and normal examples")
    return float(roc_auc_score(is_positive, np.asarray(scores, np.float64)))


def psnr(targets, predictions, peak=255.0, cap=100.0):
    """Mean per-image PSNR (dB) of [0, 255] images; identical images count as ``cap``."""
    t = np.asarray(targets, np.float64).reshape(len(targets), -1)
    p = np.asarray(predictions, np.float64).reshape(len(predictions), -1)
    mse = np.mean((t - p) ** 2, axis=1)
    with np.errstate(divide="ignore"):
        values = np.where(mse > 0, 10.0 * np.log10(peak ** 2 / np.maximum(mse, 1e-300)), cap)
    return float(np.mean(np.minimum(values, cap)))
