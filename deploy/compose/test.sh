#!/usr/bin/env bash
# make compose-test: the deployment checked as a user would, with Docker Compose or podman-compose.
#   1. both images build, both services report healthy (deploy/compose/up.sh);
#   2. PNG images -> vendor container -> packed codes -> consumer container -> clusters, equal to
#      onnxruntime run in-process on the same export; codes labelled with a wrong model id are refused;
#   3. --scale consumer=2: both replicas answer, each exactly as in-process;
#   4. a consumer killed with SIGKILL is restarted by its restart policy and serves again;
#   5. compose down leaves no container, network or pod.
# Runs as its own compose project (bitcluster-test) on a free vendor port, so that a deployment started
# with `make compose-up` is left alone. All traffic goes to 127.0.0.1.
set -euo pipefail
export COMPOSE_PROJECT_NAME="${COMPOSE_PROJECT_NAME:-bitcluster-test}"
source "$(dirname "$0")/lib.sh"
started=$SECONDS
select_engine --setup
log "setup done in $((SECONDS - started)) s"

python="$(host_python)"
check() { OMP_NUM_THREADS=1 "$python" "$ROOT/deploy/compose/check_deployment.py" "$@"; }
model_dir="$(cd "${MODEL_DIR:-$ROOT/shared/bitcluster/default_model}" && pwd)"
export MODEL_DIR="$model_dir"
export VENDOR_PORT="${VENDOR_PORT:-$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
unset CONSUMER_PORT  # replicas need ephemeral host ports
vendor_url="http://127.0.0.1:$VENDOR_PORT"
consumer_urls() { container_urls consumer | cut -f2; }

bash "$ROOT/deploy/compose/down.sh" >/dev/null 2>&1 || true  # a clean slate after an interrupted run
trap 'bash "$ROOT/deploy/compose/down.sh" >/dev/null 2>&1 || true' EXIT

log "1/5 build and start"
CONSUMERS=1 bash "$ROOT/deploy/compose/up.sh"

log "2/5 round trip through the containers"
check roundtrip "$model_dir" "$vendor_url" "$(consumer_urls)"

log "3/5 two consumer replicas"
compose up -d --scale consumer=2 >/dev/null
wait_healthy 120
replicas=($(project_containers consumer))
[ ${#replicas[@]} -eq 2 ] || die "expected 2 consumer containers, found ${#replicas[@]}"
urls=($(consumer_urls))
[ ${#urls[@]} -eq 2 ] && [ "${urls[0]}" != "${urls[1]}" ] || die "the replicas do not publish two ports: ${urls[*]}"
check serves "$model_dir" "${urls[@]}"

log "4/5 SIGKILL a consumer: the restart policy brings it back"
victim="${replicas[0]}"
log "restarted after $(sigkill_and_wait_restart "$victim" 60) s"
wait_healthy 120
check serves "$model_dir" $(consumer_urls)

log "5/5 compose down"
trap - EXIT
bash "$ROOT/deploy/compose/down.sh"
log "compose-test passed in $((SECONDS - started)) s"
