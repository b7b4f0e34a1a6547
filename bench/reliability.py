"""Reliability benchmark: both services under sustained load, and a batch job across a consumer crash.

    python bench/reliability.py                          # the embedded default model, 20 s of load
    python bench/reliability.py --seconds 60 --clients 8 --fault-images 20000
    python bench/reliability.py --smoke        # 2 s of load, 300 images; results in a temporary directory

Two phases, each against real ``bitcluster serve`` processes on 127.0.0.1:

* **load**: ``--clients`` threads per service for ``--seconds`` (after a warm-up), the vendor
  encoding a JSON batch of ``--images-per-request`` base64 PNGs and the consumer classifying an
  octet-stream batch of ``--codes-per-request`` codes, both at once. Records requests, errors
  (any non-200 answer or failed connection), p50/p99 latency, and each service's resident memory
  (VmRSS) before any load, after the warm-up, and at the end: memory that keeps growing under a
  steady load is a leak.
* **fault**: ``bitcluster cluster ... --out RESULTS.jsonl`` over ``--fault-images`` images in
  small chunks; once results are landing the consumer is killed (SIGKILL), left down for
  ``--down-seconds``, and restarted on the same port. The job must retry and finish with exactly
  one result per input.

Writes every measurement to ``bench/results/reliability.json`` (``runs``) and a table to
``reliability.md``. The load generator shares the machine with the services, so on a small
machine the request rates are a floor. ``tests/services/test_load.py`` and ``tests/api/test_batch_job.py`` run
the same phases, short, and assert on them.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

from _common import add_smoke_options, results_dir, summarise, write_results
from bitcluster.core.manifest import load_manifest
from bitcluster.core.wire import CODE_BITS_HEADER, MODEL_ID_HEADER, OCTET_STREAM
from bitcluster.serving.process import ServiceProcess, free_port
from bitcluster.serving.settings import DEFAULT_MODEL_DIR

QUIET = {"BITCLUSTER_API_KEY": "", "BITCLUSTER_LOG_LEVEL": "warning", "BITCLUSTER_INTRA_OP_THREADS": "1"}


def rss_kib(pid: int) -> int:
    """Resident memory of a process (``VmRSS`` of ``/proc/PID/status``), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def png_base64(image: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def input_side(model_dir: Path) -> tuple[int, int]:
    pre = load_manifest(Path(model_dir), "vendor")[0].preprocessing
    return pre["height"], pre["width"]


def random_images(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, height, width), dtype=np.uint8)


# -- the load phase -------------------------------------------------------------------------
class Target:
    """One request, sent again and again: its statistics are kept per phase."""

    def __init__(self, service: str, url: str, request: dict):
        self.service, self.url, self.request = service, url, request
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.latencies: list[float] = []
        self.errors: Counter = Counter()

    def worker(self, deadline: float) -> None:
        latencies, errors = [], Counter()
        with httpx.Client(timeout=30) as http:
            while time.monotonic() < deadline:
                start = time.perf_counter()
                try:
                    response = http.post(self.url, **self.request)
                    if response.status_code != 200:
                        errors[f"{response.status_code} {response.text[:80]}"] += 1
                except httpx.HTTPError as e:
                    errors[type(e).__name__] += 1
                latencies.append(time.perf_counter() - start)
        with self.lock:
            self.latencies += latencies
            self.errors.update(errors)


def drive(targets: list[Target], clients: int, seconds: float, sample=None, every_s: float = 0.5) -> float:
    """``clients`` threads per target for ``seconds``; calls ``sample()`` every ``every_s`` meanwhile."""
    for t in targets:
        t.reset()
    start = time.monotonic()
    deadline = start + seconds
    threads = [threading.Thread(target=t.worker, args=(deadline,), daemon=True)
               for t in targets for _ in range(clients)]
    for th in threads:
        th.start()
    while sample is not None and time.monotonic() < deadline:
        sample()
        time.sleep(min(every_s, max(0.0, deadline - time.monotonic())))
    for th in threads:
        th.join()
    return time.monotonic() - start


def load_targets(vendor: ServiceProcess, consumer: ServiceProcess, model_dir: Path, *,
                 images_per_request: int = 4, codes_per_request: int = 64) -> list[Target]:
    """The vendor's JSON batch of PNGs, and the consumer's octet-stream batch of real codes."""
    height, width = input_side(model_dir)
    encode = {"json": {"images": [png_base64(im) for im in random_images(images_per_request, height, width)]}}
    coded = httpx.post(vendor.url + "/v1/encode", json={"pixels": random_images(codes_per_request, height, width,
                                                                               seed=1).tolist()},
                       headers={"Accept": OCTET_STREAM}, timeout=30)
    coded.raise_for_status()
    classify = {"content": coded.content,
                "headers": {"Content-Type": OCTET_STREAM,
                            **{k: coded.headers[k] for k in (MODEL_ID_HEADER, CODE_BITS_HEADER)}}}
    return [Target("vendor", vendor.url + "/v1/encode", encode),
            Target("consumer", consumer.url + "/v1/classify", classify)]


