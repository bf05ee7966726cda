#!/bin/sh
# Builds the images DockerEngine's tests run, locally (no registry needed):
#   mcpgw-test/cat:latest      FROM scratch + /bin/cat and the shared libraries it needs
#   mcpgw-test/fixture:latest  FROM scratch + mcp-fixture-server and its shared libraries
# Usage: build-test-images.sh <path to the mcp-fixture-server binary>
# The docker CLI is fine here (a test script); the library itself never uses it.
set -eu

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 <path to mcp-fixture-server>" >&2
  exit 2
fi
fixture=$1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# copy_with_libs DIR BINARY DEST: BINARY goes to DIR/DEST, each library ldd lists to the same
# path under DIR (symlinks resolved).
copy_with_libs() {
  dir=$1 bin=$2 dest=$3
  mkdir -p "$dir$(dirname "$dest")"
  cp -L "$bin" "$dir$dest"
  ldd "$bin" | awk '/=> \// { print $3 } /^[[:space:]]*\// { print $1 }' | while read -r lib; do
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
echo "built mcpgw-test/cat:latest and mcpgw-test/fixture:latest"
