"""Serving benchmark: the consumer's classifier and the vendor's encoder, in process and over HTTP.

    python bench/serving.py                      # the embedded default model, 5 s per measurement
    python bench/serving.py --model-dir DIR --seconds 10 --concurrency 8

Measures, each for ``--seconds``:

* consumer in process, one ONNX Runtime thread: classify throughput (codes/s) at batch 1 and
  4096, against plain numpy computing the same posterior (unpack, ``z @ W + b``, argmax);
* consumer over HTTP (a real ``bitcluster serve consumer``): batch 1 as JSON and batch 4096 as
  octet-stream, with ``--concurrency`` clients, throughput and p50/p99 latency;
* vendor on the CPU: encode throughput (images/s) in process and over HTTP.

Writes every measurement to ``bench/results/serving.json`` (``runs``, via ``_common.write_results``)
and ``serving.md``, and prints the markdown table. numpy's BLAS gets the same thread count as
ONNX Runtime (``--threads``, default 1), so the in-process comparison is one core against one core. The load generator runs on the same machine as the services: on a small machine it
competes with them for cores, so HTTP numbers are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from _common import summarise, write_results
from bitcluster.core.codes import pack_codes, unpack_codes
from bitcluster.core.manifest import load_manifest
from bitcluster.core.onnx_model import create_session
from bitcluster.core.wire import OCTET_STREAM as OCTET
from bitcluster.core.preprocessing import Preprocessing
from bitcluster.serving.process import ServiceProcess
from bitcluster.serving.settings import DEFAULT_MODEL_DIR



def summarize(name: str, latencies: list[float], items_per_call: int, wall_s: float, **extra) -> dict:
    lat = np.asarray(latencies) * 1e3
    return {"name": name, "calls": len(lat), "items_per_call": items_per_call, "wall_s": wall_s,
            "items_per_s": len(lat) * items_per_call / wall_s, "mean_ms": float(lat.mean()),
            "p50_ms": float(np.percentile(lat, 50)), "p90_ms": float(np.percentile(lat, 90)),
            "p99_ms": float(np.percentile(lat, 99)), "max_ms": float(lat.max()), **extra}


def time_calls(fn, seconds: float) -> tuple[list[float], float]:
    """Call ``fn()`` back to back for ``seconds`` (at least once); per-call latencies and wall time."""
    fn()  # warm-up
    latencies, start = [], time.perf_counter()
    while True:
        t = time.perf_counter()
        fn()
        latencies.append(time.perf_counter() - t)
        if t - start >= seconds:
            return latencies, time.perf_counter() - start


def classifier_weights_from_onnx(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """W (D, K) and b (K,) of the exported classifier: the numpy baseline computes the same posterior."""
    import onnx
    from onnx import numpy_helper

    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}
    return inits["W"], inits["b"]


def bench_consumer_in_process(model_dir: Path, seconds: float, threads: int, rng) -> list[dict]:
    manifest, onnx_path = load_manifest(model_dir, "consumer")
    session, provider = create_session(onnx_path, intra_op_threads=threads)
    w, b = classifier_weights_from_onnx(onnx_path)
    runs = []
    for batch in (1, 4096):
        packed = pack_codes(rng.integers(0, 2, (batch, manifest.bits)))
        ort_fn = lambda: session.run(["clusters"], {"codes": packed})  # noqa: E731
        np_fn = lambda: (unpack_codes(packed, manifest.bits).astype(np.float32) @ w + b).argmax(axis=1)  # noqa: E731
        assert (ort_fn()[0] == np_fn()).all(), "onnxruntime and numpy disagree"
        for engine, fn in (("onnxruntime", ort_fn), ("numpy", np_fn)):
            lat, wall = time_calls(fn, seconds)
            runs.append(summarize(f"consumer in-process {engine} batch {batch}", lat, batch, wall, engine=engine,
                                  batch=batch, threads=threads, provider=provider if engine == "onnxruntime" else "-"))
    return runs


async def load_test(url: str, make_request, seconds: float, concurrency: int) -> tuple[list[float], float]:
    """``concurrency`` clients sending ``make_request(client)`` back to back for ``seconds``."""
    import httpx

    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        await make_request(client)  # warm-up
        start = time.perf_counter()

        async def worker() -> None:
            while time.perf_counter() - start < seconds:
                t = time.perf_counter()
                r = await make_request(client)
                r.raise_for_status()
                latencies.append(time.perf_counter() - t)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, time.perf_counter() - start


def bench_consumer_http(model_dir: Path, seconds: float, threads: int, concurrency: int, rng) -> list[dict]:
    manifest, _ = load_manifest(model_dir, "consumer")
    one = [base64.b64encode(pack_codes(rng.integers(0, 2, (1, manifest.bits))).tobytes()).decode()]
    many = pack_codes(rng.integers(0, 2, (4096, manifest.bits))).tobytes()
    headers = {"Content-Type": OCTET, "X-Model-Id": manifest.model_id, "X-Code-Bits": str(manifest.bits)}
    env = {"BITCLUSTER_INTRA_OP_THREADS": str(threads), "BITCLUSTER_LOG_LEVEL": "warning", "BITCLUSTER_API_KEY": ""}
    runs = []
    with ServiceProcess("consumer", model_dir, env=env) as consumer:
        cases = [("consumer HTTP JSON batch 1", 1,
                  lambda c: c.post("/v1/classify", json={"model_id": manifest.model_id, "codes": one})),
                 ("consumer HTTP octet-stream batch 4096", 4096,
                  lambda c: c.post("/v1/classify", content=many, headers=headers))]
        for name, batch, request in cases:
            lat, wall = asyncio.run(load_test(consumer.url, request, seconds, concurrency))
            runs.append(summarize(name, lat, batch, wall, batch=batch, concurrency=concurrency, threads=threads))
    return runs


def bench_vendor(model_dir: Path, seconds: float, threads: int, concurrency: int, rng) -> list[dict]:
    manifest, onnx_path = load_manifest(model_dir, "vendor")
    prep = Preprocessing.from_dict(manifest.preprocessing)
    session, provider = create_session(onnx_path, allow_gpu=False, intra_op_threads=threads)
    images = rng.integers(0, 256, (4096, prep.height, prep.width), dtype=np.uint8)
    lat, wall = time_calls(lambda: session.run(["codes"], {"images": prep.apply(images)}), seconds)
    runs = [summarize("vendor in-process encode batch 4096 (preprocess + ONNX)", lat, 4096, wall, batch=4096,
                      threads=threads, provider=provider)]
    batch = images[:1024]
    body = json.dumps({"pixels": batch.tolist()}).encode()
    env = {"BITCLUSTER_INTRA_OP_THREADS": str(threads), "BITCLUSTER_LOG_LEVEL": "warning", "BITCLUSTER_API_KEY": "",
           "BITCLUSTER_USE_GPU": "false"}
    with ServiceProcess("vendor", model_dir, env=env) as vendor:
        request = lambda c: c.post("/v1/encode", content=body,  # noqa: E731
                                   headers={"Content-Type": "application/json", "Accept": OCTET})
        lat, wall = asyncio.run(load_test(vendor.url, request, seconds, concurrency))
    runs.append(summarize("vendor HTTP JSON pixels batch 1024 -> octet-stream", lat, 1024, wall, batch=1024,
                          concurrency=concurrency, threads=threads, request_bytes=len(body)))
    return runs


def markdown(runs: list[dict]) -> str:
    lines = ["| measurement | items/s | p50 ms | p99 ms | calls |", "|---|---:|---:|---:|---:|"]
    for r in runs:
        lines.append(f"| {r['name']} | {r['items_per_s']:,.0f} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['calls']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--seconds", type=float, default=5.0, help="Duration of each measurement.")
    parser.add_argument("--concurrency", type=int, default=4, help="Concurrent HTTP clients.")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads.")
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)  # numpy's BLAS: as many threads as onnxruntime gets

    rng = np.random.default_rng(0)
    manifest, _ = load_manifest(args.model_dir, "consumer")
    runs = bench_consumer_in_process(args.model_dir, args.seconds, args.threads, rng)
    runs += bench_consumer_http(args.model_dir, args.seconds, args.threads, args.concurrency, rng)
    runs += bench_vendor(args.model_dir, args.seconds, args.threads, args.concurrency, rng)
    import onnxruntime

    table = markdown(runs)
    path = write_results("serving", runs, summarise(runs, ("name",), ("items_per_s", "p50_ms", "p99_ms")), table,
                         extra={"model_id": manifest.model_id, "bits": manifest.bits, "clusters": manifest.clusters,
                                "seconds": args.seconds, "concurrency": args.concurrency, "threads": args.threads,
                                "cpus": os.cpu_count(), "python": sys.version.split()[0],
                                "onnxruntime": onnxruntime.__version__})
    print(f"model {manifest.model_id} ({manifest.bits} bits, {manifest.clusters} clusters), {args.seconds:g} s each, "
          f"{args.concurrency} HTTP clients, {args.threads} ORT thread(s); runs in {path}\n")
    print(table)


if __name__ == "__main__":
    main()
