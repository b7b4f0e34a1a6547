"""What FastAPI's routing costs ``POST /v1/classify``: the consumer's ASGI app called in process.

    python bench/classify_routing.py                  # the embedded default model, 3 x 3,000 calls per kind
    python bench/classify_routing.py --smoke          # under a minute; results in a temporary directory
    python bench/classify_routing.py --model-dir DIR  # an export of your own

The app is the one ``bitcluster serve consumer`` runs (``create_app``, every middleware, one ONNX
Runtime thread, no API key), called as an ASGI callable on one event loop, with no socket and no
HTTP parser, so the figures are the service's own cost per request. Kinds, interleaved call by call
so that a drift in the machine's speed hits them alike:

* ``healthz``: ``GET /healthz``, the floor (middlewares and routing only);
* ``routed``: ``POST /v1/classify`` through FastAPI's routing, its dependencies and its declared
  query and header parameters (the app with its direct route taken out);
* ``direct``: the same endpoint through ``classify_directly``, the route the service puts ahead of
  FastAPI's routing (:mod:`bitcluster.serving.direct_routes`), mounted at another path;
* ``model``: ``Classifier.run`` alone, no HTTP.

each for a JSON batch of one code (JSON answer) and for a binary batch of 4096 codes (binary answer).
Writes ``classify_routing.json`` (every repeat's p50s under ``runs``) and ``classify_routing.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import time
from pathlib import Path

import numpy as np

from _common import add_smoke_options, machine_load, results_dir, summarise, write_results
from bitcluster.core.codes import pack_codes
from bitcluster.core.manifest import DEFAULT_MODEL_DIR
from bitcluster.core.wire import CODE_BITS_HEADER, JSON, MODEL_ID_HEADER, OCTET_STREAM

BINARY_BATCH = 4096
DIRECT_PATH = "/bench/classify-direct"


def consumer_app(model_dir: Path):
    """The served app, its direct route for /v1/classify moved to :data:`DIRECT_PATH`."""
    from fastapi.routing import APIRoute
    from starlette.routing import Route

    from bitcluster_consumer.config import Settings
    from bitcluster_consumer.main import create_app
    from bitcluster_consumer.openapi import ROUTE
    from bitcluster_consumer.routes.classify import classify_directly

    app = create_app(Settings(model_dir=model_dir, intra_op_threads=1, api_key=None, log_level="warning"))
    app.router.routes[:] = [r for r in app.router.routes if isinstance(r, APIRoute) or getattr(r, "path", "") != ROUTE]
    app.router.routes.insert(0, Route(DIRECT_PATH, classify_directly, methods=["POST"]))
    return app


class AsgiCaller:
    """``await call(method, path, body, headers)``: one request to ``app``, its status checked to be 200."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
                 "headers": [(k.lower().encode(), v.encode()) for k, v in
                             {**headers, "content-length": str(len(body))}.items()],
                 "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8002)}
        sent = False
        status = []

        async def receive():
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)  # no disconnect while the answer is written
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await self.app(scope, receive, send)
        if status != [200]:
            raise RuntimeError(f"{method} {path} answered {status}")


async def measure(model_dir: Path, calls: int, warmup: int, repeats: int, seed: int) -> list[dict]:
    app = consumer_app(model_dir)
    call = AsgiCaller(app)
    async with app.router.lifespan_context(app):
        classifier = app.state.model
        manifest = classifier.model.manifest
        rng = np.random.default_rng(seed)
        packed = pack_codes(rng.integers(0, 2, (BINARY_BATCH, manifest.bits)).astype(bool))
        one = json.dumps({"model_id": manifest.model_id,
                          "codes": [base64.b64encode(packed[0].tobytes()).decode()]}).encode()
        binary_headers = {"content-type": OCTET_STREAM, "accept": OCTET_STREAM, MODEL_ID_HEADER: manifest.model_id,
                          CODE_BITS_HEADER: str(manifest.bits)}
        batches = {"json_1": (one, {"content-type": JSON}, packed[:1]),
                   f"binary_{BINARY_BATCH}": (packed.tobytes(), binary_headers, packed)}
        runs = []
        for repeat in range(repeats):
            times: dict[tuple[str, str], list[float]] = {}
            for i in range(warmup + calls):
                kinds = [(("healthz", "-"), call("GET", "/healthz", b"", {}))]
                for batch, (body, headers, codes) in batches.items():
                    kinds += [(("routed", batch), call("POST", "/v1/classify", body, headers)),
                              (("direct", batch), call("POST", DIRECT_PATH, body, headers)),
                              (("model", batch), _model_call(classifier, codes))]
                for key, request in kinds:
                    start = time.perf_counter()
                    await request
                    elapsed = time.perf_counter() - start
                    if i >= warmup:
                        times.setdefault(key, []).append(elapsed)
            floor = 1e6 * statistics.median(times[("healthz", "-")])
            for (path, batch), t in times.items():
                p50 = 1e6 * statistics.median(t)
                runs.append({"repeat": repeat, "path": path, "batch": batch, "calls": calls, "bits": manifest.bits,
                             "model_id": manifest.model_id, "p50_us": p50, "over_healthz": p50 / floor})
    return runs


async def _model_call(classifier, codes: np.ndarray) -> None:
    classifier.run(codes)


def markdown(summary: list[dict], header: str) -> str:
    cells = {(r["path"], r["batch"]): r for r in summary}
    lines = [header, "",
             "| request | /healthz | routed (FastAPI) | direct (ahead of FastAPI) | routed ÷ direct | model alone |",
             "|---|---:|---:|---:|---:|---:|"]
    floor = cells[("healthz", "-")]["p50_us_mean"]
    for batch in sorted({b for _, b in cells if b != "-"}):
        routed, direct = cells[("routed", batch)], cells[("direct", batch)]
        lines.append(f"| {batch} | {floor:.0f} µs | {routed['p50_us_mean']:.0f} µs ({routed['over_healthz_mean']:.2f}x) "
                     f"| {direct['p50_us_mean']:.0f} µs ({direct['over_healthz_mean']:.2f}x) "
                     f"| {routed['p50_us_mean'] / direct['p50_us_mean']:.2f}x "
                     f"| {cells[('model', batch)]['p50_us_mean']:.0f} µs |")
    lines += ["", "p50 per call, mean over the repeats (each repeat's own p50s and ratios are in the JSON); "
                  "x: the p50 over the same repeat's /healthz p50."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=Path(DEFAULT_MODEL_DIR))
    parser.add_argument("--calls", type=int, default=3000, help="timed calls per kind and repeat")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    add_smoke_options(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        args.calls, args.warmup, args.repeats = 200, 20, 1
    out_dir = results_dir(args)
    load_before = machine_load()
    runs = asyncio.run(measure(args.model_dir, args.calls, args.warmup, args.repeats, args.seed))
    load_after = machine_load()
    summary = summarise(runs, ("path", "batch"), ("p50_us", "over_healthz"))
    header = (f"In process (ASGI app called directly), {runs[0]['bits']}-bit model {runs[0]['model_id']}, one ONNX "
              f"Runtime thread, {args.repeats} x {args.calls} interleaved calls per kind; load average (1 min) "
              f"{load_before['load_1min']:.1f} before, {load_after['load_1min']:.1f} after. Command: "
              "python bench/classify_routing.py")
    table = markdown(summary, header)
    path = write_results("classify_routing", runs, summary, table, directory=out_dir,
                         extra={"load_before": load_before, "load_after": load_after, "model_dir": str(args.model_dir)})
    print(table)
    print(f"\nwritten: {path}")


if __name__ == "__main__":
    main()
