"""The containers of a compose project on Docker Engine, driven through its API with the ``docker`` SDK.

deploy/compose/lib.sh calls it where the engine is Docker (podman keeps its CLI there: its health
checks are run by ``podman healthcheck run``, which the Docker API has no call for).

Usage (the project's venv, which has ``docker`` from the dev extra):
    python deploy/compose/containers.py PROJECT ids [SERVICE]       # container ids, one a line
    python deploy/compose/containers.py PROJECT urls [SERVICE]      # NAME<TAB>http://127.0.0.1:PORT, one a line
    python deploy/compose/containers.py PROJECT wait-healthy TIMEOUT_S
    python deploy/compose/containers.py PROJECT sigkill ID TIMEOUT_S  # kill -KILL its process, wait for the restart
"""

from __future__ import annotations

import os
import signal
import sys
import time

import docker
from docker.models.containers import Container

PORT = "8000/tcp"  # where both services listen inside their containers


def project_containers(client: docker.DockerClient, project: str, service: str | None = None) -> list[Container]:
    """The project's containers, running or not (optionally one service's), by compose's labels."""
    labels = [f"com.docker.compose.project={project}"]
    if service:
        labels.append(f"com.docker.compose.service={service}")
    return client.containers.list(all=True, filters={"label": labels})


def url(container: Container) -> str:
    """``http://127.0.0.1:PORT``: the host port the container's port 8000 is published on."""
    container.reload()
    bindings = container.ports.get(PORT) or []
    if not bindings:
        raise SystemExit(f"{container.name} publishes no host port for {PORT}")
    return f"http://127.0.0.1:{bindings[0]['HostPort']}"


def health(container: Container) -> str:
    container.reload()
    return container.attrs["State"].get("Health", {}).get("Status", "")


def wait_healthy(client: docker.DockerClient, project: str, timeout_s: float) -> None:
    """Return once the project has containers and each reports healthy; exit non-zero at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        containers = project_containers(client, project)
        pending = [c for c in containers if health(c) != "healthy"]
        if containers and not pending:
            return
        if time.monotonic() > deadline:
            for c in pending:
                print(c.logs(tail=20).decode(errors="replace"), file=sys.stderr)
            raise SystemExit(f"not healthy after {timeout_s:g}s: {' '.join(c.name for c in pending)}")
        time.sleep(1)


def sigkill_and_wait_restart(container: Container, timeout_s: float) -> float:
    """SIGKILL the container's process from the host, as the OOM killer or a crash would end it.

    ``docker kill`` counts as a stop by the user, which ``unless-stopped`` rightly leaves stopped.
    Returns the seconds until the restart policy had it running again (restart count + 1).
    """
    container.reload()
    restarts = container.attrs["RestartCount"]
    os.kill(container.attrs["State"]["Pid"], signal.SIGKILL)
    killed_at = time.monotonic()
    while True:
        container.reload()
        if container.attrs["RestartCount"] == restarts + 1 and container.attrs["State"]["Running"]:
            return time.monotonic() - killed_at
        if time.monotonic() - killed_at > timeout_s:
            raise SystemExit(f"{container.name} was not restarted within {timeout_s:g} s")
        time.sleep(0.5)


def main(argv: list[str]) -> None:
    if len(argv) < 3:
        sys.exit(__doc__)
    project, command, args = argv[1], argv[2], argv[3:]
    client = docker.from_env(version="auto")
    if command == "ids":
        for c in project_containers(client, project, *args[:1]):
            print(c.id)
    elif command == "urls":
        for c in project_containers(client, project, *args[:1]):
            print(f"{c.name}\t{url(c)}")
    elif command == "wait-healthy" and len(args) == 1:
        wait_healthy(client, project, float(args[0]))
    elif command == "sigkill" and len(args) == 2:
        seconds = sigkill_and_wait_restart(client.containers.get(args[0]), float(args[1]))
        print(f"{seconds:.1f}")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