def load_phase(vendor: ServiceProcess, consumer: ServiceProcess, model_dir: Path, *, seconds: float,
               warmup_s: float = 1.0, clients: int = 4, images_per_request: int = 4,
               codes_per_request: int = 64) -> list[dict]:
    """Hold both services under load; one measurement dict per service (see the module docstring)."""
    processes = {"vendor": vendor, "consumer": consumer}
    rss_before = {s: rss_kib(p.process.pid) for s, p in processes.items()}
    targets = load_targets(vendor, consumer, model_dir, images_per_request=images_per_request,
                           codes_per_request=codes_per_request)
    drive(targets, clients, warmup_s)
    rss_warm = {s: rss_kib(p.process.pid) for s, p in processes.items()}
    samples: dict[str, list[int]] = {s: [] for s in processes}

    def sample() -> None:
        for s, p in processes.items():
            samples[s].append(rss_kib(p.process.pid))

    wall = drive(targets, clients, seconds, sample)
    runs = []
    for t in targets:
        lat = np.asarray(t.latencies) * 1e3
        rss_end = rss_kib(processes[t.service].process.pid)
        runs.append({
            "phase": "load", "service": t.service, "clients": clients, "seconds": round(wall, 3),
            "items_per_request": images_per_request if t.service == "vendor" else codes_per_request,
            "requests": len(lat), "errors": sum(t.errors.values()), "error_kinds": dict(t.errors),
            "requests_per_s": len(lat) / wall, "p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
            "p99_ms": float(np.percentile(lat, 99)) if len(lat) else None,
            "rss_before_kib": rss_before[t.service], "rss_after_warmup_kib": rss_warm[t.service],
            "rss_end_kib": rss_end, "rss_growth_after_warmup_kib": rss_end - rss_warm[t.service],
            "rss_samples_kib": samples[t.service],
        })
    return runs


