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

# Every manylinux tag that Debian bookworm's glibc 2.36 (both base images) runs.
platforms=(--platform "manylinux2014_$arch")
for minor in $(seq 36 -1 17); do platforms+=(--platform "manylinux_2_${minor}_$arch"); done
download() {
    without_noise "$python" -m pip download --quiet --dest "$wheelhouse" --only-binary=:all: \
        --implementation cp --python-version 3.11 "${platforms[@]}" "$@"
}
# The lock files the two images install (requirements/, made by `make lock`): every wheel checked against its
# hash here and again in the build. One pip call per lock: the same pin twice in one call is refused.
for half in vendor consumer; do
    log "wheelhouse: downloading requirements/$half.txt for cp311 $arch into deploy/wheelhouse"
    download --require-hashes -r "$ROOT/requirements/$half.txt"
done
if [ "${WHEELHOUSE_GPU:-false}" = true ]; then  # not in the locks: the GPU build is an option of its own
    download "onnxruntime-gpu[cuda,cudnn]==${ONNXRUNTIME_GPU_VERSION:-1.31.1}"
fi
log "wheelhouse: $(find "$wheelhouse" -name '*.whl' | wc -l) wheels, $(du -sh "$wheelhouse" | cut -f1)"
