"""Rate versus accuracy: train a grid of (method, bits, seed), then plot ACC and PSNR against bpp.

Each setting gets its own run directory under the sweep directory; a setting whose
``metrics.json`` already exists is not trained again, so an interrupted sweep resumes.
"""

from __future__ import annotations

import json
from pathlib import Path

from .data import Dataset, load_dataset
from .runs import METRICS, write_json


def run_dir_name(method: str, bits: int, seed: int) -> str:
    return f"{method}-b{bits}-s{seed}"


def run_sweep(methods: list[str], bits: list[int], seeds: list[int], data: str | Dataset, out: Path,
              epochs: int | None = None, clusters: int = 10, progress: bool = True) -> list[dict]:
    """Train every (method, bits, seed) not yet done; return all their metrics."""
    from .pipeline import train_run

    out = Path(out)
    dataset = data if isinstance(data, Dataset) else load_dataset(data)
    runs = []
    for method in methods:
        for b in bits:
            for seed in seeds:
                run = out / run_dir_name(method, b, seed)
                if (run / METRICS).is_file():
                    runs.append(json.loads((run / METRICS).read_text()))
                    continue
                options = {"bits": b, "clusters": clusters, "seed": seed}
                if epochs:
                    options["epochs"] = epochs
                runs.append(train_run(method, dataset, run, options, progress=progress))
    write_json(out / "sweep.json", {"runs": runs})
    plot_rate_curves(runs, out)
    return runs


def plot_rate_curves(runs: list[dict], out: Path) -> list[Path]:
    """``acc_vs_bpp.png`` and ``psnr_vs_bpp.png``: mean line and ±1 std band, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    paths = []
    for field, label, name in (("acc", "clustering accuracy (test)", "acc_vs_bpp.png"),
                               ("psnr", "reconstruction PSNR (dB, test)", "psnr_vs_bpp.png")):
        fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
        for method in sorted({r["method"] for r in runs}):
            rs = [r for r in runs if r["method"] == method and r.get(field) is not None]
            bpps = sorted({r["bpp"] for r in rs})
            if not bpps:
                continue
            vals = [[r[field] for r in rs if r["bpp"] == b] for b in bpps]
            mean = np.array([np.mean(v) for v in vals])
            std = np.array([np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in vals])
            n = max(len(v) for v in vals)
            ax.plot(bpps, mean, marker="o", label=f"{method} (n={n})")
            ax.fill_between(bpps, mean - std, mean + std, alpha=0.2)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = Path(out) / name
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths
