"""``bitcluster search build`` and ``bitcluster search query``: a :class:`~bitcluster.search.CodeIndex` from the CLI.

Build an index from the Parquet file of a ``bitcluster bulk`` job, then ask it for the stored
codes nearest to new images (encoded here) or to the codes of another bulk file. Runs where the
``search`` extra is installed; nothing here imports torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from bitcluster.cli.common import fail

search_app = typer.Typer(help="Search stored codes by Hamming distance (needs the search extra).",
                         no_args_is_help=True)


def _imports():
    try:
        from bitcluster.api.model import load_model
        from bitcluster.core.manifest import ManifestError
        from bitcluster.search.code_index import CodeIndex
        import faiss  # noqa: F401  (fail now with the install hint, not on the first search)
    except ImportError as e:
        fail(f"the search commands need their extra ({e}): pip install 'bitcluster[search]'")
    return load_model, ManifestError, CodeIndex


@search_app.command("build")
def build(
    codes: Path = typer.Argument(..., exists=True, dir_okay=False,
                                 help="Parquet file from `bitcluster bulk`: its ids, codes and clusters."),
    out: Path = typer.Option(..., help="Index file to write (.npz)."),
    model_dir: Optional[Path] = typer.Option(None, help="The export `bulk` ran (its consumer half is enough; "
                                                        "default: the embedded model). Gives the codes' "
                                                        "length and model_id."),
    approximate: bool = typer.Option(False, help="Multi-index hashing instead of the exact scan: for millions "
                                                 "of codes."),
    force: bool = typer.Option(False, help="Replace --out if it exists."),
) -> None:
    """Index the codes of a bulk Parquet file; prints a JSON summary."""
    load_model, ManifestError, CodeIndex = _imports()
    from bitcluster.bulk.parquet import refuse_existing

    try:
        refuse_existing(out, force)
        model = load_model(model_dir)
        index = CodeIndex.from_parquet(codes, bits=model.bits, model_id=model.model_id, approximate=approximate)
        index.save(out)
    except (ManifestError, ValueError, OSError) as e:
        fail(str(e))
    typer.echo(json.dumps({"index": str(out), "codes": len(index), "bits": index.bits, "model_id": index.model_id,
                           "approximate": index.approximate}, indent=2))


@search_app.command("query")
def query(
    index_path: Path = typer.Argument(..., exists=True, dir_okay=False, metavar="INDEX",
                                      help="Index file from `bitcluster search build` (or CodeIndex.save)."),
    queries: list[Path] = typer.Argument(..., exists=True, help="A Parquet file from `bitcluster bulk` (its "
                                                                "codes), or PNG/JPEG files, directories of them, "
                                                                ".npz files (encoded with --model-dir)."),
    model_dir: Optional[Path] = typer.Option(None, help="The export that made the query codes or encodes the query "
                                                        "images (default: the embedded model); must be the "
                                                        "index's model."),
    k: int = typer.Option(10, "-k", min=1, help="Neighbours per query."),
    clusters: Optional[str] = typer.Option(None, help="Look only among these clusters, e.g. 3,5."),
    flips: int = typer.Option(1, min=0, help="Approximate index: bits a hash key may differ (more: slower, "
                                             "higher recall)."),
) -> None:
    """Print the stored codes nearest to each query: one JSON line {id, neighbours, distances} per query."""
    load_model, ManifestError, CodeIndex = _imports()
    from bitcluster.api.codes import Codes
    from bitcluster.client.inputs import InputError, collect_inputs
    from bitcluster.core.preprocessing import ImageFormatError
    from bitcluster.search.bulk_file import read_bulk_codes

    try:
        wanted = None if clusters is None else [int(c) for c in clusters.split(",")]
    except ValueError:
        fail(f"--clusters takes cluster numbers separated by commas, e.g. 3,5; got {clusters!r}")
    try:
        index = CodeIndex.load(index_path)
        model = load_model(model_dir)
        groups = []
        for path in queries:  # a bulk file's codes, or images encoded here
            if path.suffix.lower() == ".parquet":
                ids, packed, _ = read_bulk_codes(path)
                groups.append((list(ids), Codes(packed, model.bits, model.model_id)))
            else:
                groups += [(group.ids, model.encode(group.images)) for group in collect_inputs([path])]
        for query_ids, codes in groups:
            neighbours, distances = index.search(codes, k, clusters=wanted, flips=flips)
            for query_id, found, d in zip(query_ids, neighbours.tolist(), distances.tolist()):
                typer.echo(json.dumps({"id": query_id, "neighbours": found, "distances": d}))
    except (ManifestError, InputError, ImageFormatError, ValueError, OSError) as e:
        fail(str(e))

