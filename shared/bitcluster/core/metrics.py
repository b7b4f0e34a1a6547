"""Clustering and compression metrics.

Labels are used here and nowhere else in training: they score a finished model.
"""

from __future__ import annotations

import numpy as np

# Scoring needs scipy and scikit-learn; they are imported where a score is computed, so that the
# consumer (which installs neither) can import the core.


def cluster_accuracy(labels: np.ndarray, clusters: np.ndarray) -> float:
    """Unsupervised clustering accuracy: the best one-to-one map of clusters to labels.

    The map is found by the Hungarian algorithm on the contingency table, so it works for any
    number of clusters (clusters left unmatched count as errors).
    """
    labels = np.asarray(labels).ravel()
    clusters = np.asarray(clusters).ravel()
    if labels.shape != clusters.shape:
        raise ValueError(f"labels {labels.shape} and clusters {clusters.shape} differ in length")
    if labels.size == 0:
        raise ValueError("cannot score an empty clustering")
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics.cluster import contingency_matrix

    table = contingency_matrix(labels, clusters)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / labels.size)


def psnr(original: np.ndarray, reconstruction: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB over the whole set (mean squared error pooled)."""
    mse = float(np.mean((np.asarray(original, np.float64) - np.asarray(reconstruction, np.float64)) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / mse))


def rate_metrics(bits: float, n_pixels: int, channels: int = 1) -> dict[str, float]:
    """Bits per image, bits per pixel and the compression ratio against the raw image, 8 bits per channel.

    ``n_pixels`` counts pixels (height * width): an RGB pixel is one pixel of three 8-bit channels,
    so ``bpp`` is per pixel as image codecs count it, and the raw image holds 24 bits per pixel.
    """
    return {
        "bits": bits,
        "bpp": bits / n_pixels,
        "compression_ratio": 8.0 * n_pixels * channels / bits,
    }


def clustering_metrics(labels: np.ndarray, clusters: np.ndarray) -> dict[str, float]:
    """ACC (Hungarian), NMI, ARI and v-measure."""
    from sklearn import metrics as skm

    return {
        "acc": cluster_accuracy(labels, clusters),
        "nmi": float(skm.normalized_mutual_info_score(labels, clusters)),
        "ari": float(skm.adjusted_rand_score(labels, clusters)),
        "v_measure": float(skm.v_measure_score(labels, clusters)),
    }
