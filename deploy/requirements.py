"""Print the requirements of pyproject.toml: the base list, the named extras and the build backend.

The images install these first, in a layer of their own, so that a change to the code rebuilds in
seconds; ``deploy/compose/wheelhouse.sh`` downloads the same list for offline builds.
Usage: ``python deploy/requirements.py PYPROJECT EXTRA...`` (standard library and pip only).
"""

from __future__ import annotations

import sys

try:
    import tomllib
except ImportError:  # Python 3.10: the TOML reader that pip carries
    from pip._vendor import tomli as tomllib


def requirements(pyproject_path: str, extras: list[str]) -> list[str]:
    """Sorted, de-duplicated requirement strings for the base install plus ``extras``."""
    with open(pyproject_path, "rb") as f:
        pyproject = tomllib.load(f)
    project = pyproject["project"]
    wanted = {*project["dependencies"], *pyproject["build-system"]["requires"]}
    for extra in extras:
        wanted.update(project["optional-dependencies"][extra])
    return sorted(wanted)


if __name__ == "__main__":
    print("\n".join(requirements(sys.argv[1], sys.argv[2:])))