# -- the fault phase ------------------------------------------------------------------------
def count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def check_exactly_once(path: Path, ids: list[str]) -> dict:
    """Every line a whole result, and each of ``ids`` exactly once (and nothing else)."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    whole = data.endswith(b"\n") or not data
    counts = Counter(json.loads(line)["id"] for line in lines if line)
    expected = set(ids)
    return {"exactly_once": whole and set(counts) == expected and all(c == 1 for c in counts.values()),
            "ends_with_newline": whole, "results": sum(counts.values()),
            "duplicates": sum(c - 1 for c in counts.values() if c > 1), "missing": len(expected - set(counts)),
            "unexpected": len(set(counts) - expected),
            "model_ids": sorted({json.loads(line)["model_id"] for line in lines if line})}


def fault_phase(model_dir: Path, workdir: Path, vendor_url: str, *, images: np.ndarray, batch_size: int = 20,
                kill_after_lines: int = 100, down_s: float = 1.0, retry_for_s: float = 60.0,
                env: dict[str, str] | None = None, timeout_s: float = 120.0) -> dict:
    """Run a batch job, kill the consumer once results land, restart it on the same port; measure.

    ``workdir`` receives ``inputs.npz`` and ``results.jsonl``; the returned dict says whether every
    input got exactly one result, how long the consumer was down and how often the job retried.
    """
    env = {**QUIET, **(env or {})}
    workdir.mkdir(parents=True, exist_ok=True)
    inputs, out = workdir / "inputs.npz", workdir / "results.jsonl"
    np.savez(inputs, x=images)
    out.unlink(missing_ok=True)
    port = free_port()
    consumer = ServiceProcess("consumer", model_dir, env=env, port=port)
    restarted = ServiceProcess("consumer", model_dir, env=env, port=port)
    command = [sys.executable, "-m", "bitcluster.cli", "cluster", str(inputs), "--vendor", vendor_url,
               "--consumer", consumer.url, "--out", str(out), "--batch-size", str(batch_size),
               "--retry-for", str(retry_for_s), "--quiet"]
    with consumer, tempfile.TemporaryFile() as stderr:
        started = time.monotonic()
        job = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr)
        try:
            while count_lines(out) < kill_after_lines and job.poll() is None and time.monotonic() - started < 60:
                time.sleep(0.01)
            consumer.process.send_signal(signal.SIGKILL)
            consumer.process.wait()
            killed = time.monotonic()
            lines_at_kill, running_at_kill = count_lines(out), job.poll() is None
            time.sleep(down_s)
            with restarted:  # started and ready on the same port, stopped at the end
                consumer_down_s = time.monotonic() - killed
                stdout, _ = job.communicate(timeout=timeout_s)
                job_s = time.monotonic() - started
        finally:
            if job.poll() is None:
                job.kill()
                job.wait()
        stderr.seek(0)
        log = stderr.read().decode(errors="replace")
    summary = json.loads(stdout) if job.returncode == 0 else {}
    ids = [f"{inputs}[{i}]" for i in range(len(images))]
    return {"phase": "fault", "service": "consumer", "inputs": len(images), "batch_size": batch_size,
            "job_rc": job.returncode, "job_seconds": round(job_s, 3), "lines_at_kill": lines_at_kill,
            "job_running_at_kill": running_at_kill, "consumer_down_s": round(consumer_down_s, 3),
            "retries": summary.get("retries"), "retry_messages": log.count("retrying in"),
            **check_exactly_once(out, ids), "results_path": str(out), "job_stderr_tail": log[-2000:]}


# -- the script -----------------------------------------------------------------------------
def table(runs: list[dict]) -> str:
    mib = lambda kib: f"{kib / 1024:.1f}"  # noqa: E731
    rows = ["| phase | service | clients | requests | req/s | errors | p50 ms | p99 ms | RSS MiB before / warm / end |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in (r for r in runs if r["phase"] == "load"):
        rows.append(f"| load | {r['service']} | {r['clients']} | {r['requests']} | {r['requests_per_s']:.0f} | "
                    f"{r['errors']} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {mib(r['rss_before_kib'])} / "
                    f"{mib(r['rss_after_warmup_kib'])} / {mib(r['rss_end_kib'])} |")
    fault = ["", "| fault | inputs | consumer down s | job retries | job s | results | duplicates | missing | "
                 "exactly once |", "|---|---|---|---|---|---|---|---|---|"]
    for r in (r for r in runs if r["phase"] == "fault"):
        fault.append(f"| SIGKILL + restart consumer | {r['inputs']} | {r['consumer_down_s']:.2f} | {r['retries']} | "
                     f"{r['job_seconds']:.2f} | {r['results']} | {r['duplicates']} | {r['missing']} | "
                     f"{'yes' if r['exactly_once'] and r['job_rc'] == 0 else 'NO'} |")
    return "\n".join(rows + fault)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--seconds", type=float, default=20.0, help="Load phase length, after the warm-up.")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--clients", type=int, default=4, help="Concurrent clients per service.")
    parser.add_argument("--images-per-request", type=int, default=4)
    parser.add_argument("--codes-per-request", type=int, default=64)
    parser.add_argument("--fault-images", type=int, default=5000)
    parser.add_argument("--fault-batch-size", type=int, default=20)
    parser.add_argument("--down-seconds", type=float, default=1.0, help="How long the consumer stays down.")
    add_smoke_options(parser)
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.warmup, args.clients, args.fault_images, args.down_seconds = 2.0, 0.5, 2, 300, 0.5

    env = {**QUIET, "BITCLUSTER_USE_GPU": "false"}
    vendor = ServiceProcess("vendor", args.model_dir, env=env).start()
    consumer = ServiceProcess("consumer", args.model_dir, env=env).start()
    try:
        vendor.wait_ready()
        consumer.wait_ready()
        runs = load_phase(vendor, consumer, args.model_dir, seconds=args.seconds, warmup_s=args.warmup,
                          clients=args.clients, images_per_request=args.images_per_request,
                          codes_per_request=args.codes_per_request)
        with tempfile.TemporaryDirectory() as tmp:
            images = random_images(args.fault_images, *input_side(args.model_dir), seed=2)
            fault = fault_phase(args.model_dir, Path(tmp), vendor.url, images=images,
                                batch_size=args.fault_batch_size, down_s=args.down_seconds)
            fault.pop("results_path")
            runs.append(fault)
    finally:
        vendor.stop()
        consumer.stop()

    summary = summarise(runs, ("phase", "service"),
                        ("requests", "requests_per_s", "errors", "p50_ms", "p99_ms", "rss_growth_after_warmup_kib",
                         "consumer_down_s", "retries", "duplicates", "missing"))
    text = table(runs)
    manifest = load_manifest(args.model_dir, "consumer")[0]
    path = write_results("reliability", runs, summary, text, directory=results_dir(args),
                         extra={"model_id": manifest.model_id, "cpus": os.cpu_count(), "args": {
                             k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}})
    print(text)
    print(f"\nwritten: {path}")
    ok = all(r["errors"] == 0 for r in runs if r["phase"] == "load") and fault["exactly_once"] and fault["job_rc"] == 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
