#!/usr/bin/env bash
# Makes the small image the container tests, bench.sh and soak.sh run
# (owui-bridge-test/busybox:1) when it is missing: Debian's static busybox,
# imported with `docker import` — there may be no registry to pull from.
# tests/support/docker.rs builds the same image the same way.
set -euo pipefail
image=owui-bridge-test/busybox:1
docker image inspect "$image" >/dev/null 2>&1 && exit 0
[ -x /bin/busybox ] || { echo "test-image.sh: /bin/busybox is missing: apt-get install busybox-static" >&2; exit 2; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin"
cp /bin/busybox "$root/bin/busybox"
for tool in sh echo sleep cat printf seq head tr; do ln -s busybox "$root/bin/$tool"; done
tar -C "$root" -c . | docker import - "$image" >/dev/null
