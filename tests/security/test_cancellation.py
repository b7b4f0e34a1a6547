"""Finding 2 of the security review: a request's deadline stops its work, not just its answer.

After the 504 the worker stops between images (and ONNX Runtime at its next node), and the
work slot it holds is given back only when its thread has really ended.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import anyio
import httpx
import pytest

from bitcluster.core.cancellation import raise_if_cancelled
from bitcluster.serving.errors import ServiceError
from bitcluster.serving.process import ServiceProcess
from bitcluster.serving.runtime import WorkSlots, run_with_deadline

pytest.register_assert_rewrite("service_fixtures")
pytest_plugins = ["service_fixtures"]

from service_fixtures import QUIET, assert_error  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (``/proc/<pid>/stat`` fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sleeper(seconds: float, ended: list):
    def work(run_options):
        time.sleep(seconds)  # deaf to the cancel flag, like a C call that does not check it
        ended.append(time.perf_counter())
        return "done"
    return work


def test_a_slot_stays_taken_until_the_abandoned_thread_ends():
    slots, ended = WorkSlots(1), []

    async def scenario():
        start = time.perf_counter()
        with pytest.raises(ServiceError) as timeout:
            await run_with_deadline(sleeper(0.6, ended), 0.05, slots)
        assert timeout.value.status_code == 504 and time.perf_counter() - start < 0.4  # answered at once
        with pytest.raises(ServiceError) as busy:
            await run_with_deadline(sleeper(0, []), 0.2, slots)  # the first thread still runs
        assert busy.value.status_code == 503 and busy.value.code == "busy" and not ended
        assert "BITCLUSTER_MAX_CONCURRENT_WORK" in busy.value.detail
        assert await run_with_deadline(sleeper(0, []), 2.0, slots) == "done"  # waits for the slot, gets it
        assert ended and slots.busy == 0

    anyio.run(scenario)


def test_work_that_checks_the_flag_stops_at_the_deadline():
    steps = []

    def loop(run_options):
        for _ in range(100):
            raise_if_cancelled(run_options)
            steps.append(time.perf_counter())
            time.sleep(0.01)

    with pytest.raises(ServiceError) as e:
        anyio.run(run_with_deadline, loop, 0.1)
    assert e.value.status_code == 504
    time.sleep(0.3)
    assert 3 <= len(steps) < 30  # it ran until the deadline, then stopped instead of running 1 s


@pytest.mark.slow
def test_after_the_504_the_vendor_stops_decoding(model_a):
    from test_vendor_memory import black_png

    count = 64  # about 25 ms of decoding each on an idle core: far past the deadline however fast the machine
    env = {**QUIET, "BITCLUSTER_REQUEST_TIMEOUT_S": "0.2", "BITCLUSTER_MAX_IMAGE_PIXELS": str(4096 * 4096),
           "BITCLUSTER_MAX_REQUEST_PIXELS": str(count * 4096 * 4096)}
    images = [black_png(4096)] * count
    with ServiceProcess("vendor", model_a.dir, env=env) as vendor:
        pid = vendor.process.pid
        response = httpx.post(vendor.url + "/v1/encode", json={"images": images}, timeout=60)
        at_504 = cpu_seconds(pid)
        assert_error(response, 504, "timeout")
        time.sleep(2.0)
        after = cpu_seconds(pid) - at_504
        print(f"CPU after the 504: {after:.2f} s")
        assert after <= 0.2
        assert httpx.post(vendor.url + "/v1/encode", json={"images": images[:1]}).status_code == 200
