"""``bitcluster refit``: a new consumer half clustered from stored codes alone."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from bitcluster.cli.common import fail


def refit(
    codes: Path = typer.Argument(..., help="The codes: a Parquet from `bitcluster bulk` (its code column), or an "
                                           ".npy / .npz of packed (N, ceil(bits / 8)) uint8 codes."),
    model_dir: Path = typer.Option(..., help="The model whose encoder made the codes (its vendor half is copied)."),
    clusters: str = typer.Option("auto", help="Number of clusters K, or auto (chosen by held-out log-likelihood)."),
    out: Path = typer.Option(..., help="Model directory to write: the same vendor files, a new consumer half."),
    seed: int = typer.Option(0, help="Random seed of the restarts; the same seed gives the same model."),
    force: bool = typer.Option(False, help="Replace a non-empty --out (once the new model is complete)."),
) -> None:
    """Cluster stored codes anew (no images, no start from the old mixture) into a new model directory.

    The vendor's files are copied byte for byte, so codes already made stay valid; the consumer
    half is new, and so is the model_id: deploy both halves of --out together.
    """
    from bitcluster.bulk.codes_file import read_packed_codes
    from bitcluster.core.manifest import ManifestError, load_manifest
    from bitcluster.training.refit import refit_model_dir

    if clusters != "auto" and not (clusters.isdigit() and int(clusters) >= 2):
        fail(f"--clusters takes an integer >= 2 or auto, got {clusters!r}")
    try:
        bits = load_manifest(model_dir, "vendor")[0].bits
        result = refit_model_dir(read_packed_codes(codes, bits), model_dir, out,
                                 clusters if clusters == "auto" else int(clusters), random_state=seed, force=force)
    except (ManifestError, ValueError) as e:
        fail(str(e))
    m = result.manifest
    typer.echo(json.dumps({"model_id": m.model_id, "out": str(out), "bits": m.bits, "clusters": m.clusters,
                           "refit": result.record}, indent=2))
