#!/usr/bin/env bash
# test.sh — the project's test command: sets up, builds and runs every test.
#
# Steps: install what is missing (scripts/setup.sh --tests), start a Docker engine if none
# runs, start a local image registry and podman's API service, build and test the `asan`
# preset (unit and e2e tests under ASan+UBSan), build the `dev` preset (and compile each public
# header alone), build the libraries under clang's thread-safety analysis (`tsa`), install the
# dev build into build/install and build + run tests/install/consumer and
# examples/session-pair, examples/embed-tool and examples/embed-gateway against it
# (find_package(mcpgw)), then run
# every test of the dev build. ctest's summary is the last thing printed.
#
# Environment:
#   MCPGW_SKIP_ASAN=1      skip the sanitizer build (quick local runs; CI never sets it)
#   MCPGW_ASAN_LABELS=re   ctest label regex for the sanitizer run (default: unit|e2e)
#   MCPGW_JOBS=n           build and ctest parallelism (default: 2)
#   MCPGW_REQUIRE_DOCKER=1, MCPGW_REQUIRE_NPM=1, CI=true   set by .ci/run: Docker and npm
#                          tests fail instead of skipping
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"

jobs="${MCPGW_JOBS:-2}"
export CTEST_PARALLEL_LEVEL="$jobs"
export MCPGW_E2E_NODE_MODULES="$root/tests/e2e/node_modules"

step=0
banner() {
  step=$((step + 1))
  printf '\n==== [%d] %s ====\n' "$step" "$*"
}

banner "set-up (scripts/setup.sh --tests)"
scripts/setup.sh --tests

banner "Docker engine (scripts/start-docker.sh)"
scripts/start-docker.sh

# Started here, outside any test process (the tests call the same idempotent scripts to learn
# the addresses): the image registry on 127.0.0.1 for the pull tests, and podman's
# Docker-compatible API, against which the DockerEngine tests run a second time.
banner "test services: local registry and podman's API (tests/docker/start-*.sh)"
tests/docker/start-registry.sh
tests/docker/start-podman.sh

if [[ "${MCPGW_SKIP_ASAN:-0}" == 1 ]]; then
  banner "asan: skipped (MCPGW_SKIP_ASAN=1)"
else
  banner "asan: configure and build"
  cmake --preset asan
  cmake --build build/asan -j "$jobs"
  banner "asan: ctest -L '${MCPGW_ASAN_LABELS:-unit|e2e}'"
  ctest --test-dir build/asan -L "${MCPGW_ASAN_LABELS:-unit|e2e}" --output-on-failure --no-tests=error
fi

banner "dev: configure and build (and compile every public header on its own)"
cmake --preset dev
cmake --build build/dev -j "$jobs"
cmake --build build/dev -j "$jobs" --target mcpgw_check_headers

banner "tsa: clang++-14 -Wthread-safety on the libraries"
cmake --preset tsa
cmake --build build/tsa -j "$jobs"

banner "install: cmake --install build/dev --prefix build/install"
rm -rf build/install
cmake --install build/dev --prefix build/install

banner "install: build and run tests/install/consumer and examples/{session-pair,embed-tool,embed-gateway} against build/install"
rm -rf build/consumer
cmake -S tests/install/consumer -B build/consumer -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_PREFIX_PATH="$root/build/install"
cmake --build build/consumer -j "$jobs"
build/consumer/consumer
rm -rf build/session-pair
cmake -S examples/session-pair -B build/session-pair -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_PREFIX_PATH="$root/build/install"
cmake --build build/session-pair -j "$jobs"
build/session-pair/session_pair
rm -rf build/embed-tool
cmake -S examples/embed-tool -B build/embed-tool -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_PREFIX_PATH="$root/build/install"
cmake --build build/embed-tool -j "$jobs"
build/embed-tool/word_count_test
rm -rf build/embed-gateway
cmake -S examples/embed-gateway -B build/embed-gateway -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_PREFIX_PATH="$root/build/install"
cmake --build build/embed-gateway -j "$jobs"
build/embed-gateway/embed_gateway

banner "dev: ctest (every test)"
ctest --test-dir build/dev --output-on-failure --no-tests=error
