import numpy as np
import pytest

from bitcluster.core.metrics import cluster_accuracy, clustering_metrics, psnr, rate_metrics


def test_accuracy_needs_hungarian_matching():
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    clusters = np.array([2, 2, 2, 0, 0, 0, 1, 1, 1])  # a perfect clustering under other names
    assert cluster_accuracy(labels, clusters) == 1.0
    # Raw agreement would be 0; a greedy map could double-book a cluster.
    assert np.mean(labels == clusters) == 0.0


def test_accuracy_is_one_to_one():
    labels = np.array([0, 0, 1, 1, 2, 2])
    clusters = np.array([0, 0, 0, 0, 0, 1])  # cluster 0 may match only one label
    assert cluster_accuracy(labels, clusters) == pytest.approx(3 / 6)


def test_more_clusters_than_labels_counts_unmatched_as_errors():
    labels = np.array([0, 0, 1, 1])
    clusters = np.array([0, 1, 2, 3])
    assert cluster_accuracy(labels, clusters) == pytest.approx(0.5)


def test_clustering_metrics_of_a_perfect_relabelled_clustering():
    labels = np.repeat(np.arange(5), 20)
    m = clustering_metrics(labels, (labels + 3) % 5)
    assert m["acc"] == 1.0 and m["nmi"] == pytest.approx(1.0) and m["ari"] == pytest.approx(1.0)
    assert m["v_measure"] == pytest.approx(1.0)


def test_random_clustering_scores_near_chance():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 5000)
    m = clustering_metrics(labels, rng.integers(0, 10, 5000))
    assert m["acc"] < 0.15 and abs(m["ari"]) < 0.01


def test_psnr_and_rate():
    x = np.zeros((2, 4))
    assert psnr(x, x + 0.1) == pytest.approx(20.0)
    assert psnr(x, x) == float("inf")
    r = rate_metrics(32, 1024)
    assert r["bpp"] == pytest.approx(0.03125) and r["compression_ratio"] == pytest.approx(256.0)


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError):
        cluster_accuracy([0, 1], [0])
