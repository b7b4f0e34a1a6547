"""A service as a child process: ``bitcluster serve <service>`` on a free local port.

What the demo, the tests and the benchmark start: the very command the containers run, so what
they exercise is what gets deployed. Standard library only.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path


class ServiceStartError(RuntimeError):
    """The service exited or did not become ready; the message carries the end of its log."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ServiceProcess:
    """``with ServiceProcess("consumer", model_dir) as svc: svc.url`` -- started, ready, then stopped.

    Parameters
    ----------
    service : "vendor" or "consumer"
    model_dir : the exported model to serve
    env : extra environment variables (``BITCLUSTER_MAX_BATCH``, ``BITCLUSTER_API_KEY``, ...)
    """

    def __init__(self, service: str, model_dir: Path, *, env: dict[str, str] | None = None,
                 host: str = "127.0.0.1", port: int | None = None, extra_args: list[str] | None = None):
        self.service = service
        self.host = host
        self.port = port or free_port(host)
        self.url = f"http://{host}:{self.port}"
        self.command = [sys.executable, "-m", "bitcluster.cli", "serve", service, "--model-dir", str(model_dir),
                        "--host", host, "--port", str(self.port), *(extra_args or [])]
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen | None = None
        self._log = tempfile.TemporaryFile(mode="w+b")

    def start(self) -> "ServiceProcess":
        self.process = subprocess.Popen(self.command, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        return self

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Poll ``/readyz`` until 200 (with the API key from ``env`` if any)."""
        request = urllib.request.Request(self.url + "/readyz")
        if self.env.get("BITCLUSTER_API_KEY"):
            request.add_header("Authorization", f"Bearer {self.env['BITCLUSTER_API_KEY']}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServiceStartError(f"`{' '.join(self.command[2:])}` exited with {self.process.returncode}:\n"
                                        f"{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(request, timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise ServiceStartError(f"{self.service} was not ready after {timeout:g} s:\n{self.log()[-3000:]}")

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (uvicorn drains in-flight requests), then SIGKILL after ``timeout`` seconds."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def __enter__(self) -> "ServiceProcess":
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()  # the log stays readable; the temporary file goes with this object
