"""The consumer's world is numpy + onnxruntime + FastAPI: torch (and the training stack) never loads."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

from bitcluster.core.wire import OCTET_STREAM, code_headers
from bitcluster.serving.process import ServiceProcess

pytest.register_assert_rewrite("service_fixtures")  # before the import, so its asserts explain failures

from service_fixtures import QUIET  # noqa: E402

pytest_plugins = ["service_fixtures"]
ROOT = Path(__file__).resolve().parents[2]
# What only the `train` extra installs; the consumer image has none of it.
TRAINING_STACK = ("torch", "sklearn", "scipy", "onnx", "PIL", "matplotlib", "umap", "safetensors", "numba")
# Starlette imports python-multipart when it is there; the consumer extra does not install it.
NOT_IN_CONSUMER_EXTRA = TRAINING_STACK + ("multipart", "python_multipart")

BLOCKER = f"""
import sys

class _Blocked:
    # Stands in for packages the consumer extra does not install: importing one fails loudly.
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {NOT_IN_CONSUMER_EXTRA!r}:
            sys.stderr.write(f"BLOCKED IMPORT {{name}}\\n")
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: not in the consumer extra)", name=name)
        return None

sys.meta_path.insert(0, _Blocked())
"""

IN_PROCESS = """
import json, sys
import numpy as np
from fastapi.testclient import TestClient
from bitcluster.core.wire import OCTET_STREAM, code_headers
from bitcluster_consumer.config import Settings
from bitcluster_consumer.main import create_app

with TestClient(create_app(Settings(model_dir=sys.argv[1]))) as client:
    model_id = client.get("/v1/model").json()["model_id"]
    r = client.post("/v1/classify", content=bytes(2 * 8),
                    headers={"Content-Type": OCTET_STREAM, **code_headers(model_id, 12)})
    assert r.status_code == 200, r.text
    r = client.post("/v1/classify", json={"model_id": model_id, "codes": ["AAA="], "posteriors": True})
    assert r.status_code == 200, r.text
    assert client.get("/metrics").status_code == 200
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def test_the_consumer_app_handles_requests_without_torch(model_a):
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", IN_PROCESS, str(model_a.dir)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert "onnxruntime" in loaded and "fastapi" in loaded  # the check sees real imports
    assert not loaded & set(TRAINING_STACK), sorted(loaded & set(TRAINING_STACK))


@pytest.mark.slow
def test_bitcluster_serve_consumer_runs_where_torch_cannot_be_imported(model_a, tmp_path):
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    check = subprocess.run([sys.executable, "-c", "import torch"], env={"PYTHONPATH": str(tmp_path)},
                           capture_output=True, text=True, timeout=60)
    assert check.returncode != 0 and "BLOCKED IMPORT torch" in check.stderr  # the blocker works

    env = {**QUIET, "PYTHONPATH": str(tmp_path)}
    with ServiceProcess("consumer", model_a.dir, env=env) as consumer:
        codes = httpx.post(consumer.url + "/v1/classify", content=b"\0\0" * 3,
                           headers={"Content-Type": OCTET_STREAM, **code_headers(model_a.manifest.model_id, 12, 3)})
        assert codes.status_code == 200 and len(codes.json()["clusters"]) == 3
    # Optional imports of python-multipart (FastAPI probes for it) are fine; the training stack is not.
    tried = {line.split()[2].split(".")[0] for line in consumer.log().splitlines() if line.startswith("BLOCKED IMPORT")}
    assert not tried & set(TRAINING_STACK), consumer.log()


def test_shared_modules_import_no_torch_at_import_time():
    modules = ["bitcluster.cli", "bitcluster.core.codes", "bitcluster.core.manifest", "bitcluster.core.preprocessing",
               "bitcluster.core.onnx_model", "bitcluster.core.wire", "bitcluster.serving.app",
               "bitcluster.serving.process", "bitcluster.client.http_client", "bitcluster.client.batch_runner",
               "bitcluster_consumer.main", "bitcluster_vendor.main"]
    code = (f"import sys, json\nfor m in {modules!r}: __import__(m)\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    assert not loaded & {"torch", "sklearn", "scipy", "onnx"}, sorted(loaded & {"torch", "sklearn", "scipy", "onnx"})


def test_the_consumer_extra_installs_no_training_stack():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {req.split(">")[0].split("=")[0].split("[")[0].strip().lower() for req in extras["consumer"]}
    assert not names & {"torch", "scikit-learn", "scipy", "onnx", "pillow", "umap-learn", "matplotlib"}, names
    assert {"onnxruntime", "fastapi", "uvicorn", "prometheus-client"} <= names
