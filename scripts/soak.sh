#!/usr/bin/env bash
# The chaos soak (issue: proof on its worst day). Builds the release binary and
# the small test image, then runs scripts/soak.py: a container printing a
# numbered sequence (steady, bursts, 32 KiB lines, tracebacks) followed through
# the real Docker Engine while the bridge is killed -9, the container restarted
# and recreated, the Docker stream cut, the receivers taken down or answering
# 429/500, and the state disk (a tmpfs) filled. Prints lines printed, expected/
# delivered/lost/redelivered/order breaks per sink, peak RSS, CPU and the faults.
#
# Usage: scripts/soak.sh [MINUTES, default 10] [--seed N] [--every SECONDS] [--faults kill9,disk_full,…]
# Needs root (it mounts a tmpfs for the state directory), Docker, python3,
# /bin/busybox (apt-get install busybox-static). Exit 1 on any loss.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=10
if [ $# -gt 0 ] && [[ $1 != --* ]]; then minutes=$1; shift; fi
[ "$(id -u)" = 0 ] || { echo "soak.sh: run as root (it mounts a small tmpfs to fill the state disk)" >&2; exit 2; }
command -v docker >/dev/null || { echo "soak.sh: docker is missing" >&2; exit 2; }

cargo build --release --locked --bin owui-bridge >&2
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')

scripts/test-image.sh

exec python3 scripts/soak.py --binary "$target_dir/release/owui-bridge" --minutes "$minutes" "$@"
