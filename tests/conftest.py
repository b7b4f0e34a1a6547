"""Fixtures every test file can use, and the test tiers.

Two tiers: ``make test-fast`` runs ``pytest -m "not slow"`` (the edit loop, under two minutes on
two cores); ``make test`` and CI run everything. A test is ``slow`` when it says so
(``@pytest.mark.slow`` or a module's ``pytestmark``: it starts processes or trains for real) or
when it uses one of :data:`SLOW_FIXTURES`, which train; :func:`pytest_collection_modifyitems`
adds the mark for those, so the tier follows the fixtures a test asks for.
"""

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Fixtures that train a model (or build a teacher): every test that uses one is marked slow.
# ``runs``: test_baselines.py's every baseline trained on digits (a minute).
SLOW_FIXTURES = frozenset({"digits_teacher", "runs"})


def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def session_cache_dir(tmp_path_factory) -> Path:
    """The cache (data, teachers) of this test session: ``$BITCLUSTER_CACHE_DIR`` when the caller
    set one, else one folder per session."""
    return Path(os.environ.get("BITCLUSTER_CACHE_DIR") or tmp_path_factory.getbasetemp() / "cache")


@pytest.fixture(autouse=True)
def _isolated_cache(session_cache_dir, monkeypatch):
    """Point every test's cache at the session's, so a teacher one test built is reused by the next."""
    monkeypatch.setenv("BITCLUSTER_CACHE_DIR", str(session_cache_dir))


@pytest.fixture(scope="session")
def digits_teacher(session_cache_dir) -> dict:
    """The default teacher of digits (K = 10, seed 0), built once per session into its cache.

    It is the teacher of every default ``vab`` run on digits at 10 clusters and seed 0: a test that
    asks for it reads it from the cache instead of building its own. Built by the real command, with every
    setting at its default; returns the summary it prints.
    """
    from typer.testing import CliRunner

    from bitcluster import cli

    result = CliRunner().invoke(cli.app, ["teacher", "digits", "--clusters", "10", "--seed", "0", "--quiet",
                                          "--cache-dir", str(session_cache_dir)])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


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
