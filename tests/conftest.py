import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Point the data cache at a per-session folder unless the caller set one."""
    if "BITCLUSTER_CACHE" not in os.environ:
        monkeypatch.setenv("BITCLUSTER_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def python() -> str:
    return sys.executable
