"""``curves.png``: the loss terms of a run by epoch, and its accuracy when the history holds it.

A history is the list of per-epoch rows a method's ``train`` returns (``history.json``). Every row
has ``epoch``; most have ``loss``, a ``phase`` name and method-specific terms (``recon``,
``A1``..``A4``, ``pseudo_ce``, ``kl`` ...). A row may also carry ``acc``: see :func:`epoch_accuracy`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bitcluster.core.metrics import cluster_accuracy

ACC_COLUMN = "acc"
# Bookkeeping and schedules, not terms of the objective.
NOT_LOSS_TERMS = frozenset({"epoch", "phase", "seconds", "lr", "tau", ACC_COLUMN})
# What a reader who has not opened the paper needs to read a panel's title.
TERM_DESCRIPTIONS = {
    "loss": "loss minimised",
    "recon": "reconstruction loss",
    "A1": "A1: log p(x|y) (eq. 14)",
    "A2": "A2: entropy of q(z|x) (eq. 15)",
    "A3": "A3: E_q(c|y) log p(y|c) (eq. 16)",
    "A4": "A4: E_q(c|y) [log p(c) - log q(c|y)] (eq. 17)",
    "pseudo_ce": "pseudo-label cross-entropy",
    "logit_l2": "L2 pull on the code logits",
    "kl": "KL to the mixture prior",
}


def epoch_accuracy(labels: np.ndarray | None, clusters: np.ndarray) -> dict[str, float]:
    """The optional ``acc`` column of a history row, for a trainer that wants to watch accuracy.

    A trainer that can cluster its training images at the end of an epoch may add
    ``row.update(epoch_accuracy(y_train, clusters))``. Labels only watch the run, as in scoring:
    nothing may be chosen by looking at this column.

    Parameters
    ----------
    labels : (N,) int labels, or None when the dataset has none
    clusters : (N,) int cluster of each image

    Returns
    -------
    ``{"acc": Hungarian-matched accuracy}``, or ``{}`` without labels (the row then has no ``acc``).
    """
    if labels is None:
        return {}
    return {ACC_COLUMN: cluster_accuracy(labels, clusters)}


def loss_terms(history: Sequence[dict]) -> list[str]:
    """Names of the numeric loss terms of a history, ``loss`` first, then in order of appearance."""
    names: list[str] = []
    for row in history:
        for key, value in row.items():
            if key not in NOT_LOSS_TERMS and key not in names and isinstance(value, (int, float)) \
                    and not isinstance(value, bool):
                names.append(key)
    return sorted(names, key=lambda name: name != "loss")


def column(history: Sequence[dict], name: str) -> np.ndarray:
    """One column of a history, (epochs,) float, NaN where a row lacks it (a term of another phase)."""
    return np.array([float(row[name]) if isinstance(row.get(name), (int, float)) else math.nan
                     for row in history])


def _mark_phases(ax: Axes, epochs: np.ndarray, phases: list[str | None]) -> None:
    """A dotted line where the phase changes, each phase named at the top of the panel where it starts."""
    changes = [i for i in range(1, len(phases)) if phases[i] != phases[i - 1]]
    if changes and phases[0]:
        ax.text(0.01, 1.0, phases[0], transform=ax.transAxes, va="top", ha="left", fontsize=7, color="0.35")
    for i in changes:
        boundary = (epochs[i - 1] + epochs[i]) / 2
        ax.axvline(boundary, color="0.5", linestyle=":", linewidth=1)
        ax.text(boundary, 1.0, f" {phases[i]}", transform=ax.get_xaxis_transform(),
                va="top", ha="left", fontsize=7, color="0.35")


def plot_curves(history: Sequence[dict], title: str = "Training curves") -> Figure:
    """One panel per loss term (their scales and signs differ too much to share an axis), plus ``acc``.

    Parameters
    ----------
    history : per-epoch rows, each with ``epoch``
    title : the figure's title, e.g. naming the method and the code length

    Returns
    -------
    The figure, not yet saved (a test or a notebook can inspect it).
    """
    epochs = np.array([float(row.get("epoch", i)) for i, row in enumerate(history)])
    phases = [row.get("phase") for row in history]
    panels = loss_terms(history)
    has_acc = any(isinstance(row.get(ACC_COLUMN), (int, float)) for row in history)
    panels += [ACC_COLUMN] if has_acc else []
    n_cols = min(3, max(1, len(panels)))
    n_rows = max(1, math.ceil(len(panels) / n_cols))
    fig = Figure(figsize=(4.2 * n_cols, 3.0 * n_rows + 0.6), dpi=110, layout="constrained")
    fig.suptitle(title, fontsize=13)
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    if not panels:
        axes[0].set_title("no loss terms recorded")
        axes[0].text(0.5, 0.5, "history.json holds no numeric loss columns", ha="center", va="center",
                     transform=axes[0].transAxes)
        axes[0].set_xlabel("epoch")
        axes[0].set_ylabel("loss")
    for ax, name in zip(axes, panels):
        values = column(history, name)
        # Markers too: a one-epoch fit (kmeans) or a term of a one-epoch phase is a single point.
        ax.plot(epochs, values, marker="o", markersize=3, color="tab:green" if name == ACC_COLUMN else "tab:blue")
        if name == ACC_COLUMN:
            ax.set_title("accuracy (watched, never used)")
            ax.set_ylim(0.0, 1.0)
        else:
            ax.set_title(TERM_DESCRIPTIONS.get(name, name))
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        # Every panel spans the whole run, so a term of one phase sits where that phase was.
        ax.set_xlim(epochs.min() - 0.5, epochs.max() + 0.5)
        if len(epochs) <= 12:
            ax.set_xticks(epochs)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        _mark_phases(ax, epochs, phases)
    for ax in axes[len(panels) or 1:]:
        ax.set_visible(False)
    return fig
