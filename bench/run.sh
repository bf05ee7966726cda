#!/usr/bin/env bash
# run.sh — the benchmark scenarios S1–S6, mcpgw side by side with the paths without a gateway
# and the npm peers (supergateway, mcp-proxy, mcp-hub), printed as tables (docs/BENCHMARKS.md,
# "Side by side"). From a clean clone, after the README's set-up:
#
#   bench/run.sh                       # release build, 3 rounds per scenario (a few minutes)
#   bench/run.sh --smoke               # tiny counts, one round: proves every path works
#
# Options: --build-dir DIR (default build/release; configured with the release preset when
# missing), --no-build (use DIR as it is), --no-setup (skip scripts/setup.sh --tests),
# --rounds N, --scenarios S1,S3,…, --json-out FILE. S5 needs a Docker engine: without one it
# is skipped, unless MCPGW_REQUIRE_DOCKER=1 (CI), which makes that a failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
build_dir="$root/build/release"
build=1
setup=1
py_args=()
die() { echo "bench/run.sh: $*" >&2; exit 2; }

while (($#)); do
  case "$1" in
    --build-dir) (($# >= 2)) || die "--build-dir needs a directory"; build_dir="$(realpath -m "$2")"; shift ;;
    --no-build) build=0 ;;
    --no-setup) setup=0 ;;
    --smoke) py_args+=(--smoke) ;;
    --rounds|--scenarios|--json-out)
      (($# >= 2)) || die "$1 needs a value"; py_args+=("$1" "$2"); shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
  shift
done

if ((setup)); then
  scripts/setup.sh --tests
fi
if ((build)); then
  if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
    [[ "$build_dir" == "$root/build/release" ]] ||
      die "$build_dir is not a configured build directory (or use the default build/release)"
    cmake --preset release >/dev/null
  fi
  cmake --build "$build_dir" -j "${MCPGW_JOBS:-2}" --target mcpgw mcpgw-load mcp-fixture-server
fi
fixture="$build_dir/apps/mcp-fixture-server/mcp-fixture-server"
[[ -x "$fixture" ]] || die "$fixture is missing (build it, or drop --no-build)"

node_bin="$root/tests/e2e/node_modules/.bin"
[[ -x "$node_bin/supergateway" ]] ||
  die "the npm peers are not installed in tests/e2e (scripts/setup.sh --tests installs them)"

# S5 needs the engine and the fixture's image (built from this build's fixture binary).
if { [[ -S /var/run/docker.sock ]] || scripts/start-docker.sh >/dev/null 2>&1; } &&
   docker info >/dev/null 2>&1; then
  if ! images_log="$(tests/docker/build-test-images.sh "$fixture" 2>&1)"; then
    printf '%s\n' "$images_log" >&2
    die "tests/docker/build-test-images.sh failed (above)"
  fi
elif [[ "${MCPGW_REQUIRE_DOCKER:-0}" == 1 ]]; then
  die "no Docker engine for S5 (MCPGW_REQUIRE_DOCKER=1): start one with scripts/start-docker.sh"
else
  echo "bench/run.sh: no Docker engine: S5 (cold start) is skipped" >&2
  py_args+=(--skip-docker)
fi

exec python3 bench/compare.py --bin-dir "$build_dir" --node-bin "$node_bin" "${py_args[@]}"
