"""Both services under concurrent load for a few seconds: no errors, and memory that stops growing.

The load phase of ``bench/reliability.py``, short: clients per service post a JSON batch of
PNGs to the vendor and an octet-stream batch of codes to the consumer, both services at once.
Resident memory (``VmRSS``) is read before any load, after a warm-up that brings up the worker
threads and the allocator's arenas, and at the end; after the warm-up it may only wobble.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


pytest.register_assert_rewrite("service_fixtures")  # before the import, so its asserts explain failures

from service_fixtures import QUIET, service_pair  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from reliability import load_phase  # noqa: E402

pytest_plugins = ["service_fixtures"]
pytestmark = pytest.mark.slow
RSS_TOLERANCE_KIB = 5 * 1024  # allocator noise; a leak of a few hundred bytes a request shows over the bench's 20 s


@pytest.fixture
def fresh_services(model_a):
    """A pair of its own, so that its memory is this test's alone."""
    with service_pair(model_a.dir, QUIET) as pair:
        yield pair


def test_concurrent_clients_get_no_errors_and_memory_stops_growing(fresh_services, model_a):
    vendor, consumer = fresh_services
    runs = load_phase(vendor, consumer, model_a.dir, seconds=4.0, warmup_s=1.0, clients=3)
    report = {r["service"]: {k: r[k] for k in ("requests", "errors", "error_kinds", "p50_ms", "p99_ms",
                                               "rss_before_kib", "rss_after_warmup_kib", "rss_end_kib")}
              for r in runs}
    print(report)  # shown with -s, and in the failure message below
    for r in runs:
        assert r["requests"] >= 20, report  # the load really ran
        assert r["errors"] == 0, report
        assert r["rss_end_kib"] - r["rss_after_warmup_kib"] <= RSS_TOLERANCE_KIB, report
        assert max(r["rss_samples_kib"]) - r["rss_after_warmup_kib"] <= RSS_TOLERANCE_KIB, report
