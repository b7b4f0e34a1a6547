"""``bitcluster bulk``: the command that runs a bulk job (registered in :mod:`bitcluster.cli`).

Only typer is imported here; the engines, pyarrow and Ray load when the command runs, so the CLI
starts where the ``[bulk]`` extra is not installed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer


SKIPPED_NAMED = 5  # skipped inputs named in the warning; the summary lists them all


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def bulk_command(
    images: list[Path] = typer.Argument(..., exists=True, help="PNG/JPEG files, directories of them, or .npz "
                                                               "files with 'x' or 'x_test'."),
    out: Path = typer.Option(..., help="Parquet file to write: one row {id, code, cluster} per input."),
    model_dir: Optional[Path] = typer.Option(None, help="Exported model directory, both halves "
                                                        "(default: the embedded model)."),
    engine: str = typer.Option("local", help="local: in this process; ray: Ray Data over an actor pool "
                                             "(joins $RAY_ADDRESS, else starts a local Ray)."),
    batch_size: int = typer.Option(8192, min=1, help="Images per batch."),
    threads: int = typer.Option(1, min=0, help="ONNX Runtime threads per session (0: its default)."),
    actors: Optional[int] = typer.Option(None, min=1, help="Ray: actors in the pool (default: CPUs / --cpus-per-actor)."),
    cpus_per_actor: float = typer.Option(1.0, min=0, help="Ray: CPUs reserved per actor."),
    gpus_per_actor: float = typer.Option(0.0, min=0, help="Ray: GPUs per actor; above 0 the encoder runs on CUDA."),
    resize: bool = typer.Option(False, help="Also resize images of another aspect ratio than the model's, "
                                            "stretching them (by default they are skipped, with the reason)."),
    force: bool = typer.Option(False, help="Replace --out if it exists."),
    quiet: bool = typer.Option(False, help="No progress bars."),
) -> None:
    """Encode and classify many images with the model in this process (no services), into one Parquet file.

    Rows: id (as `cluster` names inputs), code (the packed code bytes), cluster. The file appears
    only when complete. An input that cannot be encoded (not a PNG/JPEG, corrupt, a decompression
    bomb) is skipped, not fatal. Prints a JSON summary with the throughput and the skipped inputs.
    """
    try:
        from bitcluster.api.model import DEFAULT_MODEL_DIR
        from bitcluster.bulk.engine_ray import RayMissingError
        from bitcluster.bulk.job import ENGINES, run_bulk_job
        from bitcluster.bulk.options import BulkOptions
        from bitcluster.bulk.parquet import OutputExistsError
        from bitcluster.client.inputs import InputError
        from bitcluster.core.manifest import ManifestError
        from bitcluster.core.preprocessing import ImageFormatError
    except ImportError as e:
        _fail(f"the bulk command needs its extra ({e}): pip install 'bitcluster[bulk]'")

    if engine not in ENGINES:
        _fail(f"--engine is local or ray, not {engine!r}")
    options = BulkOptions(batch_size=batch_size, threads=threads, actors=actors, cpus_per_actor=cpus_per_actor,
                          gpus_per_actor=gpus_per_actor, progress=not quiet, resize=resize)
    try:
        summary = run_bulk_job(images, model_dir or DEFAULT_MODEL_DIR, out, engine=engine, options=options,
                               force=force)
    except (RayMissingError, OutputExistsError, InputError, ManifestError, ImageFormatError, OSError) as e:
        _fail(str(e))
    for warning in _warnings(summary):
        typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)
    typer.echo(json.dumps(summary.to_dict(), indent=2))


def _warnings(summary) -> list[str]:
    """What the user should know about a finished job: the inputs skipped (the first few named, with why),
    images converted between grey and RGB, and images that look the other way round from the embedded model's."""
    from bitcluster.core.channels import conversion_message
    from bitcluster.core.polarity import INVERT_ADVICE

    warnings = []
    if summary.skipped:
        shown = [s["error"] for s in summary.skipped_inputs[:SKIPPED_NAMED]]  # each error names its input
        more = summary.skipped - len(shown)
        warnings.append(f"{summary.skipped} input(s) could not be encoded and were skipped (all listed as "
                        "skipped_inputs in the summary): " + "; ".join(shown) + (f"; and {more} more" if more else ""))
    if summary.converted:
        warnings.append(conversion_message(summary.converted, summary.rows, summary.conversion))
    if summary.light_background * 2 > summary.rows:
        warnings.append(f"{summary.light_background} of {summary.rows} images are dark on a light background "
                        f"(the median pixel of their border is bright); unless the model was trained on such "
                        f"images, {INVERT_ADVICE}")
    return warnings
