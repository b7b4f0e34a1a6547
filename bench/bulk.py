"""Bulk-job benchmark: ``bitcluster bulk`` with the local engine against the Ray engine, side by side.

    python bench/bulk.py                  # 200k digits rows, 3 runs of each engine (a few minutes)
    python bench/bulk.py --rows 1000000 --actors 4 --batch-size 16384
    python bench/bulk.py --smoke          # 5k rows, one run each, writes nothing (under a minute)

The input is scikit-learn's 1,797 digits tiled to ``--rows`` images in one ``.npz``; the model is
the embedded default (8x8 digits, 16 bits, 10 clusters). Each run is a whole job as the CLI runs
it (load the model, encode, classify, write the Parquet file), timed from the job's start to the
renamed file; ``ray.init`` (a local Ray started for the benchmark) is timed apart and not included.
The two engines' runs alternate, so a load spike on the machine hits both alike, and every Ray
output is compared with the local one byte for byte. Results: ``bench/results/bulk.json`` (every
run in ``runs``) and ``bulk.md``.

On one machine the local engine is the faster one: it runs the same batches with no
serialisation, no object store and no scheduling. Ray is for when one machine is not enough
(more cores or GPUs than one host has, or inputs spread over a cluster's storage).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread per ONNX session, in this process and the actors

import numpy as np
import pyarrow.parquet as pq

from _common import fmt, summarise, write_results
from bitcluster.api.model import DEFAULT_MODEL_DIR
from bitcluster.bulk.job import run_bulk_job
from bitcluster.bulk.options import BulkOptions


def digits_npz(rows: int, directory: Path) -> Path:
    """scikit-learn's digits as 8-bit images, tiled to ``rows`` images, saved as ``x`` in an .npz."""
    from sklearn.datasets import load_digits

    x = np.rint(load_digits().images * (255.0 / 16.0)).astype(np.uint8)
    path = directory / "digits.npz"
    np.savez(path, x=np.resize(x, (rows, 8, 8)))
    return path


def one_run(engine: str, npz: Path, out: Path, options: BulkOptions, repeat: int) -> dict:
    summary = run_bulk_job([npz], DEFAULT_MODEL_DIR, out, engine=engine, options=options, force=True)
    return {"engine": engine, "repeat": repeat, "rows": summary.rows, "seconds": summary.seconds,
            "rows_per_s": summary.rows / summary.seconds, "batch_size": options.batch_size,
            "threads": options.threads, "actors": options.actors if engine == "ray" else None,
            "load_average_1m": os.getloadavg()[0]}


def table(summary: list[dict], runs: list[dict], ray_init_s: float, identical: bool, cpus: int) -> str:
    lines = ["| engine | rows | runs | actors | batch | rows/s | seconds per job |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for row in summary:
        lines.append(f"| {row['engine']} | {row['rows']:,} | {row['n_runs']} | {row['actors'] or '–'} | "
                     f"{row['batch_size']} | {fmt(row, 'rows_per_s', 0)} | {fmt(row, 'seconds', 2)} |")
    local = [r["rows_per_s"] for r in runs if r["engine"] == "local"]
    ray = [r["rows_per_s"] for r in runs if r["engine"] == "ray"]
    loads = [r["load_average_1m"] for r in runs]
    lines += ["", f"{cpus} CPUs, 1-minute load average {min(loads):.1f}-{max(loads):.1f} during the runs (other "
              "jobs on the machine slow both engines alike); "
              f"`ray.init` (local instance) took {ray_init_s:.1f} s, not counted above. "
              f"Ray rows byte-identical to local: {'yes' if identical else 'NO'}. "
              f"Local / Ray throughput: {np.mean(local) / np.mean(ray):.1f}x.",
              "", "On one machine the local engine is faster: the same batches without serialisation, "
              "object store or scheduling. Ray is for when one machine is not enough."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8192)
    parser.add_argument("--actors", type=int, default=os.cpu_count() or 1, help="Ray actors (default: one per CPU)")
    parser.add_argument("--smoke", action="store_true", help="5k rows in batches of 1024, one run each, results not written")
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.repeats, args.batch_size = 5_000, 1, 1024

    import ray

    cpus = os.cpu_count() or 1
    started = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    ray_init_s = time.perf_counter() - started
    runs, identical = [], True
    with tempfile.TemporaryDirectory(prefix="bench-bulk-") as tmp:
        npz = digits_npz(args.rows, Path(tmp))
        local_opts = BulkOptions(batch_size=args.batch_size, threads=1, progress=False)
        ray_opts = BulkOptions(batch_size=args.batch_size, threads=1, actors=args.actors, progress=False)
        for repeat in range(args.repeats):
            runs.append(one_run("local", npz, Path(tmp) / "local.parquet", local_opts, repeat))
            runs.append(one_run("ray", npz, Path(tmp) / "ray.parquet", ray_opts, repeat))
            identical &= pq.read_table(Path(tmp) / "ray.parquet").equals(pq.read_table(Path(tmp) / "local.parquet"))
            print(f"repeat {repeat}: " + ", ".join(f"{r['engine']} {r['rows_per_s']:,.0f} rows/s" for r in runs[-2:]),
                  file=sys.stderr)
    ray.shutdown()
    summary = summarise(runs, ("engine", "rows", "actors", "batch_size"), ("rows_per_s", "seconds"))
    text = table(summary, runs, ray_init_s, identical, cpus)
    print(text)
    if not args.smoke:
        path = write_results("bulk", runs, summary, text, extra={"ray_init_s": ray_init_s, "identical": identical,
                                                                  "cpus": cpus, "ray": ray.__version__,
                                                                  "model": str(DEFAULT_MODEL_DIR)})
        print(f"wrote {path}", file=sys.stderr)
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
