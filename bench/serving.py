"""Serving benchmark: the consumer's classifier in process, ONNX Runtime beside two numpy paths, and
what HTTP adds.

    python bench/serving.py                      # 16 and 32 bits, 5 s per measurement (~5 minutes)
    python bench/serving.py --smoke              # tiny, under a minute; results in a temporary directory
    python bench/serving.py --model-dir DIR      # an export of your own (it needs consumer/entropy_model.json)

Models: a BMM with random parameters (K = 10) at each of ``--bits``, exported through the real
export path (:func:`bitcluster.training.export.bmm_classifier_half`, ``classifier_onnx``,
``write_model_dir``; a random MLP as the vendor half). Speed does not depend on the model's quality.

In process, one thread (ONNX Runtime's intra-op threads and numpy's BLAS, through threadpoolctl),
at batch 4096 and batch 1, the engines taking ``--rounds`` short turns each, interleaved, so that
the machine's drift in speed hits them alike and ONNX Runtime is compared with numpy round by
round; batch 4096 a second time with ``--flush-mib`` MiB of other memory touched before
every call (outside the timing), as a server's own work between two requests does to the caches:

* ``onnxruntime``: ``consumer/classifier.onnx`` opened by :func:`bitcluster.core.onnx_model.load_onnx_model`,
  as the services open it, and run as the consumer runs it: for clusters only (a classify request
  without ``posteriors``) the export's ``consumer/clusters.onnx``, the classifier pruned to that
  output (ONNX Runtime runs every node of a graph whatever outputs are asked for); for clusters
  and posteriors ``consumer/classifier.onnx``;
* ``numpy matmul``: ``unpack_codes``, ``z @ W + b`` in float32;
* ``numpy LUT``: per byte j a (256, K) table of that byte's contribution to the log joint, one
  ``take`` per byte, summed.

Both numpy paths are built from the model's own ``consumer/entropy_model.json`` (``log_pi``,
``means``), never from the ONNX file, and each is timed twice: clusters only, and clusters plus
posteriors (the graph's two outputs). Every engine's clusters are checked against the float64
posterior's argmax first.

Over HTTP, a real ``bitcluster serve consumer`` (one ONNX Runtime thread) per model and one
keep-alive connection on loopback, from each of two clients in turn: ``httpx`` (a typical Python
client, whose own cost is in every figure) and the standard library's ``http.client`` (light: the
figures are then mostly the server's). p50 of ``/healthz``, of a JSON batch of 1, and of a binary
batch of 4096 (with a JSON and with a binary answer), each also as a multiple of ``/healthz``.

Writes ``serving.json`` (every measurement under ``runs``, the load averages before and after)
and ``serving.md`` to ``bench/results`` (``--results-dir``), and prints the table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from _common import (CLIENTS, add_smoke_options, machine_load, request_overhead_p50s, results_dir, summarise,
                     write_results)
from bitcluster.core.codes import code_bytes, pack_codes, unpack_codes
from bitcluster.core.mixture import bmm_log_joint, classifier_weights
from bitcluster.core.onnx_model import load_onnx_model

CLUSTERS = 10
ONNXRUNTIME = "onnxruntime"
ORT_CLUSTERS, ORT_FULL = f"{ONNXRUNTIME}: clusters", f"{ONNXRUNTIME}: + posteriors"


def export_random_model(out: Path, bits: int, seed: int) -> Path:
    """A BMM with random parameters and a random 8x8 MLP encoder, exported as the CLI exports a run."""
    from bitcluster.core.preprocessing import Preprocessing
    from bitcluster.training.export import (VabEncoderHalf, bmm_classifier_half, classifier_onnx, encoder_onnx,
                                            write_model_dir)

    rng = np.random.default_rng(seed)
    side, hidden = 8, 32
    layers = [(rng.normal(0, 0.2, (hidden, side * side)), rng.normal(0, 0.1, hidden)),
              (rng.normal(0, 0.2, (bits, hidden)), rng.normal(0, 0.1, bits))]
    means = rng.beta(0.5, 0.5, (CLUSTERS, bits))  # confident bits, as a trained model has
    log_pi = np.log(rng.dirichlet(np.full(CLUSTERS, 5.0)))
    write_model_dir(out, encoder_onnx(VabEncoderHalf.from_layers(layers), side * side),
                    classifier_onnx(bmm_classifier_half(log_pi, means), code_bytes(bits)),
                    method="random-bmm", bits=bits, clusters=CLUSTERS,
                    preprocessing=Preprocessing(side, side).to_dict(), metrics={}, training={"seed": seed},
                    entropy_model={"log_pi": log_pi, "means": means})
    return out


def softmax_in_place(log_joint: np.ndarray) -> np.ndarray:
    """Rows of a (N, K) float32 log joint -> posteriors, reusing its memory (numpy's fastest)."""
    log_joint -= log_joint.max(axis=1, keepdims=True)
    np.exp(log_joint, out=log_joint)
    log_joint /= log_joint.sum(axis=1, keepdims=True)
    return log_joint


Engine = Callable[[np.ndarray], tuple]  # packed codes -> (clusters, posteriors or None)


def numpy_engines(log_pi: np.ndarray, means: np.ndarray) -> dict[str, Engine]:
    """Both numpy paths, each for clusters only and for clusters and posteriors, by name."""
    weights, bias = classifier_weights(log_pi, means)              # (D, K), (K,) float32
    bits = weights.shape[0]
    n_bytes = code_bytes(bits)
    padded = np.zeros((8 * n_bytes, weights.shape[1]))
    padded[:bits] = weights
    byte_bits = unpack_codes(np.arange(256, dtype=np.uint8)[:, None], 8).astype(np.float64)   # (256, 8)
    tables = np.stack([byte_bits @ padded[8 * j:8 * j + 8] for j in range(n_bytes)])         # (B, 256, K)
    tables[0] += bias                                              # the bias rides on byte 0's table
    tables = tables.astype(np.float32)

    def matmul(packed: np.ndarray) -> np.ndarray:
        return unpack_codes(packed, bits).astype(np.float32) @ weights + bias

    def lut(packed: np.ndarray) -> np.ndarray:
        log_joint = tables[0].take(packed[:, 0], axis=0)
        for j in range(1, n_bytes):
            log_joint += tables[j].take(packed[:, j], axis=0)
        return log_joint

    engines = {}
    for name, log_joint in (("numpy matmul", matmul), ("numpy LUT", lut)):
        engines[f"{name}: clusters"] = _clusters_only(log_joint)
        engines[f"{name}: + posteriors"] = _with_posteriors(log_joint)
    return engines


def _clusters_only(log_joint: Callable[[np.ndarray], np.ndarray]) -> Engine:
    return lambda packed: (log_joint(packed).argmax(axis=1), None)


def _with_posteriors(log_joint: Callable[[np.ndarray], np.ndarray]) -> Engine:
    def run(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        joint = log_joint(packed)
        return joint.argmax(axis=1), softmax_in_place(joint)
    return run


def check_engines(engines: dict[str, Engine], log_pi: np.ndarray, means: np.ndarray, bits: int, rng) -> None:
    """Every engine's clusters are the float64 argmax wherever float32 rounding cannot decide (ties aside)."""
    z = rng.integers(0, 2, (4096, bits))
    log_joint = bmm_log_joint(z, log_pi, means)
    top_two = np.sort(log_joint, axis=1)[:, -2:]
    decided = top_two[:, 1] - top_two[:, 0] > 1e-4 * (1 + np.abs(top_two[:, 1]))
    for name, fn in engines.items():
        clusters, posteriors = fn(pack_codes(z))
        if not (clusters[decided] == log_joint.argmax(axis=1)[decided]).all():
            raise AssertionError(f"{name} disagrees with the float64 BMM posterior's argmax")
        if posteriors is not None and not np.allclose(posteriors.sum(axis=1), 1, atol=1e-5):
            raise AssertionError(f"{name}: posteriors do not sum to 1")


def time_engines(engines: dict[str, Engine], packed: np.ndarray, seconds: float, rounds: int,
                 between: Callable[[], object] | None = None) -> dict[str, list[list[float]]]:
    """Per-call latencies (s) of each engine, one list per round.

    The engines take turns, ``rounds`` short turns each (``seconds / rounds`` of calls), the order
    reversed every other round: this machine's speed drifts by tens of percent over seconds, and
    turns this short meet the same drift, so that one round's figures can be compared engine to
    engine (:func:`paired_ratio`). ``between`` runs before every timed call, outside the timing
    (:func:`cache_flusher`).
    """
    latencies: dict[str, list[list[float]]] = {name: [] for name in engines}
    names = list(engines)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            fn, turn = engines[name], []
            fn(packed)  # warm-up: caches, lazy allocations
            start = time.perf_counter()
            while True:
                if between is not None:
                    between()
                t = time.perf_counter()
                fn(packed)
                turn.append(time.perf_counter() - t)
                if t - start >= seconds / rounds:
                    break
            latencies[name].append(turn)
    return latencies


def paired_ratio(numpy_round_p50s: list[float], ort_round_p50s: list[float]) -> dict[str, float]:
    """ONNX Runtime's speed over numpy's, round by round: median, quartiles, share of rounds won."""
    ratios = np.asarray(numpy_round_p50s) / np.asarray(ort_round_p50s)
    q25, median, q75 = np.percentile(ratios, [25, 50, 75])
    return {"median": float(median), "q25": float(q25), "q75": float(q75), "rounds": len(ratios),
            "rounds_won": float(np.mean(ratios > 1))}


def cache_flusher(mib: int) -> Callable[[], object]:
    """Touch ``mib`` MiB: what a server's own work between two requests does to the CPU caches."""
    junk = np.ones(mib << 20, dtype=np.uint8)
    return junk.sum


def bench_in_process(model_dir: Path, seconds: float, rounds: int, threads: int, rng, flush_mib: int) -> list[dict]:
    onnx_model = load_onnx_model(model_dir, "consumer", intra_op_threads=threads)
    manifest, session = onnx_model.manifest, onnx_model.session
    if onnx_model.entropy_model is None:
        raise SystemExit(f"{model_dir} has no consumer/entropy_model.json: the numpy paths are built from it")
    log_pi, means = (np.asarray(a, dtype=np.float64) for a in onnx_model.entropy_model)
    engines = {ORT_CLUSTERS: lambda p: (onnx_model.run_clusters({"codes": p}), None),
               ORT_FULL: lambda p: tuple(session.run(["clusters", "posteriors"], {"codes": p}))}
    engines.update(numpy_engines(log_pi, means))
    check_engines(engines, log_pi, means, manifest.bits, rng)
    runs = []
    for batch, caches in ((4096, "warm"), (4096, "flushed"), (1, "warm")):
        packed = pack_codes(rng.integers(0, 2, (batch, manifest.bits)))
        between = cache_flusher(flush_mib) if caches == "flushed" else None
        row = []
        for engine, turns in time_engines(engines, packed, seconds, rounds, between).items():
            lat_us = np.concatenate(turns) * 1e6
            p50 = float(np.percentile(lat_us, 50))
            row.append({"kind": "in_process", "bits": manifest.bits, "batch": batch, "caches": caches,
                        "flushed_mib": flush_mib if caches == "flushed" else 0, "engine": engine,
                        "model_id": manifest.model_id, "threads": threads, "calls": len(lat_us),
                        "p50_us": p50, "p90_us": float(np.percentile(lat_us, 90)),
                        "p99_us": float(np.percentile(lat_us, 99)), "mean_us": float(lat_us.mean()),
                        "codes_per_s_p50": batch / p50 * 1e6, "codes_per_s_mean": batch / lat_us.mean() * 1e6,
                        "round_p50_us": [float(np.median(t)) * 1e6 for t in turns]})
        for ort, full in ((ORT_CLUSTERS, False), (ORT_FULL, True)):
            ort_run = next(r for r in row if r["engine"] == ort)
            best = min((r for r in row if not r["engine"].startswith(ONNXRUNTIME) and ("+" in r["engine"]) == full),
                       key=lambda r: r["p50_us"])
            ort_run["vs_best_numpy"] = {"engine": best["engine"],
                                        **paired_ratio(best["round_p50_us"], ort_run["round_p50_us"])}
        runs += row
    return runs


def bench_http(model_dir: Path, threads: int, requests: int, warmup: int) -> list[dict]:
    """One run per client (:data:`_common.CLIENTS`), against one consumer process."""
    from bitcluster.core.manifest import load_manifest
    from bitcluster.serving.process import ServiceProcess

    manifest, _ = load_manifest(model_dir, "consumer")
    env = {"BITCLUSTER_INTRA_OP_THREADS": str(threads), "BITCLUSTER_LOG_LEVEL": "warning", "BITCLUSTER_API_KEY": ""}
    runs = []
    with ServiceProcess("consumer", model_dir, env=env) as consumer:
        for client in CLIENTS:
            p50 = request_overhead_p50s(consumer.url, manifest.model_id, manifest.bits, requests=requests,
                                        warmup=warmup, client=client)
            runs.append({"kind": "http", "client": client, "bits": manifest.bits, "model_id": manifest.model_id,
                         "requests": requests, "threads": threads,
                         **{(k if k.endswith("_over_healthz") else f"{k}_p50_ms"): v for k, v in p50.items()}})
    return runs


def _speed(runs: list[dict], row: tuple, engine: str) -> float:
    return next(r["codes_per_s_p50"] for r in runs if _row(r) == row and r["engine"] == engine)


def _row(run: dict) -> tuple:
    return run["bits"], run["batch"], run.get("caches", "warm")


def _cell(runs: list[dict], row: tuple, engine: str) -> str:
    speed = _speed(runs, row, engine)
    return f"{speed / 1e6:.1f}M" if row[1] > 1 else f"{1 / speed * 1e6:.1f} µs"


def _paired_cell(ort_run: dict) -> str:
    paired = ort_run["vs_best_numpy"]
    return (f"{paired['median']:.2f}x ({paired['q25']:.2f}–{paired['q75']:.2f}; "
            f"{paired['rounds_won']:.0%} of {paired['rounds']})")


def markdown(runs: list[dict], header: str) -> str:
    in_process = [r for r in runs if r["kind"] == "in_process"]
    names = sorted({r["engine"] for r in in_process}, key=lambda n: ("+" in n, not n.startswith(ONNXRUNTIME), n))
    flushed = next((r["flushed_mib"] for r in in_process if r.get("caches") == "flushed"), None)
    lines = [header, "", "### Consumer in process, one thread: codes/s at the median call (batch 4096), "
             "median latency (batch 1)", "",
             "| bits, batch | " + " | ".join(names)
             + " | ORT ÷ best numpy, clusters only | ORT ÷ best numpy, + posteriors |",
             "|---|" + "---:|" * (len(names) + 2)]
    for row in sorted({_row(r) for r in in_process}, key=lambda k: (k[0], -k[1], k[2] != "warm")):
        ratios = [_paired_cell(next(r for r in in_process if _row(r) == row and r["engine"] == ort))
                  for ort in (ORT_CLUSTERS, ORT_FULL)]
        label = f"{row[0]}, {row[1]}" + (", caches flushed" if row[2] == "flushed" else "")
        lines.append(f"| {label} | " + " | ".join(_cell(in_process, row, n) for n in names)
                     + f" | {ratios[0]} | {ratios[1]} |")
    lines += ["", "*ORT ÷ best numpy*: the numpy path with the lower median latency, against ONNX Runtime "
                  "round by round (both ran within the same fraction of a second): the median ratio of speeds, "
                  "its quartiles, and the share of rounds ONNX Runtime was faster in."]
    if flushed:
        lines += ["", f"*Caches flushed*: {flushed} MiB of other memory touched before every call (outside the "
                      "timing), as a server's own work between two requests does."]
    http = [r for r in runs if r["kind"] == "http"]
    if http:
        lines += ["", "### Consumer over HTTP, one keep-alive connection on loopback: p50 ms (x /healthz)", "",
                  "| bits | client | /healthz | JSON, batch 1 | binary 4096, JSON answer "
                  "| binary 4096, binary answer |",
                  "|---|---|---:|---:|---:|---:|"]
        for r in sorted(http, key=lambda r: (r["bits"], r.get("client", "httpx"))):
            cells = [f"{r[k + '_p50_ms']:.2f} ({r[k + '_over_healthz']:.2f}x)"
                     for k in ("json_batch_1", "binary_4096_json_answer", "binary_4096_binary_answer")]
            lines.append(f"| {r['bits']} | {r.get('client', 'httpx')} | {r['healthz_p50_ms']:.2f} | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=None,
                        help="benchmark this export instead of random BMMs at each of --bits")
    parser.add_argument("--bits", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--seconds", type=float, default=5.0, help="time per engine and batch size, all rounds")
    parser.add_argument("--rounds", type=int, default=50,
                        help="turns each engine takes, interleaved (this machine's speed drifts over seconds)")
    parser.add_argument("--requests", type=int, default=1000, help="HTTP requests of each kind, after 200 of warm-up")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads and numpy's BLAS threads")
    parser.add_argument("--flush-mib", type=int, default=8,
                        help="MiB touched before every call in the 'caches flushed' measurement")
    add_smoke_options(parser)
    args = parser.parse_args(argv)
    warmup = 200
    if args.smoke:
        args.seconds, args.rounds, args.requests, warmup = 0.3, 4, 20, 5
    out_dir = results_dir(args)
    import onnxruntime
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    rng = np.random.default_rng(0)
    load_before = machine_load()
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        model_dirs = ([args.model_dir] if args.model_dir else
                      [export_random_model(Path(tmp) / f"bmm{bits}", bits, seed=bits) for bits in args.bits])
        for model_dir in model_dirs:
            runs += bench_in_process(model_dir, args.seconds, args.rounds, args.threads, rng, args.flush_mib)
            runs += bench_http(model_dir, args.threads, args.requests, warmup)
            print(f"measured {model_dir.name}", file=sys.stderr, flush=True)
    load_after = machine_load()
    header = (f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} CPUs, one thread per engine; load average "
              f"(1 min) {load_before['load_1min']:.1f} before, {load_after['load_1min']:.1f} after; onnxruntime "
              f"{onnxruntime.__version__}, numpy {np.__version__}; {args.seconds:g} s per engine and batch size"
              f"{' (smoke: the numbers mean nothing)' if args.smoke else ''}.")
    table = markdown(runs, header)
    summary = summarise([r for r in runs if r["kind"] == "in_process"], ("bits", "batch", "caches", "engine"),
                        ("codes_per_s_p50", "p50_us"))
    path = write_results("serving", runs, summary, table, directory=out_dir,
                         extra={"load_before": load_before, "load_after": load_after, "threads": args.threads,
                                "seconds": args.seconds, "rounds": args.rounds, "smoke": args.smoke,
                                "flush_mib": args.flush_mib,
                                "python": sys.version.split()[0], "onnxruntime": onnxruntime.__version__,
                                "numpy": np.__version__})
    print(table)
    print(f"\nruns in {path}")


if __name__ == "__main__":
    main()
