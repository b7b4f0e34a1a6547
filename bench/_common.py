"""Shared by the benchmark scripts: summarising runs and writing results."""

from __future__ import annotations

import json
import platform
import statistics
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def mean_std(values: list[float]) -> tuple[float, float]:
    values = [float(v) for v in values]
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summarise(runs: list[dict], keys: tuple[str, ...], fields: tuple[str, ...]) -> list[dict]:
    """Group runs by ``keys`` and give mean and std of each of ``fields``."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in runs:
        groups[tuple(r.get(k) for k in keys)].append(r)
    rows = []
    for key, rs in groups.items():
        row = dict(zip(keys, key), n_runs=len(rs))
        for f in fields:
            vals = [r[f] for r in rs if r.get(f) is not None]
            if vals:
                row[f + "_mean"], row[f + "_std"] = mean_std(vals)
        rows.append(row)
    return rows


def write_results(name: str, runs: list[dict], summary: list[dict], table: str, extra: dict | None = None) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "machine": {"platform": platform.platform(), "processor": platform.machine()},
               **(extra or {}), "summary": summary, "runs": runs}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=float) + "\n")
    (RESULTS / f"{name}.md").write_text(table + "\n")
    return path


def fmt(row: dict, field: str, digits: int = 3) -> str:
    if field + "_mean" not in row:
        return "–"
    return f"{row[field + '_mean']:.{digits}f} ± {row[field + '_std']:.{digits}f}"
