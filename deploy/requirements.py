"""The project's requirements: pyproject.toml's lists, and the hash-pinned lock files made from them.

Four lock files in ``requirements/``, each every package pinned with its sha256 hashes by
``uv pip compile --generate-hashes`` (CPython 3.11, Linux x86_64, torch the CPU build of constraints.txt):

* ``all.txt``: the base install, every extra and the build backend: what ``make install`` installs;
* ``vendor.txt`` and ``consumer.txt``: what each image (and the consumer-only CI venv) installs, at the
  versions of ``all.txt``;
* ``demo.txt``: what ``make demo`` installs, at the versions of ``all.txt``: both services' extras and,
  of the train extra, only what ``bitcluster demo`` imports (the digits, their scoring); no torch.

Each lock starts with a digest of the tables it was made from (pyproject's dependencies, extras and
build requirements, and constraints.txt), so that staleness is found offline in milliseconds.

Usage (standard library and pip only; ``lock`` also needs uv)::

    python deploy/requirements.py PYPROJECT EXTRA...   # print the base list + EXTRAs + build backend
    python deploy/requirements.py lock [--uv UV] [--only NAME...]  # regenerate requirements/*.txt (`make lock`)
    python deploy/requirements.py check                # exit 1 when a lock is stale against pyproject.toml
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: the TOML reader that pip carries
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
CONSTRAINTS = ROOT / "constraints.txt"
LOCK_DIR = ROOT / "requirements"
# Lock name -> the extras it installs (None: every extra); "extra:a,b" takes only packages a and b of an
# extra. all.txt first: the others are held to its versions.
LOCKS: dict[str, list[str] | None] = {"all": None, "vendor": ["vendor"], "consumer": ["consumer"],
                                      "demo": ["vendor", "consumer", "train:scikit-learn,scipy"]}
DIGEST_PREFIX = "# pyproject digest: "
REGENERATE = "make lock"


def _load(pyproject_path: str | Path) -> dict:
    with open(pyproject_path, "rb") as f:
        return tomllib.load(f)


def requirements(pyproject_path: str | Path, extras: list[str] | None) -> list[str]:
    """Sorted, de-duplicated requirement strings for the base install, ``extras`` (None: all) and the build backend.

    An extra written ``name:a,b`` contributes only its requirements on packages ``a`` and ``b``.
    """
    pyproject = _load(pyproject_path)
    project = pyproject["project"]
    optional = project.get("optional-dependencies", {})
    wanted = {*project["dependencies"], *pyproject["build-system"]["requires"]}
    for extra in optional if extras is None else extras:
        extra, _, picked = extra.partition(":")
        wanted.update(r for r in optional[extra] if not picked or _package(r) in picked.split(","))
    return sorted(wanted)


def _package(requirement: str) -> str:
    """The package a requirement string names: ``scipy>=1.11`` -> ``scipy``."""
    return re.split(r"[\[<>=!~;@ ]", requirement, maxsplit=1)[0].strip()


def digest() -> str:
    """sha256 of what the locks are made from: pyproject's dependency tables, the constraint lines and LOCKS.

    Comments, formatting and the rest of pyproject.toml do not count; a changed, added or removed
    requirement or extra does.
    """
    pyproject = _load(PYPROJECT)
    project = pyproject["project"]
    constraints = [line.split("#")[0].strip() for line in CONSTRAINTS.read_text().splitlines()]
    tables = {"dependencies": sorted(project["dependencies"]),
              "optional-dependencies": {k: sorted(v) for k, v in project.get("optional-dependencies", {}).items()},
              "build-system": sorted(pyproject["build-system"]["requires"]),
              "constraints": sorted(filter(None, constraints)), "locks": LOCKS}
    return hashlib.sha256(json.dumps(tables, sort_keys=True).encode()).hexdigest()


def pip_index_options() -> list[str]:
    """uv options for the indexes pip is configured with (pip.conf, PIP_* variables), so both see the same packages.

    uv reads no pip configuration: without this it would miss the local wheels (here torch's CPU build).
    """
    listing = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                             check=True).stdout
    options: list[str] = []
    for line in listing.splitlines():
        key, _, value = line.partition("=")
        option = key.rsplit(".", 1)[-1]
        if option in ("find-links", "extra-index-url", "index-url"):
            for url in shlex.split(value.strip("'\"")):
                if url not in options:  # the same setting from pip.conf and from PIP_* once
                    options += [f"--{option}", url]
    if os.environ.get("TORCH_INDEX"):  # the Makefile's other index for torch
        options += ["--extra-index-url", os.environ["TORCH_INDEX"]]
    # pip takes the best version from every index; uv by default only from the first that has the package
    return options + ["--index-strategy", "unsafe-best-match"]


def lock(uv: str, only: list[str] | None = None) -> None:
    """Regenerate every lock file (or those named in ``only``) from pyproject.toml and constraints.txt."""
    LOCK_DIR.mkdir(exist_ok=True)
    index = pip_index_options()
    stamp = digest()
    for name, extras in LOCKS.items():
        if only and name not in only:
            continue
        out = LOCK_DIR / f"{name}.txt"
        held = [] if name == "all" else ["-c", str((LOCK_DIR / "all.txt").relative_to(ROOT))]
        subprocess.run([uv, "pip", "compile", "-", "--quiet", "--generate-hashes", "--python-version", "3.11",
                        "--python-platform", "x86_64-manylinux_2_28", "-c", "constraints.txt", *held, *index,
                        "--custom-compile-command", REGENERATE, "-o", str(out.relative_to(ROOT))],
                       input="\n".join(requirements(PYPROJECT, extras)) + "\n", text=True, cwd=ROOT, check=True)
        extras_text = "every extra" if extras is None else "extras " + ", ".join(extras)
        out.write_text(f"{DIGEST_PREFIX}{stamp}\n# The base install, {extras_text} and the build backend, "
                       f"every package pinned with its hashes.\n" + out.read_text())
        print(f"{out.relative_to(ROOT)}: {sum(1 for line in out.read_text().splitlines() if '==' in line)} packages")


def stale_locks() -> list[str]:
    """The lock files missing or made from other requirements than pyproject.toml's and constraints.txt's now."""
    want = DIGEST_PREFIX + digest()
    stale = []
    for name in LOCKS:
        path = LOCK_DIR / f"{name}.txt"
        if not path.is_file() or path.read_text().split("\n", 1)[0] != want:
            stale.append(str(path.relative_to(ROOT)))
    return stale


def main(argv: list[str]) -> int:
    if argv[:1] not in (["lock"], ["check"]):
        print("\n".join(requirements(argv[0], argv[1:])))
        return 0
    parser = argparse.ArgumentParser(prog="deploy/requirements.py")
    parser.add_argument("command", choices=["lock", "check"])
    parser.add_argument("--uv", default="uv", help="the uv executable (make lock passes the venv's)")
    parser.add_argument("--only", nargs="+", choices=list(LOCKS), help="lock: regenerate only these locks")
    args = parser.parse_args(argv)
    if args.command == "lock":
        lock(args.uv, args.only)
        return 0
    stale = stale_locks()
    if stale:
        print(f"stale lock files {stale}: pyproject.toml or constraints.txt changed since they were made. "
              f"Run `{REGENERATE}` and commit requirements/.", file=sys.stderr)
        return 1
    print(f"lock files up to date with pyproject.toml: {', '.join(f'{n}.txt' for n in LOCKS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
