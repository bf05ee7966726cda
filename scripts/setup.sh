#!/usr/bin/env bash
# setup.sh — installs what building (and, with --tests, testing) mcpgw needs on Debian 12.
#
#   scripts/setup.sh           C++ toolchain and libraries (Debian packages only)
#   scripts/setup.sh --tests   also Docker, podman (+ catatonit), docker-registry, Node.js + npm,
#                              and the pinned npm tree in tests/e2e
#
# Idempotent and fast when everything is present: apt is only called (and `apt-get update`
# only run) when a package is missing; `npm ci` only runs when tests/e2e/package.json or
# package-lock.json changed since the last install (a hash is kept in node_modules). npm runs
# with --ignore-scripts: nothing in the tree needs its install script, and npm 11 skips them
# anyway, so Debian's npm 9 and a newer npm install the same tree.
# Environment: MCPGW_REQUIRE_NPM=1 (set by CI) makes a failed `npm ci` fatal; otherwise it is
# a warning and the tests that need npm packages skip.
set -euo pipefail

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

with_tests=0
for arg in "$@"; do
  case "$arg" in
    --tests) with_tests=1 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) die "unknown argument: $arg (use --tests or --help)" ;;
  esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

sudo=()
if [[ "$(id -u)" != 0 ]]; then
  command -v sudo >/dev/null || die "not root and sudo is not installed"
  sudo=(sudo)
fi

build_pkgs=(build-essential cmake ninja-build pkg-config libcurl4-openssl-dev rapidjson-dev
  libfmt-dev libcxxopts-dev libgtest-dev libgmock-dev libabsl-dev libyaml-cpp-dev libboost-dev
  libssl-dev libspdlog-dev libbenchmark-dev)

installed() {
  local status
  status="$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)"
  [[ "$status" == "install ok installed" ]]
}

missing=()
for p in "${build_pkgs[@]}"; do
  installed "$p" || missing+=("$p")
done

if ((with_tests)); then
  # Docker: Debian's docker.io, unless an engine package (e.g. docker-ce) already provides it.
  if ! installed docker.io && ! { command -v dockerd && command -v docker; } >/dev/null; then
    missing+=(docker.io)
  fi
  # start-docker.sh pings the engine with curl.
  command -v curl >/dev/null || missing+=(curl)
  # Podman (its Docker-compatible API, started by tests/docker/start-podman.sh) and catatonit,
  # the init podman runs for HostConfig.Init (its default init_path is
  # /usr/libexec/podman/catatonit, which Debian's catatonit package provides).
  command -v podman >/dev/null || missing+=(podman)
  [[ -x /usr/libexec/podman/catatonit ]] || installed catatonit || missing+=(catatonit)
  # A local registry for the pull tests (tests/docker/start-registry.sh runs it).
  command -v docker-registry >/dev/null || missing+=(docker-registry)
  # The thread-safety analysis build (the `tsa` preset) needs clang.
  installed clang-14 || missing+=(clang-14)
  # Node.js and npm: Debian's packages, unless present already. (NodeSource's nodejs bundles
  # npm and conflicts with Debian's npm package, so check the commands, not the packages.)
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  # The side-by-side benchmark (bench/run.sh, and its smoke test) is driven by Python 3.
  command -v python3 >/dev/null || missing+=(python3)
fi

if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q >&2
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
else
  log "Debian packages: all present"
fi

if ((with_tests)); then
  e2e="$root/tests/e2e"
  lock="$e2e/package-lock.json"
  stamp="$e2e/node_modules/.mcpgw-lock.sha256"
  [[ -f "$lock" ]] || die "$lock is missing"
  # Contents only (no paths), so a copied or moved checkout keeps its node_modules.
  want="$(cat "$e2e/package.json" "$lock" | sha256sum | cut -d' ' -f1)"
  if [[ -f "$e2e/node_modules/.package-lock.json" && -f "$stamp" &&
        "$(cat "$stamp")" == "$want" ]]; then
    log "npm tree in tests/e2e: up to date"
  else
    log "npm ci in tests/e2e (node $(node --version), npm $(npm --version 2>/dev/null))"
    if (cd "$e2e" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2); then
      printf '%s\n' "$want" >"$stamp"
      log "npm tree installed; node for tests: $("$e2e/node_modules/.bin/node" --version)"
    elif [[ "${MCPGW_REQUIRE_NPM:-0}" == 1 ]]; then
      die "npm ci failed in tests/e2e (MCPGW_REQUIRE_NPM=1)"
    else
      log "warning: npm ci failed in tests/e2e; tests that need npm packages will skip"
    fi
  fi
fi

log "done"
