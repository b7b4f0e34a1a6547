"""The run report: curves.png, confusion.png, clusters.png and `bitcluster report`."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest

from bitcluster.core.metrics import cluster_accuracy
from bitcluster.core.preprocessing import Preprocessing
from bitcluster.data import Dataset
from bitcluster.training.report import (
    epoch_accuracy,
    matched_contingency,
    plot_cluster_grid,
    plot_confusion,
    plot_curves,
    write_run_report,
)
from bitcluster.training.report.curves import column

HEIGHT, WIDTH = 6, 5
HISTORY = [
    {"epoch": 0, "phase": "pretrain", "loss": 30.0, "recon": 30.0, "seconds": 0.1, "lr": 1e-3, "tau": 1.0},
    {"epoch": 1, "phase": "pretrain", "loss": 25.0, "recon": 25.0, "seconds": 0.1, "lr": 1e-3, "tau": 0.9},
    {"epoch": 2, "phase": "joint", "loss": 80.0, "A1": -20.0, "A2": 3.0, "A3": -5.0, "A4": -0.7, "pseudo_ce": 4.0},
    {"epoch": 3, "phase": "joint", "loss": 60.0, "A1": -18.0, "A2": 2.0, "A3": -4.0, "A4": -0.6, "pseudo_ce": 2.0},
]


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (after checking the signature)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _labelled_dataset(n_test: int = 90, n_labels: int = 3, seed: int = 0) -> Dataset:
    """Images whose brightness encodes their label, so a cluster's images are recognisable."""
    rng = np.random.default_rng(seed)
    y = np.arange(n_test) % n_labels
    x = np.repeat((y[:, None] + 1) / (n_labels + 1), HEIGHT * WIDTH, axis=1).astype(np.float32)
    x += rng.uniform(-0.05, 0.05, x.shape).astype(np.float32)
    return Dataset("toy", x[:10], y[:10], x, y, Preprocessing(HEIGHT, WIDTH))


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_write_run_report_writes_three_valid_pngs_of_sensible_size(tmp_path):
    data = _labelled_dataset()
    clusters = (data.y_test + 1) % 3
    paths = write_run_report(tmp_path, data, clusters, HISTORY)
    assert set(paths) == {"curves", "confusion", "clusters"}
    for name, path in paths.items():
        assert path == tmp_path / f"{name}.png"
        content = path.read_bytes()
        width, height = _png_size(content)
        assert 300 <= width <= 4000 and 200 <= height <= 4000, (name, width, height)
        assert len(content) > 5_000, name


def test_write_run_report_refuses_clusters_of_another_split(tmp_path):
    data = _labelled_dataset()
    with pytest.raises(ValueError, match="test images"):
        write_run_report(tmp_path, data, np.zeros(len(data.x_test) - 1, dtype=int), HISTORY)


def test_curves_have_one_titled_labelled_panel_per_loss_term():
    fig = plot_curves(HISTORY, title="Training curves: toy")
    assert fig.get_suptitle() == "Training curves: toy"
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_ylabel() for ax in shown] == ["loss", "recon", "A1", "A2", "A3", "A4", "pseudo_ce"]
    for ax in shown:
        assert ax.get_title(), ax.get_ylabel()
        assert ax.get_xlabel() == "epoch"
    # A term of one phase is missing, not zero, in the other phase.
    recon = shown[1].lines[0].get_ydata()
    assert list(recon[:2]) == [30.0, 25.0] and all(math.isnan(v) for v in recon[2:])
    # The phase change is marked where it happens and named.
    assert "joint" in " ".join(_texts(shown[0])) and "pretrain" in " ".join(_texts(shown[0]))


def test_curves_plot_accuracy_only_when_the_history_holds_it():
    assert "acc" not in [ax.get_ylabel() for ax in plot_curves(HISTORY).axes if ax.get_visible()]
    with_acc = [dict(row, acc=0.5 + 0.1 * i) for i, row in enumerate(HISTORY)]
    acc_axes = [ax for ax in plot_curves(with_acc).axes if ax.get_ylabel() == "acc"]
    assert len(acc_axes) == 1 and acc_axes[0].get_title()
    assert list(acc_axes[0].lines[0].get_ydata()) == pytest.approx([0.5, 0.6, 0.7, 0.8])


def test_epoch_accuracy_is_the_matched_accuracy_and_absent_without_labels():
    labels = np.array([0, 0, 1, 1, 2, 2])
    assert epoch_accuracy(labels, np.array([2, 2, 0, 0, 1, 1])) == {"acc": 1.0}
    assert epoch_accuracy(labels, np.array([2, 2, 0, 1, 1, 1]))["acc"] == pytest.approx(5 / 6)
    assert epoch_accuracy(None, np.array([0, 1])) == {}
    assert math.isnan(column([{"epoch": 0}], "acc")[0])


