"""`make demo`: a torch-free install of its own, and services left up until Ctrl-C."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from bitcluster import demo

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("deploy_requirements", ROOT / "deploy" / "requirements.py")
deploy_requirements = importlib.util.module_from_spec(spec)
spec.loader.exec_module(deploy_requirements)


def _pins(name: str) -> dict[str, str]:
    lines = (ROOT / "requirements" / f"{name}.txt").read_text().splitlines()
    return dict(line.split(" ")[0].split("==") for line in lines if "==" in line and not line.startswith("#"))


def test_the_demo_lock_has_both_services_and_the_digits_but_no_torch_at_the_full_locks_versions():
    wanted = {deploy_requirements._package(r) for r in deploy_requirements.requirements(
        ROOT / "pyproject.toml", deploy_requirements.LOCKS["demo"])}
    assert {"fastapi", "uvicorn", "onnxruntime", "pillow", "scikit-learn", "scipy"} <= wanted
    assert not wanted & {"torch", "umap-learn", "ray", "pytest", "matplotlib"}
    demo_pins, all_pins = _pins("demo"), _pins("all")
    assert "torch" not in demo_pins and "scikit-learn" in demo_pins
    assert {name: all_pins[name] for name in demo_pins} == demo_pins
    assert deploy_requirements.stale_locks() == []


@pytest.mark.parametrize("stamps, installs", [
    ([], "requirements/demo.txt"),                    # a fresh machine: the demo's set only
    (["demo"], None),                                 # installed already
    (["all"], None),                                  # the full install serves the demo too
])
def test_make_demo_installs_only_the_demo_set(tmp_path, stamps, installs):
    for stamp in stamps:
        (tmp_path / f".installed-{stamp}").touch()
    plan = subprocess.run(["make", "-n", "demo", f"VENV={tmp_path}"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout
    assert "bitcluster demo --keep-running" in plan
    assert ("pip install" in plan) == (installs is not None)
    if installs:
        assert installs in plan and "all.txt" not in plan


def test_make_test_after_make_demo_still_installs_everything(tmp_path):
    (tmp_path / ".installed-demo").touch()
    plan = subprocess.run(["make", "-n", "test", f"VENV={tmp_path}"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout
    assert "-r requirements/all.txt" in plan and "pytest" in plan


def test_the_demo_leaves_the_services_up_until_ctrl_c(monkeypatch):
    running = SimpleNamespace(poll=lambda: None)
    vendor = SimpleNamespace(url="http://127.0.0.1:1", process=running, service="vendor")
    consumer = SimpleNamespace(url="http://127.0.0.1:2", process=running, service="consumer")
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(demo.time, "sleep", sleep)
    lines = []
    demo._serve_until_interrupted(vendor, consumer, lines.append)
    assert len(sleeps) == 3
    assert "until Ctrl-C" in lines[0]
    assert "http://127.0.0.1:1/docs" in lines[0] and "http://127.0.0.1:2/docs" in lines[0]
