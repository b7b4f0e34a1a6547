"""``bitcluster cache list`` and ``bitcluster cache prune``: the teacher cache, and what no run can use in it.

The logic is :mod:`bitcluster.training.teacher.cache_maintenance`; it is imported when a command
runs (it needs the train extra), so that ``bitcluster --help`` stays light.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from bitcluster.cli.common import fail

cache_app = typer.Typer(help="The teacher cache: what it holds, and removing what this version cannot use.",
                        no_args_is_help=True)

CACHE_DIR_HELP = "The cache root (default: $BITCLUSTER_CACHE_DIR, else the user cache directory)."


def _maintenance():
    try:
        from bitcluster.training.teacher import cache_maintenance
        from bitcluster.training.teacher.cache import TeacherCache
    except ImportError as e:
        fail(f"the cache commands need the train extra ({e}): pip install 'bitcluster[train]'")
    return cache_maintenance, TeacherCache


def human_size(size: int) -> str:
    """``size`` bytes in binary units: ``512 B``, ``3.4 KiB``, ``312.0 MiB``, ``1.2 GiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            break
        value /= 1024
    return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"


@cache_app.command("list")
def list_cache(
    cache_dir: Optional[Path] = typer.Option(None, help=CACHE_DIR_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of the table."),
) -> None:
    """One line per cached teacher (key, data, K, seed, features, recipe, size, created, usable), then totals."""
    maintenance, TeacherCache = _maintenance()
    try:
        contents = maintenance.read_cache(TeacherCache(cache_dir).root())
    except OSError as e:
        fail(str(e))
    decisions = contents.decisions
    if as_json:
        typer.echo(json.dumps({
            "root": str(contents.root), "recipe": contents.recipe,
            "teachers": [t.row() for t in contents.teachers],
            "centring": {"decisions": len(decisions), "usable": sum(d.usable for d in decisions),
                         "size": sum(d.size for d in decisions)},
            "leftovers": {"locks": [str(p) for p in contents.locks],
                          "temporaries": [str(p) for p in contents.temporaries + contents.decision_temporaries]},
            "size": contents.size}, indent=2))
        return
    typer.echo(f"teacher cache: {contents.root} (this version reads recipe {contents.recipe})")
    if contents.teachers:
        typer.echo(f"{'key':12}  {'data':12} {'K':>4} {'seed':>5}  {'features':11} {'recipe':>6} {'size':>10}  "
                   f"{'created':25}  usable")
    for t in contents.teachers:
        meta = t.metadata
        usable = "yes" if t.usable else f"no ({t.status})"
        typer.echo(f"{t.key[:12]:12}  {_text(meta.get('data_name')):12} {_text(meta.get('clusters')):>4} "
                   f"{_text(meta.get('seed')):>5}  {_text(t.features):11} {_text(t.recipe):>6} "
                   f"{human_size(t.size):>10}  {_text(meta.get('created')):25}  {usable}")
    unusable = [t for t in contents.teachers if not t.usable]
    typer.echo(f"{_count(len(contents.teachers), 'teacher')}, {human_size(sum(t.size for t in contents.teachers))}; "
               f"{len(unusable)} this version cannot use ({human_size(sum(t.size for t in unusable))})")
    typer.echo(f"centring decisions: {len(decisions)} ({sum(d.usable for d in decisions)} usable)")
    temporaries = len(contents.temporaries) + len(contents.decision_temporaries)
    if contents.locks or temporaries:
        typer.echo(f"builds under way or killed: {_count(len(contents.locks), 'lock file')}, "
                   f"{_count(temporaries, 'temporary', 'temporaries')} (prune removes those of killed builds)")
    typer.echo(f"total: {human_size(contents.size)}")
    if unusable or not all(d.usable for d in decisions):
        typer.echo("`bitcluster cache prune` removes what this version cannot use (--dry-run: only say what)")


@cache_app.command("prune")
def prune(
    cache_dir: Optional[Path] = typer.Option(None, help=CACHE_DIR_HELP),
    everything: bool = typer.Option(False, "--all", help="Remove every teacher and centring decision, usable "
                                                         "ones included (the next run builds its teacher again)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be removed."),
) -> None:
    """Remove the teachers and centring decisions this version cannot use, and what killed builds left.

    A teacher whose build lock a live build holds is kept, with its temporaries. Data sets cached in
    the same root are never touched.
    """
    maintenance, TeacherCache = _maintenance()
    root = TeacherCache(cache_dir).root()
    try:
        result = maintenance.prune_cache(root, everything=everything, dry_run=dry_run)
    except OSError as e:
        fail(f"{e} (what was removed before it stays removed; run the command again)")
    verb = "would remove" if dry_run else "removed"
    for removal in result.removed:
        typer.echo(f"{verb} {human_size(removal.size):>10}  {_relative(removal.path, root)}  ({removal.what})")
    for key in result.locked:
        typer.echo(f"kept {key[:12]}: a live build holds its lock")
    typer.echo(f"{'would free' if dry_run else 'freed'} {human_size(result.freed)} "
               f"({_count(len(result.removed), 'item')}) in {root}")


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def _text(value) -> str:
    return "?" if value is None else str(value)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
