#!/usr/bin/env bash
# Make podman able to build and run bitcluster's compose file on a machine without Docker:
#   1. podman, runc, debootstrap (and iptables, for published ports) from Debian's archive when missing
#      (needs root on Debian);
#   2. podman-compose in a virtual environment under the user's cache;
#   3. a local base image, Debian bookworm (Python 3.11) made by debootstrap, for machines that cannot
#      pull python:3.11-slim from a registry. Built once: kept in podman's storage and reused.
# Idempotent; about 1.5 minutes the first time, a second when everything is there.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

apt_install_missing podman runc debootstrap iptables

if [ ! -x "$CACHE_DIR/venv/bin/podman-compose" ]; then
    log "installing podman-compose $PODMAN_COMPOSE_VERSION into $CACHE_DIR/venv"
    mkdir -p "$CACHE_DIR"
    python3 -m venv "$CACHE_DIR/venv"
    without_noise "$CACHE_DIR/venv/bin/pip" install -q "podman-compose==$PODMAN_COMPOSE_VERSION"
fi

write_containers_conf

build_base_image podman