def test_confusion_puts_a_perfect_clustering_with_permuted_ids_on_the_diagonal():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 5, size=200)
    permutation = np.array([3, 0, 4, 1, 2])
    matched = matched_contingency(labels, permutation[labels])
    assert np.array_equal(matched.table, np.diag(np.bincount(labels)))
    assert np.array_equal(matched.cluster_ids, permutation)
    assert matched.accuracy == 1.0


def test_confusion_matches_like_the_scored_accuracy_with_extra_clusters():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 4, size=300)
    clusters = np.where(rng.random(300) < 0.7, (labels + 2) % 4, rng.integers(0, 6, size=300))
    matched = matched_contingency(labels, clusters)
    assert matched.table.shape == (4, len(np.unique(clusters)))
    assert matched.table.sum() == 300
    assert matched.accuracy == pytest.approx(cluster_accuracy(labels, clusters))
    # The matched clusters come first, in label order: each holds its label's largest share.
    assert list(matched.cluster_ids[:4]) == [2, 3, 0, 1]


def test_confusion_matches_like_the_scored_accuracy_with_fewer_clusters_than_labels():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    clusters = np.array([5, 5, 5, 5, 5, 7, 7, 7, 7])
    matched = matched_contingency(labels, clusters)
    assert matched.accuracy == pytest.approx(cluster_accuracy(labels, clusters))
    assert np.trace(matched.table) == 7  # label 0 -> cluster 5, label 2 -> cluster 7
    assert list(matched.label_values[:2]) == [0, 2]


def test_confusion_plot_writes_the_counts_and_is_titled():
    labels = np.array([0, 0, 0, 1, 1, 2])
    fig = plot_confusion(labels, np.array([4, 4, 1, 1, 1, 9]), title="Test clusters vs labels: toy")
    ax = fig.axes[0]
    assert fig.get_suptitle() == "Test clusters vs labels: toy"
    assert "ACC = 0.833" in ax.get_title()
    assert ax.get_xlabel().startswith("cluster") and ax.get_ylabel() == "true label"
    assert sorted(_texts(ax)) == ["1", "1", "2", "2"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["4", "1", "9"]


def test_confusion_plot_says_so_when_there_are_no_labels():
    fig = plot_confusion(None, np.array([0, 1, 1]))
    ax = fig.axes[0]
    assert fig.get_suptitle() and "no labels" in ax.get_title()
    assert any("no labels" in t for t in _texts(ax))


def test_cluster_grid_has_one_row_per_non_empty_cluster_with_its_images():
    data = _labelled_dataset()
    # Ten clusters allowed, three used: label 0 -> cluster 7, 1 -> 3, 2 -> 0.
    clusters = np.array([7, 3, 0])[data.y_test]
    fig = plot_cluster_grid(data.x_test, clusters, HEIGHT, WIDTH, labels=data.y_test, per_cluster=4)
    assert len(fig.axes) == 3
    assert "3 non-empty clusters" in fig.get_suptitle()
    for ax, (cluster, label) in zip(fig.axes, [(7, 0), (3, 1), (0, 2)]):
        assert ax.get_ylabel().split("\n") == [f"cluster {cluster}", "n = 30", f"mostly {label} (100%)"]
        strip = ax.images[0].get_array()
        assert strip.shape == (HEIGHT, 4 * (WIDTH + 1) - 1)
        first_image = np.asarray(strip[:, :WIDTH])
        assert np.abs(first_image - (label + 1) / 4).max() <= 0.05 + 1e-6
    assert fig.axes[-1].get_xlabel()


def test_cluster_grid_without_labels_orders_by_size_and_fills_small_rows_with_white():
    x = np.zeros((7, HEIGHT * WIDTH), dtype=np.float32)
    clusters = np.array([2, 2, 2, 2, 2, 5, 5])
    fig = plot_cluster_grid(x, clusters, HEIGHT, WIDTH, per_cluster=3)
    assert [ax.get_ylabel() for ax in fig.axes] == ["cluster 2\nn = 5", "cluster 5\nn = 2"]
    small = np.asarray(fig.axes[1].images[0].get_array())
    assert (small[:, :2 * WIDTH + 1][:, [0, WIDTH + 1]] == 0).all()   # its two black images
    assert (small[:, 2 * (WIDTH + 1):] == 1).all()                      # an empty, white slot


def test_cluster_grid_rejects_images_of_another_size():
    with pytest.raises(ValueError, match="images must be"):
        plot_cluster_grid(np.zeros((4, 10)), np.zeros(4, dtype=int), HEIGHT, WIDTH)


def _fake_run(run_dir, warnings=()):
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({
        "method": "vab", "dataset": "toy", "data_source": "toy",
        "preprocessing": {"height": HEIGHT, "width": WIDTH, "resize": "bilinear"},
        "model": {"bits": 16, "clusters": 3, "n_pixels": HEIGHT * WIDTH}}))
    (run_dir / "metrics.json").write_text(json.dumps({
        "acc": 0.8125, "nmi": 0.5, "ari": 0.25, "bits": 16, "clusters": 3, "epochs": 4,
        "train_seconds": 12.5, **({"warnings": list(warnings)} if warnings else {}),
        "teachers": [{"key": "78cf0c4ad08a2407e9cab8bbba425c5d", "source": "cache", "train_scores": {"acc": 0.9722}}]}))
    (run_dir / "history.json").write_text(json.dumps(HISTORY))
    return run_dir


