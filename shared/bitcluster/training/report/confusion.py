"""``confusion.png``: test clusters against labels, clusters ordered by their Hungarian match."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure


@dataclass
class MatchedContingency:
    """A labels x clusters count table whose columns follow the best one-to-one match.

    Attributes
    ----------
    table : (L, C) int counts; column ``j < min(L, C)`` is the cluster matched to label row ``j``
        (when the clusters outnumber the labels, the unmatched ones come last)
    label_values : (L,) the label of each row, sorted
    cluster_ids : (C,) the cluster id of each column
    """

    table: np.ndarray
    label_values: np.ndarray
    cluster_ids: np.ndarray

    @property
    def accuracy(self) -> float:
        """Hungarian-matched accuracy: the matched counts over all counts."""
        matched = min(self.table.shape)
        return float(np.trace(self.table[:matched, :matched]) / self.table.sum())


def matched_contingency(labels: np.ndarray, clusters: np.ndarray) -> MatchedContingency:
    """Count labels against clusters and order the clusters so the matched pairs sit on the diagonal.

    Parameters
    ----------
    labels, clusters : (N,) ints of the same images; only clusters that occur appear
    """
    labels, clusters = np.asarray(labels).ravel(), np.asarray(clusters).ravel()
    if labels.shape != clusters.shape or labels.size == 0:
        raise ValueError(f"need as many labels as clusters, and some: got {labels.shape} and {clusters.shape}")
    from scipy.optimize import linear_sum_assignment

    label_values, label_index = np.unique(labels, return_inverse=True)
    cluster_ids, cluster_index = np.unique(clusters, return_inverse=True)
    table = np.zeros((len(label_values), len(cluster_ids)), dtype=np.int64)
    np.add.at(table, (label_index, cluster_index), 1)
    rows, cols = linear_sum_assignment(table, maximize=True)
    # The matched cluster of each label row, in row order; unmatched rows keep no column.
    matched_of_row = dict(zip(rows, cols))
    order = [matched_of_row[r] for r in range(len(label_values)) if r in matched_of_row]
    order += sorted(set(range(len(cluster_ids))) - set(order))
    if len(order) < len(label_values):
        # More labels than clusters: rows without a match come after the matched ones.
        row_order = list(rows) + sorted(set(range(len(label_values))) - set(rows))  # rows come sorted
        table, label_values = table[row_order], label_values[row_order]
    return MatchedContingency(table[:, order], label_values, cluster_ids[order])


def plot_confusion(labels: np.ndarray | None, clusters: np.ndarray, title: str = "Test clusters vs labels") -> Figure:
    """The matched contingency table as a heat map with its counts written in; a note without labels.

    Parameters
    ----------
    labels : (N,) int labels, or None when the dataset has none
    clusters : (N,) int cluster of each image
    """
    if labels is None:
        fig = Figure(figsize=(6, 3), dpi=110, layout="constrained")
        fig.suptitle(title, fontsize=11)
        ax = fig.subplots()
        ax.set_title("no labels to compare with", fontsize=9)
        ax.text(0.5, 0.5, "This dataset has no labels, so there is nothing to\ncompare the clusters with.\n"
                "clusters.png shows what each cluster holds.", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel("cluster")
        ax.set_ylabel("label")
        ax.set_xticks([])
        ax.set_yticks([])
        return fig
    matched = matched_contingency(labels, clusters)
    n_labels, n_clusters = matched.table.shape
    # Wide enough for the titles even with few clusters.
    fig = Figure(figsize=(max(6.0, 1.6 + 0.55 * n_clusters), 1.6 + 0.45 * n_labels), dpi=110, layout="constrained")
    fig.suptitle(title, fontsize=11)
    ax = fig.subplots()
    image = ax.imshow(matched.table, cmap="Blues", aspect="auto")
    fig.colorbar(image, ax=ax, label="test images", shrink=0.8)
    # Dark text on light cells and light on dark, so every count stays readable.
    threshold = matched.table.max() / 2
    for (row, col), count in np.ndenumerate(matched.table):
        if count:
            ax.text(col, row, str(count), ha="center", va="center", fontsize=7,
                    color="white" if count > threshold else "black")
    ax.set_xticks(range(n_clusters), [str(c) for c in matched.cluster_ids], fontsize=8)
    ax.set_yticks(range(n_labels), [str(v) for v in matched.label_values], fontsize=8)
    ax.set_xlabel("cluster (ordered by its matched label)")
    ax.set_ylabel("true label")
    ax.set_title(f"clusters matched one-to-one to labels (Hungarian): ACC = {matched.accuracy:.3f}", fontsize=9)
    return fig
