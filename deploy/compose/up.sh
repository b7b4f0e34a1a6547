#!/usr/bin/env bash
# Build both images and start the compose project detached; returns once every container is healthy.
#   VENDOR_PORT    host port of the vendor (default 8001)
#   CONSUMER_PORT  host port of the consumer (default: an ephemeral one, so that replicas can scale)
#   CONSUMERS      consumer replicas (default 1)
#   WHEELHOUSE     true (default): build offline from deploy/wheelhouse, filled first; false: from PyPI
#   BASE_IMAGE, MODEL_DIR, BITCLUSTER_API_KEY, BITCLUSTER_COMPOSE_ENGINE=docker|podman: see deploy/README.md
set -euo pipefail
source "$(dirname "$0")/lib.sh"
select_engine --setup

if [ "$WHEELHOUSE" = true ]; then
    # Refreshed when pyproject.toml changed (pip skips wheels it already has: seconds).
    stamp="$ROOT/deploy/.wheelhouse-filled"  # outside the build context: it must not bust the cache
    if [ ! -e "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
        bash "$ROOT/deploy/compose/wheelhouse.sh" && touch "$stamp"
    fi
fi

images=("bitcluster-vendor:${BITCLUSTER_TAG:-latest}" "bitcluster-consumer:${BITCLUSTER_TAG:-latest}")
image_ids() { "$ENGINE" image inspect -f '{{.Id}}' "${images[@]}" 2>/dev/null || true; }
start=$SECONDS
previous="$(image_ids)"
log "building the images"
compose build >"${BUILD_LOG:-/dev/null}" || die "image build failed (rerun with BUILD_LOG=/dev/stderr to see it)"
# Each code change leaves the previous images untagged (about 250 MB each, the copied venv). Remove
# them, but not the build cache (the dependency layer is reused until pyproject.toml changes); an
# image still used by a container is kept.
current="$(image_ids)"
for id in $previous; do
    grep -q "$id" <<<"$current" || "$ENGINE" rmi "$id" >/dev/null 2>&1 || true
done
log "built in $((SECONDS - start)) s; starting $PROJECT with ${CONSUMERS:-1} consumer(s)"
compose up -d --scale "consumer=${CONSUMERS:-1}" >/dev/null
wait_healthy "${HEALTHY_TIMEOUT_S:-180}"
log "healthy after $((SECONDS - start)) s"
container_urls
