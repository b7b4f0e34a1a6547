"""The trained models the compressed-domain benchmarks work on, trained once and kept under ``runs/bench-models``.

Each model is the CLI's own recipe (``bitcluster train --method vab`` with its defaults) followed by
``bitcluster export``; a model already exported is reused, so the benchmarks that share a model
(search, refit, changes) train it once. ``--smoke`` runs use 8x8 digits at 10 epochs
(a few seconds; at 1-3 epochs the code is still collapsed, too few distinct codes to re-cluster).

    python bench/_models.py --data mnist --bits 16 32 64          # train and export ahead of the benchmarks
    python bench/_models.py --data mnist --bits 32 --without 8 9  # MNIST without two classes (novelty)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "runs" / "bench-models"
BITCLUSTER = [sys.executable, "-m", "bitcluster.cli"]
# Epochs of a --smoke model: enough for a code that is not collapsed (digits, a few seconds).
SMOKE_EPOCHS = 10


def dataset_without(data: str, classes: tuple[int, ...], root: Path = MODELS) -> str:
    """``data`` with the images of ``classes`` taken out of its training split, as an ``.npz`` path.

    The test split keeps every class: the left-out classes are the novelties a detector should flag.
    Labels are used only to make the split.
    """
    if not classes:
        return data
    from bitcluster.data import load_dataset

    path = root / f"{data}-without-{'-'.join(map(str, classes))}.npz"
    if not path.is_file():
        d = load_dataset(data)
        keep = ~np.isin(d.y_train, classes)
        shape = (d.preprocessing.height, d.preprocessing.width)
        to_uint8 = lambda x: np.rint(x.reshape(-1, *shape) * 255).astype(np.uint8)  # noqa: E731
        root.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, x_train=to_uint8(d.x_train[keep]), y_train=d.y_train[keep],
                            x_test=to_uint8(d.x_test), y_test=d.y_test)
        tmp.replace(path)
    return str(path)


def trained_model(data: str, bits: int, *, without: tuple[int, ...] = (), smoke: bool = False,
                  threads: int | None = None, root: Path = MODELS, seed: int = 0) -> Path:
    """The export directory of VAB at ``bits`` on ``data`` (less ``without``), trained if absent."""
    if smoke:
        data, root = "digits", root / "smoke"
    name = f"{data}{'-without-' + '-'.join(map(str, without)) if without else ''}-vab-{bits}-seed{seed}"
    run, export = root / name / "run", root / name / "export"
    if (export / "manifest.json").is_file():
        return export
    source = dataset_without(data, without, root)
    clusters = 10 - len(without) if data == "mnist" or smoke else None
    train = [*BITCLUSTER, "train", "--method", "vab", "--data", source, "--bits", str(bits), "--seed", str(seed),
             "--out", str(run), "--force", "--quiet"]
    if clusters:
        train += ["--clusters", str(clusters)]
    if smoke:
        train += ["--epochs", str(SMOKE_EPOCHS)]
    if threads:
        train += ["--threads", str(threads)]
    subprocess.run(train, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*BITCLUSTER, "export", str(run), "--out", str(export), "--force"], check=True,
                   stdout=subprocess.DEVNULL)
    return export


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="mnist")
    ap.add_argument("--bits", type=int, nargs="+", default=[16, 32, 64])
    ap.add_argument("--without", type=int, nargs="*", default=[])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    for bits in args.bits:
        path = trained_model(args.data, bits, without=tuple(args.without), smoke=args.smoke, threads=args.threads)
        print(f"{bits} bits: {path}", flush=True)


if __name__ == "__main__":
    main()
