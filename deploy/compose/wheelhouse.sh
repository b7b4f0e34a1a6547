#!/usr/bin/env bash
# Fill deploy/wheelhouse with every wheel the two images install, for offline builds
# (--build-arg WHEELHOUSE=true: pip inside the build then reads only this folder, no index).
# The wheels are for the images' platform (CPython 3.11, manylinux x86_64/aarch64 like the host),
# whatever Python runs this script. Usage: deploy/compose/wheelhouse.sh [PYTHON]
# WHEELHOUSE_GPU=true adds onnxruntime-gpu with NVIDIA's CUDA and cuDNN wheels (several GB) for an offline
# GPU build of the vendor (ONNXRUNTIME_GPU_VERSION, default 1.31.1, as in deploy/vendor.Dockerfile).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
python="${1:-${PYTHON:-$(host_python)}}"
wheelhouse="$ROOT/deploy/wheelhouse"
arch="$(uname -m)"

# The requirements both images install (deploy/requirements.py, which the Dockerfiles run too).
requirements="$("$python" "$ROOT/deploy/requirements.py" "$ROOT/pyproject.toml" vendor consumer)"
if [ "${WHEELHOUSE_GPU:-false}" = true ]; then
    requirements+=$'\n'"onnxruntime-gpu[cuda,cudnn]==${ONNXRUNTIME_GPU_VERSION:-1.31.1}"
fi
log "wheelhouse: downloading $(wc -l <<<"$requirements") requirements for cp311 $arch into deploy/wheelhouse"
# Every manylinux tag that Debian bookworm's glibc 2.36 (both base images) runs.
platforms=(--platform "manylinux2014_$arch")
for minor in $(seq 36 -1 17); do platforms+=(--platform "manylinux_2_${minor}_$arch"); done
without_noise "$python" -m pip download --quiet --dest "$wheelhouse" --only-binary=:all: \
    --implementation cp --python-version 3.11 "${platforms[@]}" -r /dev/stdin <<<"$requirements"
log "wheelhouse: $(find "$wheelhouse" -name '*.whl' | wc -l) wheels, $(du -sh "$wheelhouse" | cut -f1)"
