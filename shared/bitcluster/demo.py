"""``bitcluster demo``: both services as real processes, the digits test set through them over HTTP.

Nothing is trained: the embedded default model (or ``--model-dir``) is served by
``bitcluster serve vendor`` and ``bitcluster serve consumer`` on free local ports; the test
images go vendor -> codes -> consumer -> clusters, and the demo reports the clustering accuracy,
the bytes that crossed from vendor to consumer per image against the raw 8-bit pixels, and the
throughput. Then both services are stopped, or, with ``keep_running`` (``make demo``), left up
for their ``/docs`` pages until Ctrl-C.

It needs the vendor and consumer extras, Pillow, scikit-learn (the digits) and SciPy (the
accuracy), never torch: ``requirements/demo.txt`` is that set, what ``make demo`` installs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from bitcluster.client.http_client import BitclusterClient
from bitcluster.core.manifest import ENTROPY_MODEL_FILE, load_manifest
from bitcluster.serving.process import ServiceProcess


@dataclass
class DemoReport:
    model_id: str
    n_images: int
    accuracy: float
    accuracy_at_export: float | None
    code_bytes: int
    raw_bytes: int
    encode_s: float
    classify_s: float
    entropy_coded_bytes: float | None = None  # per image, when the model speaks the entropy-coded format
    entropy_coded_accuracy: float | None = None

    @property
    def images_per_s(self) -> float:
        return self.n_images / (self.encode_s + self.classify_s)

    def lines(self) -> list[str]:
        recorded = "" if self.accuracy_at_export is None else f" (the manifest records {self.accuracy_at_export:.4f})"
        return [
            f"model {self.model_id}: {self.n_images} digits test images, vendor -> consumer over HTTP",
            f"clustering accuracy  {self.accuracy:.4f}{recorded}",
            f"bytes per image      {self.code_bytes} B of code on the wire vs {self.raw_bytes} B of raw 8-bit "
            f"pixels ({self.raw_bytes / self.code_bytes:.0f}x smaller)",
            f"throughput           {self.images_per_s:,.0f} images/s end to end "
            f"(encode {self.encode_s * 1e3:.1f} ms, classify {self.classify_s * 1e3:.1f} ms)",
        ] + ([] if self.entropy_coded_bytes is None else [
            f"entropy-coded        {self.entropy_coded_bytes:.2f} B per image on the wire "
            f"({self.entropy_coded_bytes * 8:.1f} bits vs {self.code_bytes * 8} raw), accuracy "
            f"{self.entropy_coded_accuracy:.4f}"])


def run_demo(model_dir: Path, echo: Callable[[str], None] = print, batch_size: int = 1024,
             keep_running: bool = False) -> DemoReport:
    from bitcluster.data import load_dataset

    manifest, _ = load_manifest(model_dir, "consumer")  # refuse a broken model before starting anything
    data = load_dataset("digits")
    side = manifest.preprocessing["height"], manifest.preprocessing["width"]
    images = np.rint(data.x_test.reshape(-1, 8, 8) * 255).astype(np.uint8)  # the 8-bit pixels a vendor holds
    echo(f"starting vendor and consumer for model {manifest.model_id} ({manifest.bits} bits, "
         f"{manifest.clusters} clusters, images {side[0]}x{side[1]})")
    with ServiceProcess("vendor", model_dir) as vendor, ServiceProcess("consumer", model_dir) as consumer:
        echo(f"vendor   {vendor.url}\nconsumer {consumer.url}")
        with BitclusterClient(vendor.url, consumer.url, batch_size=batch_size) as client:
            t0 = time.perf_counter()
            codes = client.encode(images)
            model_id, packed = codes.model_id, codes.packed
            t1 = time.perf_counter()
            clusters = client.classify(codes)
            t2 = time.perf_counter()
            entropy = None
            if any(Path(f).name == ENTROPY_MODEL_FILE for f in manifest.files):
                entropy = client.cluster_entropy_coded(images)
        report = _report(data, manifest, images, model_id, packed, clusters, entropy, t1 - t0, t2 - t1)
        for line in report.lines():
            echo(line)
        if keep_running:
            _serve_until_interrupted(vendor, consumer, echo)
    echo("services stopped")
    return report


def _report(data, manifest, images: np.ndarray, model_id: str, packed: np.ndarray, clusters: np.ndarray,
            entropy: tuple | None, encode_s: float, classify_s: float) -> DemoReport:
    from bitcluster.core.metrics import cluster_accuracy

    report = DemoReport(model_id=model_id, n_images=len(images), accuracy=cluster_accuracy(data.y_test, clusters),
                        accuracy_at_export=manifest.metrics.get("acc"), code_bytes=packed.shape[1],
                        raw_bytes=images[0].size, encode_s=encode_s, classify_s=classify_s)
    if entropy is not None:
        report.entropy_coded_bytes = entropy[1] / len(images)
        report.entropy_coded_accuracy = cluster_accuracy(data.y_test, entropy[0])
    return report


def _serve_until_interrupted(vendor: ServiceProcess, consumer: ServiceProcess, echo: Callable[[str], None]) -> None:
    """Leave both services up for their /docs pages until Ctrl-C (or until one of them exits)."""
    echo(f"both services stay up until Ctrl-C:\n  vendor   {vendor.url}/docs\n  consumer {consumer.url}/docs")
    try:
        while vendor.process.poll() is None and consumer.process.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        return
    exited = vendor if vendor.process.poll() is not None else consumer
    echo(f"the {exited.service} exited on its own; its log:\n{exited.log()[-3000:]}")
