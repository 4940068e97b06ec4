#!/usr/bin/env bash
# Makes sure the execution tests have what they need: Debian's static busybox (the tests build their
# base image FROM scratch with it, since no registry is reachable) and a Docker engine. Uses the
# running engine (DOCKER_HOST or the local socket) when it answers; otherwise installs Debian's
# `docker.io` if needed, starts `dockerd` with its state under /tmp, and exports DOCKER_HOST.
#
#   source .ci/docker.sh
#
# Fails loudly (non-zero) when no engine answers afterwards: the Docker tests must never be skipped in CI.

crucible_docker_setup() {
    local say='echo docker.sh:'
    as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
    apt_install() {
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null ||
            { as_root apt-get update -q >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; }
    }

    if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "install ok installed"; then
        $say "installing busybox-static" >&2
        apt_install busybox-static || return 1
    fi

    if ! command -v docker >/dev/null 2>&1; then
        $say "installing docker.io" >&2
        apt_install docker.io || return 1
    fi
    if docker version >/dev/null 2>&1; then
        $say "using the running engine: $(docker version --format '{{.Server.Version}}')" >&2
        return 0
    fi

    local state=/tmp/crucible-ci-docker
    mkdir -p "$state"
    $say "starting dockerd under $state" >&2
    as_root dockerd --data-root "$state/data" --exec-root "$state/exec" --pidfile "$state/dockerd.pid" \
        -H "unix://$state/docker.sock" >"$state/dockerd.log" 2>&1 &
    export DOCKER_HOST="unix://$state/docker.sock"
    for _ in $(seq 1 60); do
        if docker version >/dev/null 2>&1; then
            $say "started engine $(docker version --format '{{.Server.Version}}')" >&2
            return 0
        fi
        sleep 1
    done
    $say "ERROR: dockerd did not answer; its log:" >&2
    tail -n 30 "$state/dockerd.log" >&2
    return 1
}

crucible_docker_setup || { echo "docker.sh: no Docker engine for the tests" >&2; exit 1; }
