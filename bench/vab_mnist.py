"""VAB on MNIST: our recipe against the paper's, several seeds, scored on the 10k test images.

    python bench/vab_mnist.py                      # 32 bits, seeds 0 1 2, both recipes
    python bench/vab_mnist.py --bits 16 --seeds 0
    python bench/vab_mnist.py --smoke     # 1 epoch each on digits, 8 bits; results in a temporary directory

Writes bench/results/vab_mnist.json (every run's metrics.json under "runs") and a markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_smoke_options, fmt, results_dir, summarise, write_results  # noqa: E402

from bitcluster.data import load_dataset  # noqa: E402
from bitcluster.training.pipeline import train_run  # noqa: E402

FIELDS = ("acc", "nmi", "ari", "psnr", "bpp", "seconds_per_epoch", "train_seconds")
PAPER = {"vab-paper": "0.717 best run at ~80 bits on train images (mean ~0.55)"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bits", type=int, nargs="+", default=[32])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--methods", nargs="+", default=["vab", "vab-paper"])
    ap.add_argument("--epochs", type=int, default=None, help="epochs for every method (default: each method's own)")
    ap.add_argument("--name", default="vab_mnist")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    add_smoke_options(ap)
    args = ap.parse_args()
    dataset = "mnist"
    if args.smoke:
        args.bits, args.seeds, args.epochs, dataset = [8], [0], 1, "digits"
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    default_epochs = {"vab": 30, "vab-paper": 10}
    data = load_dataset(dataset)
    runs = []
    for bits in args.bits:
        for method in args.methods:
            for seed in args.seeds:
                epochs = args.epochs or default_epochs.get(method)  # None: the method's own default
                with tempfile.TemporaryDirectory() as tmp:
                    m = train_run(method, data, Path(tmp), {"bits": bits, "clusters": 10, "epochs": epochs,
                                                              "seed": seed}, progress=True)
                runs.append(m)
                print(json.dumps({k: m[k] for k in ("method", "bits", "seed", "acc", "psnr", "train_seconds")}),
                      flush=True)
    summary = summarise(runs, ("method", "bits", "epochs"), FIELDS)
    lines = ["| method | bits | bpp | epochs | runs | test ACC | NMI | ARI | PSNR (dB) | s/epoch | total s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary:
        lines.append(f"| {r['method']} | {r['bits']} | {r['bpp_mean']:.4f} | {r['epochs']} | {r['n_runs']} | "
                     f"{fmt(r, 'acc')} | {fmt(r, 'nmi')} | {fmt(r, 'ari')} | {fmt(r, 'psnr', 2)} | "
                     f"{fmt(r, 'seconds_per_epoch', 1)} | {fmt(r, 'train_seconds', 0)} |")
    table = "\n".join(lines)
    write_results(args.name, runs, summary, table, {"paper_reference": PAPER, "data": dataset},
                  directory=results_dir(args))
    print(table)


if __name__ == "__main__":
    main()
