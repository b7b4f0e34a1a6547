"""Test ACC of ``vab`` trained in bf16 against fp32, same seeds, same (cached) teacher.

    python bench/precision_accuracy.py                 # MNIST, 8 and 32 bits, seeds 0 1 2
    python bench/precision_accuracy.py --smoke         # digits, 8 bits, 2 epochs, a temporary directory

The fp32 runs are those of ``bench/rate_accuracy.py`` (its sweep directory, ``runs/rate_accuracy``):
the same command trains them, and runs already there are read, not trained again. The bf16 runs
go to ``runs/precision_accuracy``. The default teacher clusters PCA features, which no precision
touches, so both precisions learn from the very same pseudo-labels. Target (issue 25): the mean
test ACC at 8 and 32 bits within 0.005 of fp32's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_smoke_options, mean_std, results_dir, write_results  # noqa: E402

from bitcluster.training.sweep import run_sweep  # noqa: E402

NAME = "precision_accuracy"
TOLERANCE = 0.005


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bits", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--data", default="mnist")
    ap.add_argument("--fp32-dir", type=Path, default=Path("runs/rate_accuracy"))
    ap.add_argument("--bf16-dir", type=Path, default=Path("runs/precision_accuracy"))
    add_smoke_options(ap)
    args = ap.parse_args()
    directory = results_dir(args)
    epochs = None
    if args.smoke:
        args.bits, args.seeds, args.data, epochs = [8], [0], "digits", 2
        args.fp32_dir, args.bf16_dir = directory / "fp32", directory / "bf16"
    runs = []
    for precision, sweep_dir in (("fp32", args.fp32_dir), ("bf16", args.bf16_dir)):
        for run in run_sweep(["vab"], args.bits, args.seeds, args.data, sweep_dir, epochs=epochs,
                             progress=not args.smoke, precision=precision):
            runs.append({"precision": run["precision"], "bits": run["bits"], "seed": run["seed"], "acc": run["acc"],
                         "nmi": run["nmi"], "train_seconds": run["train_seconds"],
                         "seconds_per_epoch": run.get("seconds_per_epoch")})
    lines = ["| bits | fp32 test ACC | bf16 test ACC | bf16 - fp32 | within 0.005 |", "|---|---|---|---|---|"]
    summary = []
    for bits in args.bits:
        acc = {p: [r["acc"] for r in runs if r["bits"] == bits and r["precision"] == p] for p in ("fp32", "bf16")}
        (f_mean, f_std), (b_mean, b_std) = mean_std(acc["fp32"]), mean_std(acc["bf16"])
        gap = b_mean - f_mean
        summary.append({"bits": bits, "fp32_acc_mean": f_mean, "bf16_acc_mean": b_mean, "gap": gap,
                        "n_runs": len(acc["bf16"])})
        lines.append(f"| {bits} | {f_mean:.4f} ± {f_std:.4f} | {b_mean:.4f} ± {b_std:.4f} | {gap:+.4f} | "
                     f"{'yes' if abs(gap) <= TOLERANCE else 'no'} |")
    lines += ["", f"{args.data}, seeds {' '.join(map(str, args.seeds))}; mean ± std over the seeds. Each run's "
                  "train_seconds are in the json; they are no speed comparison (a sweep's first run of a seed "
                  "builds its teacher, and runs may share the machine): bench/precision.py times epochs."]
    table = "\n".join(lines)
    write_results(NAME, runs, summary, table, {"data": args.data}, directory=directory)
    print(table)


if __name__ == "__main__":
    main()
