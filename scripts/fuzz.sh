#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo fuzz, libFuzzer) of what reads untrusted bytes:
#
#   rule_file      a rule file: TOML, regexes, templates, durations, keys
#   docker_stream  Docker log frames → frame decoder → record assembler → built-in rules
#   inbound_json   the body of POST /api/v1/webhook
#   dotenv         a .env as docker compose reads it
#   chat_render    Discord, Slack, Telegram messages, checked with the platforms' own rules
#
# Usage: scripts/fuzz.sh [SECONDS per target, default 600] [TARGET…]   (default: all five)
# Runs as many targets at once as there are cores. Seeds are in fuzz/seeds/<target>
# (committed); what the fuzzer learns goes to fuzz/corpus/<target> and crashes to
# fuzz/artifacts/<target> (both ignored by git). A crash stops its target and is
# printed with the command that replays it; fix it and add a regression test to
# `cargo test` that feeds the same input.
#
# Needs the nightly toolchain (rustup toolchain install nightly) and cargo-fuzz
# (cargo install cargo-fuzz --locked).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(rule_file docker_stream inbound_json dotenv chat_render)

cargo +nightly --version >/dev/null 2>&1 || { echo "fuzz.sh: the nightly toolchain is missing: rustup toolchain install nightly" >&2; exit 2; }
cargo fuzz --version >/dev/null 2>&1 || { echo "fuzz.sh: cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2; exit 2; }

cargo +nightly fuzz build -O >&2
jobs=$(nproc)
mkdir -p ../target/fuzz-logs
declare -A max_len=([docker_stream]=262144 [rule_file]=65536 [chat_render]=65536 [inbound_json]=65536 [dotenv]=16384)

run_one() {
  local t=$1
  mkdir -p "corpus/$t" "artifacts/$t"
  # -rss_limit_mb: memory must stay bounded; a leak or an unbounded buffer ends the run as a crash.
  cargo +nightly fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$secs" -max_len="${max_len[$t]}" -rss_limit_mb=1024 -timeout=10 \
    -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"../target/fuzz-logs/$t.log" 2>&1
}

status=0
pids=()
names=()
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 1; done
  echo "== $t: ${secs} s" >&2
  run_one "$t" &
  pids+=($!)
  names+=("$t")
done
printf '%-14s %-6s %12s %10s %8s\n' target result runs execs/s corpus
for i in "${!pids[@]}"; do
  t=${names[$i]}
  if wait "${pids[$i]}"; then result=ok; else result=CRASH; status=1; fi
  log="../target/fuzz-logs/$t.log"
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(find "corpus/$t" -type f | wc -l)
  printf '%-14s %-6s %12s %10s %8s\n' "$t" "$result" "${runs:-?}" "${rate:-?}" "$corpus"
  if [ "$result" = CRASH ]; then
    grep -E "panicked|ERROR: libFuzzer|SUMMARY|Test unit written" "$log" | head -8 >&2
    echo "   replay: (cd fuzz && cargo +nightly fuzz run -O $t artifacts/$t/<crash file>)" >&2
  fi
done
exit $status
