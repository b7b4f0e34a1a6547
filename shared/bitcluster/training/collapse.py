"""Collapse is never silent: dead bits and unused clusters, counted after every training run.

A code bit that is the same for every test image carries nothing, and a cluster no test image
falls into is a cluster the model gave up. Either is how a run collapses (too few epochs, a code
longer than the data needs, a recipe that lost its gradient); the metrics record both counts and
the CLI and the sweep say so in words.
"""

from __future__ import annotations

import numpy as np

# Past these fractions a run is called collapsed.
DEAD_BITS_LIMIT = 0.25      # more than a quarter of the bits constant
USED_CLUSTERS_LIMIT = 0.5   # fewer than half of the clusters used


def dead_bits(codes: np.ndarray) -> int:
    """Bits that take one value on every row of ``codes`` (N, D) {0, 1}."""
    codes = np.asarray(codes)
    return int((codes.min(axis=0) == codes.max(axis=0)).sum())


def collapse_report(*, clusters: int, clusters_used: int, bits: int | None = None,
                    dead: int | None = None) -> dict:
    """``{"collapsed": bool, "warnings": [str, ...]}`` for a finished run.

    Parameters
    ----------
    clusters : K the run was asked for
    clusters_used : distinct clusters assigned on the test split
    bits, dead : the code length and its dead bits, when the method has a binary code
    """
    warnings = []
    if bits is not None and dead is not None and dead > DEAD_BITS_LIMIT * bits:
        warnings.append(f"{dead} of {bits} code bits are constant on the test images: the code has collapsed. "
                        "Try more epochs (--epochs), a shorter code (--bits), or another seed.")
    if clusters_used < USED_CLUSTERS_LIMIT * clusters:
        warnings.append(f"only {clusters_used} of {clusters} clusters are used on the test images. "
                        "Try more epochs (--epochs), fewer clusters (--clusters) if the data has fewer "
                        "groups, or another seed.")
    return {"collapsed": bool(warnings), "warnings": warnings}


def export_warning(metrics: dict) -> str | None:
    """What ``bitcluster export`` says of a run whose ``metrics`` record a collapse; None for a healthy run.

    The exported manifest keeps those metrics (``collapsed``, ``warnings``), so a served model's
    collapse stays on record too.
    """
    if not metrics.get("collapsed"):
        return None
    return ("this run collapsed, and the exported model will sort images into few clusters "
            "(recorded in the manifest's metrics): " + " ".join(metrics.get("warnings", [])))
