# Sourced by the deploy/compose scripts: which engine runs the compose file, and how to call it.
#
# Docker Compose is used where a Docker daemon answers and `docker compose` (or a standalone
# `docker-compose`) exists; podman with podman-compose otherwise. BITCLUSTER_COMPOSE_ENGINE=docker|podman
# forces one. After `select_engine`:
#   ENGINE      docker | podman          (the container CLI: inspect, port, kill, images)
#   COMPOSE     the compose command, an array (docker compose | podman-compose)
#   BASE_IMAGE  exported for the build: python:3.11-slim with Docker, a locally built Debian base with podman
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
COMPOSE_FILE_PATH="$ROOT/docker-compose.yml"
# The compose file's `name:` unless COMPOSE_PROJECT_NAME says otherwise (both compose tools read it).
export COMPOSE_PROJECT_NAME="${COMPOSE_PROJECT_NAME:-bitcluster}"
PROJECT="$COMPOSE_PROJECT_NAME"
# Tools and settings that outlive a checkout (CI clones afresh each run) live in the user's cache.
CACHE_DIR="${BITCLUSTER_COMPOSE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/bitcluster-compose}"
LOCAL_BASE_IMAGE="localhost/bitcluster-base:bookworm"
PODMAN_COMPOSE_VERSION="1.6.0"

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

docker_compose_available() {
    command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 || return 1
    if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose); return 0; fi
    if command -v docker-compose >/dev/null 2>&1; then COMPOSE=(docker-compose); return 0; fi
    return 1
}

# Podman's defaults fail on this machine kind: crun refuses hybrid cgroups (v1 + v2), and the default
# container rlimits are refused (`setrlimit: operation not permitted`; here nproc above 32768 fails even
# under the host's 96365). runc and these limits, capped at the host's hard limits, work; podman always
# runs with this file (CONTAINERS_CONF replaces the system's containers.conf for our commands only).
write_containers_conf() {
    mkdir -p "$CACHE_DIR"
    local nofile=20000 nproc=32768 hard
    hard="$(ulimit -Hn)"; [ "$hard" != unlimited ] && [ "$hard" -lt $nofile ] && nofile=$hard
    hard="$(ulimit -Hu)"; [ "$hard" != unlimited ] && [ "$hard" -lt $nproc ] && nproc=$hard
    cat >"$CACHE_DIR/containers.conf" <<CONF
# Written by deploy/compose/lib.sh: podman settings for bitcluster's compose scripts.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
CONF
    export CONTAINERS_CONF="$CACHE_DIR/containers.conf"
    # Docker's image format keeps HEALTHCHECK (the OCI format drops it).
    export BUILDAH_FORMAT=docker
}

select_engine() {
    local forced="${BITCLUSTER_COMPOSE_ENGINE:-}"
    if [ "$forced" != podman ] && docker_compose_available; then
        ENGINE=docker
        export BASE_IMAGE="${BASE_IMAGE:-python:3.11-slim}"
    elif [ "$forced" = docker ]; then
        die "BITCLUSTER_COMPOSE_ENGINE=docker but no Docker daemon with Docker Compose answers"
    else
        ENGINE=podman
        if ! command -v podman >/dev/null 2>&1 || [ ! -x "$CACHE_DIR/venv/bin/podman-compose" ]; then
            [ "${1:-}" = --setup ] || die "no Docker Compose and no podman-compose: run deploy/compose/podman-setup.sh"
            bash "$ROOT/deploy/compose/podman-setup.sh"
        fi
        COMPOSE=("$CACHE_DIR/venv/bin/podman-compose")
        write_containers_conf
        # No registry image is needed: the images build FROM a Debian base made by debootstrap.
        export BASE_IMAGE="${BASE_IMAGE:-$LOCAL_BASE_IMAGE}"
        if [ "${1:-}" = --setup ] && [ "$BASE_IMAGE" = "$LOCAL_BASE_IMAGE" ] \
            && ! podman image exists "$LOCAL_BASE_IMAGE"; then
            bash "$ROOT/deploy/compose/podman-setup.sh"
        fi
    fi
    # Offline builds from deploy/wheelhouse by default (deploy/compose/wheelhouse.sh fills it).
    export WHEELHOUSE="${WHEELHOUSE:-true}"
    log "engine: ${COMPOSE[*]##*/} (project $PROJECT, base image $BASE_IMAGE, wheelhouse=$WHEELHOUSE)"
}

# The project's venv Python when there is one (it has pip and the client), else python3.
host_python() {
    if [ -x "$ROOT/.venv/bin/python" ]; then echo "$ROOT/.venv/bin/python"; else echo python3; fi
}

# Lines that say nothing useful here: podman without systemd logs an error per container for the
# health-check timers it cannot create (wait_healthy runs the checks instead) and that it cannot reach
# syslog; the host's pip.conf lists mirror folders that do not exist. stderr goes through a file, not a
# pipe: conmon, which `up` leaves running, inherits the compose tool's extra descriptors, and would hold
# a pipe (and whoever reads it: make, CI) open for as long as the containers live.
NOISE='unable to get systemd connection|failed to connect to syslog|^WARNING: Location .* is ignored'
without_noise() {
    local errors rc=0
    errors="$(mktemp)"
    "$@" 2>"$errors" || rc=$?
    grep -Ev "$NOISE" "$errors" >&2 || true
    rm -f "$errors"
    return $rc
}

compose() { (cd "$ROOT" && without_noise "${COMPOSE[@]}" -f "$COMPOSE_FILE_PATH" "$@"); }

# Containers of this compose project (running or not), optionally of one service.
project_containers() {
    local filters=(--filter "label=com.docker.compose.project=$PROJECT")
    [ -n "${1:-}" ] && filters+=(--filter "label=com.docker.compose.service=$1")
    "$ENGINE" ps -a -q "${filters[@]}"
}

health_of() { "$ENGINE" inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$1" 2>/dev/null; }

# Wait until every container of the project reports healthy. Podman schedules health checks with
# systemd timers; where systemd is not PID 1 nothing runs them, so we run each check ourselves
# (`podman healthcheck run` records its result exactly as the timer would).
wait_healthy() {
    local timeout_s="${1:-180}" deadline=$((SECONDS + ${1:-180})) c pending
    while :; do
        pending=()
        for c in $(project_containers); do
            if [ "$ENGINE" = podman ]; then podman healthcheck run "$c" >/dev/null 2>&1 || true; fi
            [ "$(health_of "$c")" = healthy ] || pending+=("$c")
        done
        [ ${#pending[@]} -eq 0 ] && [ -n "$(project_containers)" ] && return 0
        if [ $SECONDS -ge $deadline ]; then
            for c in "${pending[@]}"; do "$ENGINE" logs --tail 20 "$c" >&2 || true; done
            die "not healthy after ${timeout_s}s: ${pending[*]}"
        fi
        sleep 1
    done
}