def test_report_command_prints_the_summary_and_the_pictures(tmp_path):
    from typer.testing import CliRunner

    from bitcluster.cli import app

    run_dir = _fake_run(tmp_path / "run", warnings=["2 of 16 bits never change"])
    data = _labelled_dataset()
    write_run_report(run_dir, data, data.y_test, HISTORY)
    result = CliRunner().invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for expected in ["method:         vab", "dataset:        toy", "bits:           16", "clusters:       3",
                     "epochs:         4", "train_seconds:  12.500", "test_acc:       0.812", "test_nmi:       0.500",
                     "test_ari:       0.250", "teacher:        78cf0c4ad08a (cache, train ACC 0.972)",
                     "warning:        2 of 16 bits never change"]:
        assert expected in lines
    for name in ("curves", "confusion", "clusters"):
        assert f"picture:        {run_dir / name}.png" in lines


def test_report_command_without_drawing_lists_only_existing_pictures(tmp_path):
    from typer.testing import CliRunner

    from bitcluster.cli import app

    run_dir = _fake_run(tmp_path / "run")
    result = CliRunner().invoke(app, ["report", str(run_dir), "--no-draw"])
    assert result.exit_code == 0, result.output
    assert "method:         vab" in result.output and "warning" not in result.output
    assert "picture:" not in result.output


def test_report_command_fails_clearly_on_a_directory_that_is_not_a_run(tmp_path):
    from typer.testing import CliRunner

    from bitcluster.cli import app

    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "config.json is missing" in result.output


def test_report_command_draws_a_trained_runs_pictures_from_its_own_clusters(tmp_path):
    """End to end on a real (fast) method: the drawn clusters are the ones `evaluate` scored."""
    from typer.testing import CliRunner

    from bitcluster.cli import app
    from bitcluster.data import load_dataset
    from bitcluster.training.pipeline import train_run
    from bitcluster.training.report.predict import predict_test_clusters

    rng = np.random.default_rng(3)
    y = np.arange(120) % 3
    x = np.clip(rng.normal((y[:, None, None] + 1) / 4, 0.1, size=(120, HEIGHT, WIDTH)), 0, 1)
    source = tmp_path / "toy.npz"
    np.savez(source, x=x.astype(np.float32), y=y)
    run_dir = tmp_path / "run"
    metrics = train_run("kmeans", str(source), run_dir, {"clusters": 3, "seed": 0}, progress=False)

    clusters = predict_test_clusters(run_dir, load_dataset(str(source)))
    assert cluster_accuracy(load_dataset(str(source)).y_test, clusters) == pytest.approx(metrics["acc"])
    result = CliRunner().invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert "method:         kmeans" in result.output
    for name in ("curves", "confusion", "clusters"):
        assert _png_size((run_dir / f"{name}.png").read_bytes())[0] >= 300


def test_a_teacher_is_described_by_what_it_clustered_when_the_run_recorded_it():
    from bitcluster.training.report.run_report import describe_teacher

    record = {"key": "3ca01fb8a32a4dd0276ee6c3582e1d7f", "source": "built", "train_scores": {"acc": 0.9757},
              "features": {"kind": "pca", "centre": "mass"}}
    assert describe_teacher(record) == "3ca01fb8a32a (built, pca features, centred images, train ACC 0.976)"
    uncentred = {**record, "features": {"kind": "autoencoder", "centre": "none"}}
    assert describe_teacher(uncentred) == "3ca01fb8a32a (built, autoencoder features, train ACC 0.976)"
    older = {k: v for k, v in record.items() if k != "features"}  # a run from before the teacher's features
    assert describe_teacher(older) == "3ca01fb8a32a (built, train ACC 0.976)"
