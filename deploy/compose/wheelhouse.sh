#!/usr/bin/env bash
# Fill deploy/wheelhouse with every wheel the two images install, for offline builds
# (--build-arg WHEELHOUSE=true: pip inside the build then reads only this folder, no index).
# The wheels are for the images' platform (CPython 3.11, manylinux x86_64/aarch64 like the host),
# whatever Python runs this script. Usage: deploy/compose/wheelhouse.sh [PYTHON]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
python="${1:-${PYTHON:-$(host_python)}}"
wheelhouse="$ROOT/deploy/wheelhouse"
arch="$(uname -m)"

# The requirements both images install (deploy/requirements.py, which the Dockerfiles run too).
requirements="$("$python" "$ROOT/deploy/requirements.py" "$ROOT/pyproject.toml" vendor consumer)"
log "wheelhouse: downloading $(wc -l <<<"$requirements") requirements for cp311 $arch into deploy/wheelhouse"
platforms=()
for tag in manylinux_2_28 manylinux_2_17 manylinux2014 manylinux1 linux; do platforms+=(--platform "${tag}_$arch"); done
"$python" -m pip download --quiet --dest "$wheelhouse" --only-binary=:all: \
    --implementation cp --python-version 3.11 "${platforms[@]}" -r /dev/stdin <<<"$requirements" \
    2> >(grep -v "^WARNING: Location .* is ignored" >&2)  # noise from a pip.conf that lists absent mirrors
log "wheelhouse: $(find "$wheelhouse" -name '*.whl' | wc -l) wheels, $(du -sh "$wheelhouse" | cut -f1)"
