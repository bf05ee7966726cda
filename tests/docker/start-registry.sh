#!/usr/bin/env bash
# start-registry.sh — makes sure a local image registry (Debian's docker-registry, distribution
# 2.8) answers on the loopback interface, for the tests that push and pull images.
#
#   tests/docker/start-registry.sh     prints the registry's host:port (e.g. 127.0.0.1:5000)
#
# Does nothing when a registry already answers GET /v2/ at the address (idempotent). Otherwise
# starts `docker-registry serve` in its own session with a config of its own (no auth, storage
# in /tmp/mcpgw-registry/data, listening on 127.0.0.1 only; Debian's /etc/docker/registry/
# config.yml listens on every interface and asks for htpasswd auth, so it is not used) and
# waits up to 20 s for it. Log: /tmp/mcpgw-registry-<port>.log.
# dockerd treats 127.0.0.0/8 registries as insecure (plain HTTP) by default, so no daemon
# configuration is needed; podman needs it in registries.conf (tests/docker/start-podman.sh).
# Environment:
#   MCPGW_TEST_REGISTRY=host:port  the address (default: 127.0.0.1:5000, or the next free port up
#                                  to 5009 when 5000 is taken by something that is no registry)
#   MCPGW_REQUIRE_DOCKER=1         (set by CI) failures are fatal; otherwise the script warns
#                                  and exits 0 without printing an address
set -euo pipefail

state=/tmp/mcpgw-registry
timeout_s=20

log() { printf 'start-registry: %s\n' "$*" >&2; }

fail() {
  if [[ "${MCPGW_REQUIRE_DOCKER:-0}" == 1 ]]; then
    printf 'start-registry: error: %s\n' "$*" >&2
    printf 'start-registry: error: MCPGW_REQUIRE_DOCKER=1, so the registry tests cannot be skipped\n' >&2
    exit 1
  fi
  log "warning: $*; tests that need a registry will skip"
  exit 0
}

# answers succeeds when a registry answers GET /v2/ at $1 (host:port).
answers() {
  [[ "$(curl -sS -o /dev/null -w '%{http_code}' --max-time 2 "http://$1/v2/" 2>/dev/null)" == 200 ]]
}

# port_taken succeeds when something listens on TCP port $2 of host $1.
port_taken() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

command -v curl >/dev/null || fail "curl is not installed (run scripts/setup.sh --tests)"

if [[ -n "${MCPGW_TEST_REGISTRY:-}" ]]; then
  addr="$MCPGW_TEST_REGISTRY"
  [[ "$addr" == *:* ]] || fail "MCPGW_TEST_REGISTRY=$addr is not host:port"
  if answers "$addr"; then
    printf '%s\n' "$addr"
    exit 0
  fi
  port_taken "${addr%:*}" "${addr##*:}" && fail "$addr is taken by something that is not a registry"
  remember=0
else
  # The address an earlier run picked, then 5000 and up.
  addr=""
  if [[ -f "$state/addr" ]] && answers "$(cat "$state/addr")"; then
    cat "$state/addr"
    exit 0
  fi
  for port in {5000..5009}; do
    if answers "127.0.0.1:$port"; then
      printf '127.0.0.1:%s\n' "$port"
      exit 0
    fi
    if ! port_taken 127.0.0.1 "$port"; then
      addr="127.0.0.1:$port"
      break
    fi
  done
  [[ -n "$addr" ]] || fail "ports 5000-5009 on 127.0.0.1 are all taken (set MCPGW_TEST_REGISTRY)"
  remember=1
fi

command -v docker-registry >/dev/null ||
  fail "docker-registry is not installed (run scripts/setup.sh --tests)"

mkdir -p "$state/data"
config="$state/config-${addr##*:}.yml"
log_file="/tmp/mcpgw-registry-${addr##*:}.log"
cat >"$config" <<EOF
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: $state/data
  delete:
    enabled: true
http:
  addr: $addr
  headers:
    X-Content-Type-Options: [nosniff]
EOF

log "starting docker-registry on $addr (log: $log_file)"
# setsid: its own session, so it outlives this script; -w keeps setsid waiting on the registry,
# so $! tells whether it still runs.
setsid -w docker-registry serve "$config" >"$log_file" 2>&1 </dev/null &
pid=$!

for ((i = 0; i < timeout_s * 10; i++)); do
  if answers "$addr"; then
    ((remember)) && printf '%s\n' "$addr" >"$state/addr"
    log "registry up after $((i / 10)).$((i % 10)) s"
    printf '%s\n' "$addr"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    tail -n 20 "$log_file" >&2 || true
    fail "docker-registry exited (see $log_file)"
  fi
  sleep 0.1
done

tail -n 20 "$log_file" >&2 || true
fail "docker-registry did not answer on http://$addr/v2/ within ${timeout_s} s"
