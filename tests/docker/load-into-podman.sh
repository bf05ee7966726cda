#!/usr/bin/env bash
# load-into-podman.sh — copies test images from dockerd's storage into podman's, so the same
# names resolve through podman's Docker-compatible API.
#
#   tests/docker/load-into-podman.sh [IMAGE...]
#       default images: mcpgw-test/cat:latest mcpgw-test/fixture:latest, and
#       mcpgw-test/everything:latest when dockerd has it
#
# Run after tests/docker/build-test-images.sh (against dockerd) and tests/docker/start-podman.sh.
# Each image goes `docker save` (from dockerd) → POST /images/load (podman's compat API); one
# whose image id podman already has under that name is skipped, so a second run does nothing.
# podman names the loaded images localhost/<name>; its compat API resolves the short name too:
# GET /images/mcpgw-test/cat:latest/json and POST /containers/create {"Image":
# "mcpgw-test/cat:latest"} both work (inspect then reports Config.Image and RepoTags as
# "localhost/mcpgw-test/cat:latest").
# (Alternative: build-test-images.sh with DOCKER_HOST=<podman socket> builds straight into
# podman; `docker build` works through podman's compat API.)
# Environment:
#   MCPGW_PODMAN_SOCK=/path.sock   podman's socket (default /run/mcpgw-podman/podman.sock)
#   MCPGW_SOURCE_DOCKER_HOST=url   the engine to copy from (default unix:///var/run/docker.sock;
#                                  DOCKER_HOST is ignored, since it may point at podman)
#   MCPGW_REQUIRE_DOCKER=1         (set by CI) failures are fatal; otherwise warn and exit 0
set -euo pipefail

sock="${MCPGW_PODMAN_SOCK:-/run/mcpgw-podman/podman.sock}"
sock="${sock#unix://}"
export DOCKER_HOST="${MCPGW_SOURCE_DOCKER_HOST:-unix:///var/run/docker.sock}"

log() { printf 'load-into-podman: %s\n' "$*" >&2; }

fail() {
  if [[ "${MCPGW_REQUIRE_DOCKER:-0}" == 1 ]]; then
    printf 'load-into-podman: error: %s\n' "$*" >&2
    printf 'load-into-podman: error: MCPGW_REQUIRE_DOCKER=1, so the podman tests cannot be skipped\n' >&2
    exit 1
  fi
  log "warning: $*; tests that need these images in podman will skip"
  exit 0
}

# podman_id IMAGE: the image id podman has under that name (empty when none).
podman_id() {
  curl -fsS --max-time 10 --unix-socket "$sock" "http://localhost/images/$1/json" 2>/dev/null |
    sed -n 's/^{"Id":"\([^"]*\)".*/\1/p'
}

[[ "$(curl -fsS --max-time 3 --unix-socket "$sock" http://localhost/_ping 2>/dev/null)" == OK ]] ||
  fail "podman does not answer on unix://$sock (run tests/docker/start-podman.sh)"

images=("$@")
if ((${#images[@]} == 0)); then
  images=(mcpgw-test/cat:latest mcpgw-test/fixture:latest)
  docker image inspect mcpgw-test/everything:latest >/dev/null 2>&1 &&
    images+=(mcpgw-test/everything:latest)
fi

todo=()
for image in "${images[@]}"; do
  id="$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null)" ||
    fail "$DOCKER_HOST has no image $image (run tests/docker/build-test-images.sh first)"
  if [[ "$(podman_id "$image")" == "$id" ]]; then
    log "$image: podman has it already"
  else
    todo+=("$image")
  fi
done
((${#todo[@]})) || exit 0

log "loading ${todo[*]}"
# `docker save` and the load request are a pipeline: pipefail catches a failed save, and the
# answer of the load is checked for podman's "Loaded image" message.
answer="$(docker save "${todo[@]}" |
  curl -fsS --unix-socket "$sock" -X POST -H 'Content-Type: application/x-tar' \
    --data-binary @- http://localhost/images/load 2>&1)" ||
  fail "loading into podman failed: $answer"
[[ "$answer" == *"Loaded image"* ]] || fail "podman did not load the images: $answer"

for image in "${todo[@]}"; do
  [[ "$(podman_id "$image")" == "$(docker image inspect --format '{{.Id}}' "$image")" ]] ||
    fail "$image does not resolve in podman after loading it"
done
log "loaded: ${answer}"
