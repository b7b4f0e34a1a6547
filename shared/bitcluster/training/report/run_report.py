"""A run directory's pictures (``curves.png``, ``confusion.png``, ``clusters.png``) and its summary."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bitcluster.core.preprocessing import Preprocessing
from bitcluster.data import Dataset
from bitcluster.training.report.confusion import plot_confusion
from bitcluster.training.report.curves import plot_curves
from bitcluster.training.report.gallery import plot_cluster_grid
from bitcluster.training.runs import CONFIG, HISTORY, METRICS, read_json, run_dataset

CURVES = "curves.png"
CONFUSION = "confusion.png"
CLUSTER_GRID = "clusters.png"
PICTURES = (CURVES, CONFUSION, CLUSTER_GRID)


def _run_name(run_dir: Path) -> str:
    """``vab, 16 bits, digits`` from the run's config, for the pictures' titles."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        return Path(run_dir).name
    config = read_json(path)
    bits = config.get("model", {}).get("bits")
    parts = [config.get("method"), f"{bits} bits" if bits else None, config.get("dataset")]
    return ", ".join(str(p) for p in parts if p)


def write_run_report(run_dir: Path, dataset: Dataset, clusters: np.ndarray, history: Sequence[dict]) -> dict[str, Path]:
    """Draw the three pictures of a run into its directory.

    Parameters
    ----------
    run_dir : the run directory (its ``config.json``, when present, names the run in the titles)
    dataset : the run's dataset; its test images, test labels (if any) and image size are drawn
    clusters : (N_test,) int cluster of each test image
    history : the per-epoch rows of ``history.json``

    Returns
    -------
    ``{"curves" | "confusion" | "clusters": path of the PNG written}``
    """
    run_dir = Path(run_dir)
    clusters = np.asarray(clusters).ravel()
    if len(clusters) != len(dataset.x_test):
        raise ValueError(f"{len(clusters)} clusters for {len(dataset.x_test)} test images: pass the test split's")
    name = _run_name(run_dir)
    prep = dataset.preprocessing
    figures = {
        CURVES: plot_curves(history, title=f"Training curves: {name}"),
        CONFUSION: plot_confusion(dataset.y_test, clusters, title=f"Test clusters vs labels: {name}"),
        CLUSTER_GRID: plot_cluster_grid(dataset.x_test, clusters, prep.height, prep.width, labels=dataset.y_test,
                                        title=f"Test images by cluster: {name}", channels=prep.channels),
    }
    paths = {}
    for file_name, fig in figures.items():
        fig.savefig(run_dir / file_name)
        paths[file_name.removesuffix(".png")] = run_dir / file_name
    return paths


def run_summary(run_dir: Path) -> dict:
    """What a reader wants first from a run: what was trained, how long, how well, what went wrong."""
    run_dir = Path(run_dir)
    config, metrics = read_json(run_dir / CONFIG), read_json(run_dir / METRICS)
    model = config.get("model", {})
    return {
        "method": config.get("method"), "dataset": config.get("dataset"),
        "images": Preprocessing.from_dict(config["preprocessing"]).describe() if "preprocessing" in config else None,
        "bits": metrics.get("bits", model.get("bits")),
        "clusters": metrics.get("clusters", model.get("clusters")),
        "epochs": metrics.get("epochs"), "train_seconds": metrics.get("train_seconds"),
        **{f"test_{key}": metrics.get(key) for key in ("acc", "nmi", "ari")},
        **({"teacher": "; ".join(map(describe_teacher, metrics["teachers"]))} if metrics.get("teachers") else {}),
        "warnings": list(metrics.get("warnings", [])),
    }


def describe_teacher(record: dict) -> str:
    """One teacher a run used, in a line: its cache key, where it came from, what it clustered, its own train score."""
    scores = record.get("train_scores") or {}
    features = record.get("features") or {}
    centred = features.get("centre", features.get("centring")) == "mass"  # "centring": a teacher of recipe 2
    clustered = f", {features['kind']} features{', centred images' if centred else ''}" if features else ""
    score = f", train ACC {scores['acc']:.3f}" if "acc" in scores else ""
    return f"{record['key'][:12]} ({record['source']}{clustered}{score})"


def format_summary(summary: dict) -> str:
    """The summary as aligned ``key: value`` lines, warnings one per line at the end."""
    lines = []
    for key, value in summary.items():
        if key == "warnings":
            continue
        shown = "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)
        lines.append(f"{key + ':':<15} {shown}")
    lines += [f"warning:        {w}" for w in summary["warnings"]]
    return "\n".join(lines)


def ensure_run_report(run_dir: Path, data: str | None = None, redraw: bool = False) -> dict[str, Path]:
    """The run's pictures, drawn first when any is missing (this loads the model and the data).

    Parameters
    ----------
    data : the dataset to draw; by default the one the run was trained on
    redraw : draw them even when all three exist
    """
    from bitcluster.training.report.predict import predict_test_clusters

    run_dir = Path(run_dir)
    paths = {name.removesuffix(".png"): run_dir / name for name in PICTURES}
    if not redraw and all(p.is_file() for p in paths.values()):
        return paths
    config = read_json(run_dir / CONFIG)
    dataset = run_dataset(run_dir, config, data)
    history = read_json(run_dir / HISTORY) if (run_dir / HISTORY).is_file() else []
    return write_run_report(run_dir, dataset, predict_test_clusters(run_dir, dataset), history)
