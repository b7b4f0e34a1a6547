"""Shared by the benchmark scripts: summarising runs, writing results, the ``--smoke`` options."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import tempfile
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


def add_smoke_options(parser: argparse.ArgumentParser) -> None:
    """``--smoke`` (tiny sizes, under a minute: does the benchmark still run?) and ``--results-dir``."""
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, under a minute; results go to --results-dir or a temporary directory, "
                             "never to bench/results")
    parser.add_argument("--results-dir", type=Path, default=None,
                        help="where to write the results (default: bench/results; with --smoke a temporary directory)")


def results_dir(args: argparse.Namespace) -> Path:
    """``--results-dir`` if given, else a new temporary directory for ``--smoke``, else ``bench/results``.

    A smoke run never overwrites the committed results: its numbers mean nothing.
    """
    if args.results_dir is not None:
        return args.results_dir
    if args.smoke:
        return Path(tempfile.mkdtemp(prefix="bitcluster-bench-smoke-"))
    return RESULTS


def machine_load() -> dict[str, float]:
    """The 1, 5 and 15 minute load averages (runnable processes), to state beside timings."""
    one, five, fifteen = os.getloadavg()
    return {"load_1min": one, "load_5min": five, "load_15min": fifteen}


def write_results(name: str, runs: list[dict], summary: list[dict], table: str, extra: dict | None = None,
                  directory: Path = RESULTS) -> Path:
    """``<directory>/<name>.json`` (every run's raw metrics under ``runs``) and ``<name>.md`` (the table)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "machine": {"platform": platform.platform(), "processor": platform.machine(),
                           "cpus": os.cpu_count()},
               **(extra or {}), "summary": summary, "runs": runs}
    path = directory / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=float) + "\n")
    (directory / f"{name}.md").write_text(table + "\n")
    return path


def fmt(row: dict, field: str, digits: int = 3) -> str:
    if field + "_mean" not in row:
        return "–"
    return f"{row[field + '_mean']:.{digits}f} ± {row[field + '_std']:.{digits}f}"


CLIENTS = ("httpx", "http.client")


def request_overhead_p50s(consumer_url: str, model_id: str, bits: int, *, requests: int = 1000, warmup: int = 200,
                          binary_batch: int = 4096, api_key: str | None = None, seed: int = 0,
                          client: str = "httpx") -> dict[str, float]:
    """p50 latency (ms) of a running consumer's cheapest requests, over one keep-alive connection.

    Measures ``/healthz`` (the floor: the HTTP stack and middlewares only), ``/v1/classify`` with a
    JSON batch of one code, and ``/v1/classify`` with ``binary_batch`` codes as octet-stream, both
    with the default (JSON) answer and asking for the binary one (``Accept: application/octet-stream``).
    The kinds are interleaved, so that a load spike on the machine hits them alike.

    ``client``: ``httpx`` (what a Python user reaches for: its own cost, about a millisecond a request
    here, is in every figure) or ``http.client`` (the standard library's, a few tens of microseconds:
    the figures are then mostly the server's own cost, and the ratios to /healthz the stricter ones).
    """
    import base64
    import time

    import numpy as np

    from bitcluster.core.codes import pack_codes
    from bitcluster.core.wire import JSON, OCTET_STREAM, code_headers

    if client not in CLIENTS:
        raise ValueError(f"client must be one of {CLIENTS}, got {client!r}")
    rng = np.random.default_rng(seed)
    packed = pack_codes(rng.integers(0, 2, (binary_batch, bits)).astype(bool))
    auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    one = json.dumps({"model_id": model_id, "codes": [base64.b64encode(packed[0].tobytes()).decode()]}).encode()
    binary_headers = {"Content-Type": OCTET_STREAM, **code_headers(model_id, bits, binary_batch)}
    kinds = {  # name: (method, path, body, headers)
        "healthz": ("GET", "/healthz", None, {}),
        "json_batch_1": ("POST", "/v1/classify", one, {"Content-Type": JSON}),
        f"binary_{binary_batch}_json_answer": ("POST", "/v1/classify", packed.tobytes(), binary_headers),
        f"binary_{binary_batch}_binary_answer": ("POST", "/v1/classify", packed.tobytes(),
                                                 {**binary_headers, "Accept": OCTET_STREAM}),
    }
    times: dict[str, list[float]] = {name: [] for name in kinds}
    with _keep_alive_sender(client, consumer_url, auth) as send:
        for i in range(warmup + requests):
            for name, (method, path, body, headers) in kinds.items():
                start = time.perf_counter()
                status, text = send(method, path, body, headers)
                elapsed = time.perf_counter() - start
                if status != 200:
                    raise RuntimeError(f"{name}: {status} {text[:200]!r}")
                if i >= warmup:
                    times[name].append(elapsed)
    p50 = {name: 1000 * statistics.median(t) for name, t in times.items()}
    for name in kinds:
        if name != "healthz":
            p50[name + "_over_healthz"] = p50[name] / p50["healthz"]
    return p50


@contextlib.contextmanager
def _keep_alive_sender(client: str, url: str, headers: dict):
    """``send(method, path, body, headers) -> (status, body bytes)`` over one keep-alive connection."""
    if client == "httpx":
        import httpx

        with httpx.Client(base_url=url, headers=headers, timeout=30) as c:
            def send(method, path, body, extra):
                r = c.request(method, path, content=body, headers=extra)
                return r.status_code, r.content
            yield send
        return
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        def send(method, path, body, extra):
            conn.request(method, path, body=body, headers={**headers, **extra})
            r = conn.getresponse()
            return r.status, r.read()
        yield send
    finally:
        conn.close()
