#!/usr/bin/env bash
# Stop and remove the compose project (every replica), then check that nothing of it is left.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
select_engine

containers="$(project_containers)"
# podman-compose removes only the replicas its compose file declares, not those added with --scale:
# stop them all first (SIGTERM, the compose file's 20 s grace) so that `down` finds none running.
if [ -n "$containers" ]; then without_noise "$ENGINE" stop -t 20 $containers >/dev/null; fi
compose down --remove-orphans >/dev/null
containers="$(project_containers)"
if [ -n "$containers" ]; then without_noise "$ENGINE" rm -f $containers >/dev/null; fi

left="$(project_containers)$("$ENGINE" network ls -q --filter "name=^${PROJECT}_default\$")"
[ "$ENGINE" = podman ] && left+="$(podman pod ls -q --filter "name=^pod_${PROJECT}\$")"
[ -z "$left" ] || die "compose down left behind: $left"
log "$PROJECT is down: no container, network or pod left"
