#!/usr/bin/env bash
# start-podman.sh — makes sure podman's Docker-compatible API answers on a socket of its own, so
# DockerEngine's tests can run against podman: DOCKER_HOST="$(tests/docker/start-podman.sh)".
#
#   tests/docker/start-podman.sh     prints unix://<socket> (default unix:///run/mcpgw-podman/podman.sock)
#
# Does nothing when the socket already answers GET /_ping (idempotent). Otherwise writes a
# containers.conf and a registries.conf into the socket's directory and starts
# `podman system service --time=0` with them (CONTAINERS_CONF, CONTAINERS_REGISTRIES_CONF) in
# its own session, and waits up to 20 s for /_ping. Log: /tmp/mcpgw-podman.log; the service's
# pid is kept in service.pid next to the socket (stop it with kill "$(cat .../service.pid)";
# a running service keeps the configuration it started with).
# - containers.conf: podman's default ulimits (nofile and nproc 1048576+) are above this
#   machine's hard limits, and every container would fail with "error setting rlimit type 7/6:
#   operation not permitted". default_ulimits are set to min(ulimit -Hn, 1048576) and
#   min(ulimit -Hu, 32768) — podman 4.3 itself lowers its RLIMIT_NPROC to 32768 at start, so a
#   container asking more fails too. events_logger = "file" (no journald needed).
# - registries.conf: the test registry (tests/docker/start-registry.sh) speaks plain HTTP;
#   podman, unlike dockerd, needs that said (insecure = true).
# Images: podman has its own storage. `docker build` through this socket works (build-test-
# images.sh with DOCKER_HOST set), and tests/docker/load-into-podman.sh copies images that
# dockerd has. Needs root (podman rootful, like the Docker tests).
# Environment:
#   MCPGW_PODMAN_SOCK=/path.sock   the socket (default /run/mcpgw-podman/podman.sock)
#   MCPGW_TEST_REGISTRY=host:port  the registry podman may use over plain HTTP (default 127.0.0.1:5000)
#   MCPGW_REQUIRE_DOCKER=1         (set by CI) failures are fatal; otherwise the script warns
#                                  and exits 0 without printing anything
set -euo pipefail

sock="${MCPGW_PODMAN_SOCK:-/run/mcpgw-podman/podman.sock}"
sock="${sock#unix://}"
dir="$(dirname "$sock")"
registry="${MCPGW_TEST_REGISTRY:-127.0.0.1:5000}"
log_file=/tmp/mcpgw-podman.log
timeout_s=20

log() { printf 'start-podman: %s\n' "$*" >&2; }

fail() {
  if [[ "${MCPGW_REQUIRE_DOCKER:-0}" == 1 ]]; then
    printf 'start-podman: error: %s\n' "$*" >&2
    printf 'start-podman: error: MCPGW_REQUIRE_DOCKER=1, so the podman tests cannot be skipped\n' >&2
    exit 1
  fi
  log "warning: $*; tests that need podman will skip"
  exit 0
}

ping_engine() {
  [[ "$(curl -fsS --max-time 3 --unix-socket "$sock" http://localhost/_ping 2>/dev/null)" == OK ]]
}

# limit_at_most HARD CAP: the smaller of a hard limit (a number or "unlimited") and CAP.
limit_at_most() {
  if [[ "$1" == unlimited ]] || (($1 > $2)); then echo "$2"; else echo "$1"; fi
}

command -v curl >/dev/null || fail "curl is not installed (run scripts/setup.sh --tests)"

if ping_engine; then
  printf 'unix://%s\n' "$sock"
  exit 0
fi

command -v podman >/dev/null || fail "podman is not installed (run scripts/setup.sh --tests)"
[[ "$(id -u)" == 0 ]] || fail "podman's service is run rootful here, and $(id -un) is not root"

mkdir -p "$dir"
nofile="$(limit_at_most "$(ulimit -Hn)" 1048576)"
nproc="$(limit_at_most "$(ulimit -Hu)" 32768)"
cat >"$dir/containers.conf" <<EOF
# Written by tests/docker/start-podman.sh.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
events_logger = "file"
EOF
cat >"$dir/registries.conf" <<EOF
# Written by tests/docker/start-podman.sh.
unqualified-search-registries = ["docker.io"]

[[registry]]
location = "$registry"
insecure = true
EOF

# A socket left by a service that is gone would make the new one fail to bind.
rm -f "$sock"
log "starting podman system service on unix://$sock (log: $log_file)"
# setsid: its own session, so it outlives this script; -w keeps setsid waiting on podman, so
# $! tells whether it still runs.
CONTAINERS_CONF="$dir/containers.conf" CONTAINERS_REGISTRIES_CONF="$dir/registries.conf" \
  setsid -w podman system service --time=0 "unix://$sock" >"$log_file" 2>&1 </dev/null &
pid=$!

for ((i = 0; i < timeout_s * 10; i++)); do
  if ping_engine; then
    # The service's own pid: $! is podman itself unless setsid had to fork (then its child).
    if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == setsid ]]; then
      pgrep -P "$pid" | head -n 1 >"$dir/service.pid"
    else
      printf '%s\n' "$pid" >"$dir/service.pid"
    fi
    log "podman up after $((i / 10)).$((i % 10)) s: $(curl -fsS --unix-socket "$sock" http://localhost/version |
      sed -n 's/.*"Components":\[{"Name":"\([^"]*\)","Version":"\([^"]*\)".*/\1 \2/p')"
    printf 'unix://%s\n' "$sock"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    tail -n 20 "$log_file" >&2 || true
    fail "podman system service exited (see $log_file)"
  fi
  sleep 0.1
done

tail -n 20 "$log_file" >&2 || true
fail "podman did not answer on unix://$sock within ${timeout_s} s"
