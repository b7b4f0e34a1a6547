import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Point the cache (data, teachers) at one folder per test session unless the caller set one.

    Shared by the session's tests, so a teacher one test built is reused by the next.
    """
    if "BITCLUSTER_CACHE_DIR" not in os.environ:
        monkeypatch.setenv("BITCLUSTER_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def python() -> str:
    return sys.executable


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small networks on a shared 2-core machine: a second intra-op thread that has to wait for a
    busy core made whole test files several times slower, never faster."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
