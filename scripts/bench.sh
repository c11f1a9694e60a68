#!/usr/bin/env bash
# What owui-bridge costs as users run it, on this machine: CPU per 1000 lines
# followed through Docker and delivered as signed webhooks, memory, test-rules
# and `run --source file:` throughput on a DEBUG-level log, and recovery after
# a receiver outage — each beside a simple alternative measured in the same
# run. Prints a Markdown table (and the raw figures as JSON).
#
# Needs Docker, python3 and the Rust toolchain; builds the static binary the
# image ships (scripts/static-rootfs.sh, five minutes the first time), the
# small test image (from Debian's busybox-static, as the tests do) and a
# 106 MB DEBUG log (benches/data/make_debug_log.py, fixed seed) when missing.
# Then takes about three minutes.
#
# Usage: scripts/bench.sh [--lines 2000] [--outage 60] [--mb 106] [--runs 3]
set -euo pipefail
cd "$(dirname "$0")/.."

lines=2000
outage=60
mb=106
runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --lines) lines=$2; shift 2 ;;
    --outage) outage=$2; shift 2 ;;
    --mb) mb=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "bench.sh: unknown argument $1 (see the comment at the top)" >&2; exit 2 ;;
  esac
done

command -v docker >/dev/null || { echo "bench.sh: docker is missing" >&2; exit 2; }
command -v python3 >/dev/null || { echo "bench.sh: python3 is missing" >&2; exit 2; }

target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
work="$target_dir/bench"
mkdir -p "$work"

# The binary users run: the static one the image ships, built the same way.
scripts/static-rootfs.sh "$work/static" >&2
binary="$work/static/rootfs/owui-bridge"

# The image the container tests use: busybox, imported (there may be no registry).
scripts/test-image.sh

log="$work/openwebui-debug-${mb}mb.log"
[ -s "$log" ] || python3 benches/data/make_debug_log.py --out "$log" --mb "$mb" >&2

python3 scripts/bench.py --binary "$binary" --repo "$PWD" \
  --log "$log" --work "$work" --lines "$lines" --outage "$outage" --runs "$runs"
