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

need_root_debian() {
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
        || die "$1 is missing; install it (Debian: apt-get install $1) or run this script as root on Debian"
}

missing=()
for tool in podman runc debootstrap iptables; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
    need_root_debian "${missing[*]}"
    log "installing ${missing[*]} from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x "$CACHE_DIR/venv/bin/podman-compose" ]; then
    log "installing podman-compose $PODMAN_COMPOSE_VERSION into $CACHE_DIR/venv"
    mkdir -p "$CACHE_DIR"
    python3 -m venv "$CACHE_DIR/venv"
    without_noise "$CACHE_DIR/venv/bin/pip" install -q "podman-compose==$PODMAN_COMPOSE_VERSION"
fi

write_containers_conf

# The Debian mirror this host already uses (deb822 .sources or one-line sources.list), else Debian's CDN.
debian_mirror() {
    local uri
    uri="$(grep -hs -A3 '^Types:.*deb' /etc/apt/sources.list.d/*.sources 2>/dev/null \
             | awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}')"
    [ -z "$uri" ] && uri="$(awk '$1 == "deb" && $2 !~ /security/ && $3 == "bookworm" {print $2; exit}' \
                                /etc/apt/sources.list 2>/dev/null || true)"
    echo "${uri:-http://deb.debian.org/debian}"
}

if podman image exists "$LOCAL_BASE_IMAGE"; then
    log "base image $LOCAL_BASE_IMAGE already built"
else
    command -v debootstrap >/dev/null 2>&1 || need_root_debian debootstrap
    mirror="$(debian_mirror)"
    rootfs="$(mktemp -d "${TMPDIR:-/tmp}/bitcluster-rootfs.XXXXXX")"
    trap 'rm -rf "$rootfs"' EXIT
    log "building $LOCAL_BASE_IMAGE: debootstrap bookworm from $mirror"
    debootstrap --variant=minbase --include=python3,python3-venv bookworm "$rootfs" "$mirror" >/dev/null
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
    tar -C "$rootfs" -c . | podman import --quiet \
        --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' - "$LOCAL_BASE_IMAGE" >/dev/null
    log "base image built: $(podman image inspect -f '{{.Size}}' "$LOCAL_BASE_IMAGE") bytes"
fi
