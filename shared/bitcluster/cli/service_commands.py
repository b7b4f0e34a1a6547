"""Commands that run or talk to the services: serve, cluster, demo.

They run where only a service's extra is installed: nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Optional

import typer

from bitcluster.cli.common import fail

SERVICES = ("vendor", "consumer")


def serve(
    service: str = typer.Argument(..., help="vendor (images -> codes) or consumer (codes -> clusters)."),
    model_dir: Optional[Path] = typer.Option(None, help="Exported model directory, or just this half of it "
                                                        "(default: $BITCLUSTER_MODEL_DIR, else the embedded model)."),
    host: Optional[str] = typer.Option(None, help="Interface to listen on (default 127.0.0.1; 0.0.0.0 in containers)."),
    port: Optional[int] = typer.Option(None, help="Port (default: vendor 8001, consumer 8002)."),
    expected_model_id: Optional[str] = typer.Option(None, help="Refuse to start unless the model directory holds "
                                                    "this model_id (default: $BITCLUSTER_EXPECTED_MODEL_ID)."),
    threads: Optional[int] = typer.Option(None, min=0, help="ONNX Runtime intra-op threads (0: its default)."),
    allow_no_key: bool = typer.Option(False, "--allow-no-key", help="Serve without an API key on a non-loopback "
                                      "host (refused otherwise; also BITCLUSTER_ALLOW_NO_KEY=1)."),
) -> None:
    """Serve one half of an exported model over HTTP until SIGTERM; the command the containers run.

    Other settings come from BITCLUSTER_* variables: MAX_BATCH, MAX_BODY_BYTES, MAX_IMAGE_PIXELS,
    REQUEST_TIMEOUT_S, API_KEY (or API_KEY_FILE), USE_GPU (vendor), LOG_LEVEL. On a host other than
    loopback it refuses to start without an API key unless --allow-no-key (or ALLOW_NO_KEY=1) says so.
    """
    if service not in SERVICES:
        fail(f"serve vendor or consumer, not {service!r}")
    try:
        from pydantic import ValidationError

        from bitcluster.core.manifest import ManifestError, load_manifest
        from bitcluster.serving.app import serve as run_server

        if service == "vendor":
            from bitcluster_vendor.config import Settings
            from bitcluster_vendor.main import create_app
        else:
            from bitcluster_consumer.config import Settings
            from bitcluster_consumer.main import create_app
    except ImportError as e:
        fail(f"the {service} service needs its extra ({e}): pip install 'bitcluster[{service}]'")
    given = {"model_dir": model_dir, "expected_model_id": expected_model_id, "host": host, "port": port,
             "intra_op_threads": threads,
             "allow_no_key": allow_no_key or None}  # the flag's absence leaves BITCLUSTER_ALLOW_NO_KEY in charge
    try:
        settings = Settings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as e:
        # Each error's message alone: pydantic's full text repeats the input, which may hold the API key.
        fail("invalid setting: " + "; ".join(f"{'.'.join(map(str, err['loc'])) or 'settings'}: {err['msg']}"
                                             for err in e.errors(include_input=False)))
    try:  # fail here, with one line, rather than as a traceback from inside uvicorn's startup
        load_manifest(settings.model_dir, service, expected_model_id=settings.expected_model_id)
    except ManifestError as e:
        fail(f"refusing to serve: {e}")
    run_server(create_app(settings), settings)


def cluster(
    images: list[Path] = typer.Argument(..., exists=True, help="PNG/JPEG files, directories of them, or .npz "
                                                               "files with 'x' or 'x_test'."),
    vendor: str = typer.Option(..., envvar="BITCLUSTER_VENDOR_URL", help="Vendor service URL."),
    consumer: str = typer.Option(..., envvar="BITCLUSTER_CONSUMER_URL", help="Consumer service URL."),
    api_key: Optional[str] = typer.Option(None, envvar="BITCLUSTER_API_KEY", help="Bearer key of the services."),
    batch_size: int = typer.Option(1024, min=1, help="Images per request (and per chunk of results with --out)."),
    out: Optional[Path] = typer.Option(None, help="Append results to this JSON-lines file, one "
                                                  "{id, cluster, model_id} per input, chunk by chunk; rerun "
                                                  "with the same --out to resume where a run stopped."),
    retry_for: float = typer.Option(120.0, min=0, help="With --out: seconds to keep retrying a chunk while a "
                                                       "service is down or restarting, before stopping."),
    quiet: bool = typer.Option(False, help="With --out: no progress bar."),
    resize: bool = typer.Option(False, help="Also resize images whose aspect ratio differs from the model's, "
                                            "stretching them (by default the vendor refuses them)."),
) -> None:
    """Cluster images through the two services.

    Without --out, prints one 'input<TAB>cluster' line per image. With --out, runs a resumable
    batch job: exactly one result per input even across crashes and service restarts, and a JSON
    summary on stdout.
    """
    try:
        from bitcluster.client.batch_runner import iter_clusters, run_batch_job
        from bitcluster.client.errors import BatchJobError, BitclusterError
        from bitcluster.client.http_client import BitclusterClient
        from bitcluster.client.inputs import InputError, collect_inputs
        from bitcluster.client.retry import RetriesExhausted, RetryPolicy
    except ImportError as e:
        fail(f"the cluster command needs httpx ({e}): pip install 'bitcluster[consumer]'")

    try:
        groups = collect_inputs(images)
    except (InputError, OSError) as e:
        fail(str(e))
    try:
        if out is None:
            with BitclusterClient(vendor, consumer, api_key=api_key, batch_size=batch_size, resize=resize) as client:
                for name, c in iter_clusters(groups, client):
                    typer.echo(f"{name}\t{c}")
            return
        def log(message: str) -> None:
            typer.echo(message, err=True)

        # One request per chunk, each retried while its service is down for at most --retry-for seconds.
        with BitclusterClient(vendor, consumer, api_key=api_key, batch_size=batch_size, resize=resize,
                              retry=RetryPolicy(retry_for_s=retry_for), on_retry=log) as client:
            summary = run_batch_job(groups, client, out, chunk_size=batch_size, progress=not quiet, log=log)
    except (BitclusterError, BatchJobError, RetriesExhausted) as e:
        fail(str(e))
    except OSError as e:
        fail(str(e))
    typer.echo(json.dumps(dataclasses.asdict(summary), indent=2))


# Defined beside the bulk engines, which it imports only when it runs.
def demo(
    model_dir: Optional[Path] = typer.Option(None, help="Exported model to serve (default: the embedded model)."),
    batch_size: int = typer.Option(1024, min=1, help="Images per request."),
    keep_running: bool = typer.Option(False, help="Leave both services up after the report, for their /docs "
                                                  "pages, until Ctrl-C (what `make demo` does)."),
) -> None:
    """Start both services, send the digits test images through vendor -> consumer, report, stop."""
    from bitcluster.core.manifest import ManifestError
    from bitcluster.serving.process import ServiceStartError
    from bitcluster.serving.settings import DEFAULT_MODEL_DIR

    try:
        from bitcluster.demo import run_demo
    except ImportError as e:
        fail(f"the demo needs the vendor and consumer extras ({e}): pip install 'bitcluster[vendor,consumer]'")

    try:
        run_demo(model_dir or DEFAULT_MODEL_DIR, echo=typer.echo, batch_size=batch_size, keep_running=keep_running)
    except (ManifestError, ServiceStartError) as e:
        fail(str(e))
    except ImportError as e:
        fail(f"the demo loads the digits data and runs both services ({e}): "
              "pip install --require-hashes -r requirements/demo.txt (what `make demo` installs; no torch)")
