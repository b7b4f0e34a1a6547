"""Every baseline on MNIST over several seeds, beside the figures the papers publish.

    python bench/seed_tables.py                                   # all baselines, seeds 0 1 2
    python bench/seed_tables.py --methods vade kdvae --seeds 0 1 2 3 4
    python bench/seed_tables.py --epochs-scale 0.2 --threads 2    # a fifth of the epochs (CPU time)
    python bench/seed_tables.py --data digits --seeds 0 --epochs-scale 0.05   # a smoke test, seconds
    python bench/seed_tables.py --smoke     # every method, fewest epochs, digits; results in a temp directory
    python bench/seed_tables.py --runs-dir runs/seed_tables --epochs vade=40 kdvae=40   # resumable, epochs set

With ``--runs-dir`` every run keeps its directory, and a run whose ``metrics.json`` is already
there (same method, seed and epochs) is read back instead of trained again: an interrupted
benchmark resumes, and methods can be run in separate invocations and tabulated together.

Each run goes through ``bitcluster.training.pipeline.train_run`` and is scored on the test split. Writes
bench/results/seed_tables.json (every run's metrics under "runs") and seed_tables.md: our mean
± std beside each published number, "short" where our mean falls below it. On another dataset
the results are written under seed_tables_<data> and nothing is compared.
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
from bitcluster.training.methods import METHODS  # noqa: E402
from bitcluster.training.pipeline import train_run  # noqa: E402

# Epochs in all (pre-training included) at --epochs-scale 1, for MNIST: each method's own default
# (kmeans and gmm have no epochs: 1 here, only as a label), but the paper's VAB recipe at 10.
DEFAULT_EPOCHS = {name: getattr(method.config_class(), "epochs", 1) for name, method in METHODS.items()}
DEFAULT_EPOCHS["vab-paper"] = 10
BASELINES = ["kmeans", "gmm", "ae-kmeans", "ae-gmm", "convae-kmeans", "convae-gmm", "vade", "kdae", "kdvae", "vc"]

VAB = "vab paper, Table 1 (best ACC, MNIST test)"
KDVAE = "k-DVAE paper, Table 2 (ACC, MNIST, mean of 10 runs)"
AEGMM = "Bhattarai, Table 2 (v-measure, MNIST {split})"
# method -> [(metric, published value, source)]; the v-measures are given for the train and the
# test split, and we score the test split, so the test figure is the one to meet.
PUBLISHED: dict[str, list[tuple[str, float, str]]] = {
    "kmeans": [("acc", 0.5537, VAB), ("v_measure", 0.520, AEGMM.format(split="test")),
               ("v_measure", 0.490, AEGMM.format(split="train"))],
    "gmm": [("acc", 0.4222, VAB), ("v_measure", 0.507, AEGMM.format(split="test")),
            ("v_measure", 0.325, AEGMM.format(split="train"))],
    "ae-kmeans": [("v_measure", 0.767, AEGMM.format(split="test")), ("v_measure", 0.748, AEGMM.format(split="train"))],
    "ae-gmm": [("acc", 0.8220, KDVAE), ("v_measure", 0.826, AEGMM.format(split="test")),
               ("v_measure", 0.817, AEGMM.format(split="train"))],
    "convae-kmeans": [("v_measure", 0.784, AEGMM.format(split="test")),
                      ("v_measure", 0.757, AEGMM.format(split="train"))],
    "convae-gmm": [("v_measure", 0.887, AEGMM.format(split="test")), ("v_measure", 0.841, AEGMM.format(split="train"))],
    "vade": [("acc", 0.9530, VAB), ("acc", 0.9443, KDVAE)],
    "kdae": [("acc", 0.9651, KDVAE)],
    "kdvae": [("acc", 0.9787, KDVAE)],
    "vc": [],  # only the abstract is in our library: no figure to compare with
    "vab": [("acc", 0.7169, VAB)],
}
# The GMM clusters the latent of the same autoencoder K-means did (as in Bhattarai's comparison):
# with --runs-dir, a finished K-means run of the same seed and epochs lends its autoencoder.
SHARED_AUTOENCODER = {"ae-gmm": "ae-kmeans", "convae-gmm": "convae-kmeans"}
FIELDS = ("acc", "nmi", "ari", "v_measure", "acc_quantised", "psnr", "bits", "train_seconds", "seconds_per_epoch")


def scaled_epochs(method: str, scale: float, overrides: dict[str, int] | None = None) -> int:
    if overrides and method in overrides:
        return overrides[method]
    return max(1, int(round(DEFAULT_EPOCHS.get(method, 30) * scale)))


def parse_overrides(items: list[str]) -> dict[str, int]:
    """``["vade=40", "kdvae=60"]`` -> ``{"vade": 40, "kdvae": 60}``."""
    out = {}
    for item in items:
        method, sep, value = item.partition("=")
        if not sep or not value.isdigit() or int(value) < 1:
            raise ValueError(f"--epochs wants METHOD=N with N >= 1, got {item!r}")
        out[method] = int(value)
    return out


def finished_run(run_dir: Path, method: str, seed: int, epochs: int) -> dict | None:
    """The metrics of a finished run of the same setting in ``run_dir``, if there is one."""
    path = run_dir / "metrics.json"
    if not path.is_file():
        return None
    m = json.loads(path.read_text())
    config = json.loads((run_dir / "config.json").read_text())
    if m.get("method") == method and m.get("seed") == seed and config.get("train", {}).get("epochs", epochs) == epochs:
        return m
    return None


def comparison_table(summary: list[dict]) -> str:
    lines = ["| method | metric | ours (mean ± std) | published | source | |", "|---|---|---|---|---|---|"]
    for row in summary:
        for metric, value, source in PUBLISHED.get(row["method"], []):
            if metric + "_mean" not in row:
                continue
            verdict = "short" if row[metric + "_mean"] < value else "meets"
            lines.append(f"| {row['method']} | {metric} | {fmt(row, metric)} | {value:.4f} | {source} | {verdict} |")
    return "\n".join(lines)


def results_table(summary: list[dict]) -> str:
    lines = ["| method | epochs | runs | test ACC | NMI | ARI | v-measure | ACC at the code's bits | bits | PSNR (dB) "
             "| total s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary:
        bits = f"{r['bits_mean']:.0f}" if "bits_mean" in r else "–"
        lines.append(f"| {r['method']} | {r['epochs']} | {r['n_runs']} | {fmt(r, 'acc')} | {fmt(r, 'nmi')} | "
                     f"{fmt(r, 'ari')} | {fmt(r, 'v_measure')} | {fmt(r, 'acc_quantised')} | {bits} | "
                     f"{fmt(r, 'psnr', 2)} | {fmt(r, 'train_seconds', 0)} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="mnist", help="mnist (default), digits, or a .npz path")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--methods", nargs="+", default=BASELINES)
    ap.add_argument("--epochs-scale", type=float, default=1.0,
                    help="multiply every method's default epochs (at least 1 epoch): cuts CPU time")
    ap.add_argument("--epochs", nargs="+", default=[], metavar="METHOD=N",
                    help="epochs in all for these methods (overrides --epochs-scale)")
    ap.add_argument("--bits", type=int, default=32, help="bit budget of the quantised latent codes")
    ap.add_argument("--name", default=None, help="results file name (default: seed_tables[_<data>])")
    ap.add_argument("--runs-dir", type=Path, default=None, help="keep the run directories here (default: discard)")
    ap.add_argument("--add-runs", type=Path, nargs="+", default=[],
                    help="finished run directories to tabulate too (e.g. the rate sweep's 32-bit VAB runs)")
    ap.add_argument("--collect-only", action="store_true",
                    help="train nothing: tabulate the finished runs in --runs-dir")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    add_smoke_options(ap)
    args = ap.parse_args()
    if args.smoke:
        # every method at its minimum (scaled_epochs keeps at least 1 epoch)
        args.data, args.seeds, args.epochs_scale, args.runs_dir, args.collect_only = "digits", [0], 1e-3, None, False
    if args.collect_only and not args.runs_dir:
        ap.error("--collect-only reads the runs in --runs-dir")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        overrides = parse_overrides(args.epochs)
    except ValueError as e:
        ap.error(str(e))
    unknown = sorted((set(args.methods) | set(overrides)) - set(DEFAULT_EPOCHS))
    if unknown:
        ap.error(f"unknown methods {unknown}; choose from {sorted(DEFAULT_EPOCHS)}")
    data = load_dataset(args.data)
    compare = data.name == "mnist"
    name = args.name or ("seed_tables" if compare else f"seed_tables_{Path(data.name).stem}")
    runs, missing = [], []
    for method in args.methods:
        for seed in args.seeds:
            epochs = scaled_epochs(method, args.epochs_scale, overrides)
            # only what the method takes: kmeans and gmm have no epochs, kmeans ... kdvae no code length
            takes = METHODS[method].options()
            options = {"bits": args.bits, "clusters": 10, "epochs": epochs, "seed": seed}
            options = {k: v for k, v in options.items() if k in takes}
            with tempfile.TemporaryDirectory() as tmp:
                out = args.runs_dir / f"{method}-seed{seed}" if args.runs_dir else Path(tmp)
                m = finished_run(out, method, seed, epochs) if args.runs_dir else None
                partner = SHARED_AUTOENCODER.get(method)
                if m is None and args.runs_dir and partner:
                    lender = args.runs_dir / f"{partner}-seed{seed}"
                    if finished_run(lender, partner, seed, epochs):
                        options["autoencoder_from"] = str(lender)
                if m is None and args.collect_only:
                    print(f"not run: {method} seed {seed} ({epochs} epochs)", flush=True)
                    missing.append(f"{method} seed {seed}")
                    continue
                if m is None:
                    # not finished with these epochs: what --runs-dir holds for the setting is replaced
                    m = train_run(method, data, out, options, progress=True, force=True)
            m["epochs_scale"] = args.epochs_scale
            m["epochs_requested"] = epochs
            if args.runs_dir:
                m["run_dir"] = str(out)
            runs.append(m)
            print(json.dumps({k: m.get(k) for k in ("method", "seed", "epochs", "acc", "v_measure", "train_seconds")}),
                  flush=True)
    for run_dir in args.add_runs:
        m = json.loads((run_dir / "metrics.json").read_text())
        runs.append({**m, "run_dir": str(run_dir)})
    summary = summarise(runs, ("method", "epochs"), FIELDS)
    heading = (f"## Baselines on {data.name}, seeds {' '.join(map(str, args.seeds))}, epochs as in the table"
               f" (x{args.epochs_scale:g} of the defaults unless set with --epochs: {overrides or 'none'})")
    parts = [heading, "", results_table(summary), "",
             "ae-gmm and convae-gmm cluster the latent of the autoencoder their K-means run of the same seed "
             "trained (when that run was there): their total seconds leave that training out."]
    if missing:
        parts += ["", f"Not run (out of CPU time): {', '.join(missing)}."]
    if compare:
        parts += ["", "### Beside the published figures", "", comparison_table(summary)]
    else:
        parts += ["", "(The published figures are MNIST's: nothing is compared on this dataset.)"]
    table = "\n".join(parts)
    write_results(name, runs, summary, table,
                  {"published": {m: [list(p) for p in v] for m, v in PUBLISHED.items()}, "data": data.name,
                   "epochs_scale": args.epochs_scale, "seeds": args.seeds}, directory=results_dir(args))
    print(table)


if __name__ == "__main__":
    main()
