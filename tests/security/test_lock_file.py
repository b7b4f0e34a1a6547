"""Finding 6 of the security review: every dependency pinned with its hashes, and the pins kept current.

requirements/{all,vendor,consumer}.txt are made by `make lock` (uv pip compile --generate-hashes);
`make install`, the consumer-only CI venv and both images install them with pip --require-hashes.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==(\S+)")


def _requirements_module():
    spec = importlib.util.spec_from_file_location("deploy_requirements", ROOT / "deploy/requirements.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of every requirement of ``requirements/<lock>.txt``; fails on any unpinned line."""
    entries: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in (ROOT / "requirements" / f"{lock}.txt").read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("--hash=sha256:"):
            assert current is not None, f"{lock}.txt: a hash before any requirement"
            digest = stripped.removeprefix("--hash=sha256:").rstrip(" \\")
            assert re.fullmatch(r"[0-9a-f]{64}", digest), line
            entries[current][1].append(digest)
            continue
        match = PIN.match(stripped)
        assert match and not line.startswith(" "), f"{lock}.txt: not an exact pin: {line!r}"
        current = _normal(match.group(1))
        entries[current] = (match.group(3).split(";")[0], [])
    return entries


@pytest.mark.parametrize("lock", ["all", "vendor", "consumer"])
def test_every_package_of_a_lock_is_pinned_with_its_hashes(lock):
    entries = pins(lock)
    assert len(entries) > 30
    assert all(hashes for _, hashes in entries.values()), [n for n, (_, h) in entries.items() if not h]
    assert "setuptools" in entries  # the project is installed --no-build-isolation with the lock's backend


def test_the_locks_are_up_to_date_with_pyproject():
    done = subprocess.run([sys.executable, str(ROOT / "deploy/requirements.py"), "check"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_a_changed_dependency_makes_every_lock_stale(tmp_path, monkeypatch):
    requirements = _requirements_module()
    assert requirements.stale_locks() == []
    pyproject = (ROOT / "pyproject.toml").read_text()
    changed = pyproject.replace('"numpy>=1.26",', '"numpy>=1.26",\n    "six>=1.16",', 1)
    assert changed != pyproject
    (tmp_path / "pyproject.toml").write_text(changed)
    monkeypatch.setattr(requirements, "PYPROJECT", tmp_path / "pyproject.toml")
    assert requirements.stale_locks() == ["requirements/all.txt", "requirements/vendor.txt",
                                          "requirements/consumer.txt", "requirements/demo.txt"]
    # A comment or a reformatted line does not count: only the requirements do.
    (tmp_path / "pyproject.toml").write_text(pyproject.replace("[project]", "# a comment\n[project]", 1))
    assert requirements.stale_locks() == []
    (tmp_path / "constraints.txt").write_text("torch==2.12.0\n")
    monkeypatch.setattr(requirements, "CONSTRAINTS", tmp_path / "constraints.txt")
    assert len(requirements.stale_locks()) == 4


def test_the_image_locks_hold_their_extras_at_the_versions_of_the_full_lock_without_torch():
    requirements = _requirements_module()
    everything = pins("all")
    for extra in ("vendor", "consumer"):
        image = pins(extra)
        assert {n: v for n, (v, _) in image.items()} == {n: everything[n][0] for n in image}
        wanted = {_normal(re.split(r"[\[<>=!~;\s]", r, maxsplit=1)[0])
                  for r in requirements.requirements(ROOT / "pyproject.toml", [extra])}
        assert wanted <= set(image), wanted - set(image)
        assert not {"torch", "scipy", "scikit-learn"} & set(image)


def test_torch_is_the_cpu_build_that_constraints_txt_names():
    (constraint,) = [line for line in (ROOT / "constraints.txt").read_text().splitlines()
                     if line.startswith("torch==")]
    version, _ = pins("all")["torch"]
    assert version.split("+")[0] == constraint.removeprefix("torch==") and version.endswith("+cpu")


def test_make_install_the_ci_venv_and_both_images_install_from_the_locks():
    makefile = (ROOT / "Makefile").read_text()
    # every install goes through one pattern rule: the lock named by the stamp, with its hashes
    assert "$(VENV)/.installed-%: requirements/%.txt" in makefile and "--require-hashes" in makefile
    assert "-r $<" in makefile and "FULL_STAMP := $(VENV)/.installed-all" in makefile
    assert "install: $(FULL_STAMP)" in makefile and "test: install" in makefile
    assert "--no-deps --no-build-isolation -e ." in makefile and "deploy/requirements.py lock" in makefile
    ci = (ROOT / ".ci/consumer_only.sh").read_text()
    assert "--require-hashes -r requirements/consumer.txt" in ci and "--no-deps" in ci
    assert "make lock-check" in (ROOT / ".ci/run").read_text()
    for half in ("vendor", "consumer"):
        dockerfile = (ROOT / f"deploy/{half}.Dockerfile").read_text()
        assert f"COPY requirements/{half}.txt ./requirements.txt" in dockerfile
        assert "--require-hashes" in dockerfile and "--no-index --no-deps" in dockerfile
    assert "--require-hashes" in (ROOT / "deploy/compose/wheelhouse.sh").read_text()
