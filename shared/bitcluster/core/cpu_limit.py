"""How many CPUs this process may really use: the container's CPU quota, else the CPUs it may run on.

ONNX Runtime sizes its intra-op thread pool by the machine's cores. In a container limited to
2 CPUs on a 64-core node that means 64 threads fighting over a 2-CPU quota, and the kernel
throttling them all; so the default thread count comes from here. Standard library only.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_v2_cpus(root: Path = CGROUP_ROOT) -> float | None:
    """CPUs allowed by cgroup v2's ``cpu.max`` (``"<quota> <period>"``, or ``"max <period>"``), or None."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return _ratio(quota, period)


def cgroup_v1_cpus(root: Path = CGROUP_ROOT) -> float | None:
    """CPUs allowed by cgroup v1's ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (quota -1: none), or None."""
    for controller in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        folder = root / controller
        try:
            quota = (folder / "cpu.cfs_quota_us").read_text().strip()
            period = (folder / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            continue
        return _ratio(quota, period)
    return None


def _ratio(quota: str, period: str) -> float | None:
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def available_cpus() -> int:
    """CPUs this process may be scheduled on (its affinity mask), else ``os.cpu_count()``."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def cpu_limit(root: Path = CGROUP_ROOT) -> int:
    """Whole CPUs this process can use: the cgroup quota rounded up, never more than ``available_cpus()``.

    A quota of 1.5 CPUs gives 2 threads: rounding down would leave half a CPU of the quota unused.
    """
    cpus = available_cpus()
    quota = cgroup_v2_cpus(root)
    if quota is None:
        quota = cgroup_v1_cpus(root)
    return cpus if quota is None else max(1, min(cpus, math.ceil(quota)))
