"""Rate versus accuracy on MNIST (the paper's Figure 3): ACC and PSNR against bpp, and the bits
an entropy-coded code really costs.

    python bench/rate_accuracy.py --bits 4 8 16 32 64 --seeds 0 1 2 --methods vab vab-paper vade
    python bench/rate_accuracy.py --smoke     # one 1-epoch run on digits; results in a temporary directory

4 bits is the floor's neighbour: 10 clusters need log2(10) = 3.3 bits, and the entropy-coded
column shows how close to it the codes get. A run that collapsed (more than a quarter of its bits
constant or fewer than half of its clusters used, see bitcluster.training.collapse) is counted
in the "collapsed" column.

VaDE (and any continuous-latent method) is trained once per seed and scored at each rate with its
latent quantised to exactly that many bits per image (bits split evenly over its dimensions).

Runs are kept in --sweep-dir (default runs/rate_accuracy), so an interrupted benchmark resumes.
Writes bench/results/rate_accuracy.json (every run's metrics.json under "runs"), a markdown
table, and the two plots bench/results/acc_vs_bpp.png and psnr_vs_bpp.png.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_smoke_options, fmt, results_dir, summarise, write_results  # noqa: E402

from bitcluster.training.sweep import run_sweep  # noqa: E402

FIELDS = ("acc", "nmi", "psnr", "bpp", "coded_bits_mean", "ideal_bits_mean", "train_seconds", "acc_continuous",
          "psnr_continuous")
# Targets for VAB on the MNIST test images (mean of the seeds): (bits, field, threshold, what).
TARGETS = [(4, "acc", 0.90, "ACC >= 0.90 at 4 bits")] + [
    (b, "acc", 0.96, f"ACC >= 0.96 at {b} bits") for b in (8, 16, 32, 64)] + [
    (32, "saving", 0.20, "entropy-coded codes >= 20% below D at 32 bits")]
# The paper's Figure 3 has no table; its text gives these two points.
PAPER = {"best_acc": "0.717 at about 80 bits (train images, best of 10 runs)", "psnr": "about 20 dB at 0.0625 bpp"}
# The same two points on the plots (bpp of a 32x32 image).
PAPER_POINTS = [("acc", 80 / 1024, 0.7169, "vab paper: best run (train)"),
                ("psnr", 0.0625, 20.0, "vab paper: about 20 dB")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bits", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--methods", nargs="+", default=["vab"])
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--data", default="mnist")
    ap.add_argument("--sweep-dir", type=Path, default=Path("runs/rate_accuracy"))
    ap.add_argument("--collect-only", action="store_true", help="train nothing: tabulate and plot the finished runs")
    add_smoke_options(ap)
    args = ap.parse_args()
    out_dir = results_dir(args)
    if args.smoke:  # one short vab-paper run on digits, its sweep directory beside the results
        args.bits, args.seeds, args.methods, args.epochs, args.data = [8], [0], ["vab-paper"], 1, "digits"
        args.sweep_dir = out_dir / "sweep"
    runs = run_sweep(args.methods, args.bits, args.seeds, args.data, args.sweep_dir, epochs=args.epochs,
                     train=not args.collect_only, reference=PAPER_POINTS if args.data == "mnist" else ())
    summary = summarise(runs, ("method", "bits", "epochs"), FIELDS)
    lines = ["| method | bits | bpp | epochs | runs | collapsed | test ACC | NMI | PSNR (dB) | entropy-coded bits |"
             " ideal bits | saving vs raw |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(summary, key=lambda r: (r["method"], r["bits"])):
        saving = 1 - r["coded_bits_mean_mean"] / r["bits"] if "coded_bits_mean_mean" in r else None
        collapsed = sum(bool(run.get("collapsed")) for run in runs
                        if run["method"] == r["method"] and run["bits"] == r["bits"])
        lines.append(f"| {r['method']} | {r['bits']} | {r['bpp_mean']:.4f} | {r['epochs']} | {r['n_runs']} | "
                     f"{collapsed} | "
                     f"{fmt(r, 'acc')} | {fmt(r, 'nmi')} | {fmt(r, 'psnr', 2)} | {fmt(r, 'coded_bits_mean', 1)} | "
                     f"{fmt(r, 'ideal_bits_mean', 1)} | {'–' if saving is None else f'{saving:.0%}'} |")
    for method in sorted({r["method"] for r in summary if "acc_continuous_mean" in r}):
        r = next(r for r in summary if r["method"] == method)
        lines += ["", f"{method}: ACC and PSNR of its latent quantised to each row's bits (bits split evenly over "
                  f"its dimensions); its unquantised latent scores ACC {fmt(r, 'acc_continuous')}, "
                  f"PSNR {fmt(r, 'psnr_continuous', 2)} dB."]
    lines += ["", "Ten clusters need log2(10) = 3.3 bits: the entropy-coded column at 4 bits shows how close the "
              "codes get to that floor.", "", "### Targets (vab, mean of the seeds)", "", "| target | measured | |",
              "|---|---|---|"]
    for bits, field, threshold, what in TARGETS:
        row = next((r for r in summary if r["method"] == "vab" and r["bits"] == bits), None)
        if row is None:
            lines.append(f"| {what} | not run | |")
            continue
        value = (1 - row["coded_bits_mean_mean"] / bits) if field == "saving" else row[field + "_mean"]
        shown = f"{value:.0%}" if field == "saving" else fmt(row, field, 2 if field == "psnr" else 3)
        lines.append(f"| {what} | {shown} | {'meets' if value >= threshold else 'short'} |")
    lines += ["", f"The paper (vab, Figure 3, train images): best ACC {PAPER['best_acc']}; PSNR {PAPER['psnr']}."]
    table = "\n".join(lines)
    write_results("rate_accuracy", runs, summary, table, {"paper_reference": PAPER, "data": args.data},
                  directory=out_dir)
    for png in ("acc_vs_bpp.png", "psnr_vs_bpp.png"):
        shutil.copy(args.sweep_dir / png, out_dir / png)
    print(table)


if __name__ == "__main__":
    main()
