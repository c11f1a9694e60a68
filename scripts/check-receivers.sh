#!/usr/bin/env bash
# Runs the receivers of docs/verify-signatures.md (docs/examples/receiver.py,
# .js, .go) against real deliveries from owui-bridge, and checks that the doc
# shows exactly those files.
#
# For each language that is installed (python3, node, go) and each kind of
# secret (plain, whsec_…): `send-test` must arrive and be accepted; a real event
# (`run --source file:` on a captured Open WebUI upload line) must arrive with
# its data; `send-test` with a wrong secret must be rejected (401, exit 1).
#
# Usage: scripts/check-receivers.sh [path/to/owui-bridge]
#        (default: the binary scripts/build-image.sh built, else target/release/owui-bridge)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bridge=${1:-}
if [ -z "$bridge" ]; then
  for b in target/image/rootfs/owui-bridge target/release/owui-bridge; do
    [ -x "$b" ] && { bridge=$root/$b; break; }
  done
fi
[ -x "${bridge:-}" ] || { echo "check-receivers.sh: no owui-bridge binary: run scripts/build-image.sh or cargo build --release" >&2; exit 2; }

# The doc must show the files verbatim (each file's text is inside the doc).
python3 - <<'PY'
import sys
doc = open("docs/verify-signatures.md", encoding="utf-8").read()
bad = [f for f in ("receiver.py", "receiver.js", "receiver.go")
       if open("docs/examples/" + f, encoding="utf-8").read() not in doc]
if bad:
    sys.exit("docs/verify-signatures.md does not show docs/examples/%s verbatim" % ", ".join(bad))
PY

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
wait_line() { for _ in $(seq 100); do grep -q "$2" "$1" && return 0; sleep 0.1; done; return 1; }

# The bridge with a clean environment: only what a test sets.
bridge_env() { env -i PATH="$PATH" BRIDGE_LISTEN=off BRIDGE_STATE_DIR="$work/state-$RANDOM" "$@"; }

upload='2026-11-27 08:01:50.392 | INFO     | uvicorn.protocols.http.httptools_impl:send:482 - 172.18.0.1:38040 - "POST /api/v1/files/ HTTP/1.1" 200'
passed=0
failed=0
check() { # name, command…
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "  ok    $name"; else failed=$((failed + 1)); echo "  FAIL  $name"; fi
}

langs=()
command -v python3 >/dev/null && langs+=(python)
command -v node >/dev/null && langs+=(node)
command -v go >/dev/null && langs+=(go)
if ! command -v go >/dev/null; then echo "go is not installed: receiver.go not run (apt-get install golang-go)"; fi
if command -v go >/dev/null; then
  (cd "$work" && cp "$root/docs/examples/receiver.go" . && go mod init receiver >/dev/null 2>&1 && go build -o receiver-go receiver.go)
fi

for lang in "${langs[@]}"; do
  for secret in "plain-secret-$RANDOM" "whsec_$(head -c 24 /dev/urandom | base64)"; do
    port=$(free_port)
    out="$work/$lang-$port.out"
    case $lang in
      python) WEBHOOK_SECRET=$secret PORT=$port python3 docs/examples/receiver.py >"$out" 2>&1 & ;;
      node) WEBHOOK_SECRET=$secret PORT=$port node docs/examples/receiver.js >"$out" 2>&1 & ;;
      go) WEBHOOK_SECRET=$secret PORT=$port "$work/receiver-go" >"$out" 2>&1 & ;;
    esac
    pids+=($!)
    wait_port "$port" || { echo "receiver $lang did not start:"; cat "$out"; exit 1; }
    kind=${secret%%_*}; [ "$kind" = whsec ] || kind=plain
    url="http://127.0.0.1:$port/"
    echo "$lang, $kind secret:"

    check "send-test arrives and is accepted" \
      bash -c "$(declare -f bridge_env); work=$work; bridge_env WEBHOOK_URL=$url WEBHOOK_SECRET='$secret' '$bridge' send-test >/dev/null 2>&1 && grep -q '^ok bridge.test evt_' '$out'"

    printf '%s\n' "$upload" >"$work/owui-$port.log"
    # Not through bridge_env: $! must be the bridge itself, so that kill stops it.
    env -i PATH="$PATH" BRIDGE_LISTEN=off BRIDGE_STATE_DIR="$work/state-run-$port" \
      WEBHOOK_URL="$url" WEBHOOK_SECRET="$secret" BRIDGE_SINCE=1h \
      "$bridge" run --source "file:$work/owui-$port.log" >/dev/null 2>"$work/run-$port.err" &
    run_pid=$!
    pids+=($run_pid)
    check "a real event (file.uploaded) arrives with its data" \
      wait_line "$out" '^ok file.uploaded evt_[0-9a-f]* {.*"172.18.0.1"'
    kill "$run_pid" 2>/dev/null || true
    wait "$run_pid" 2>/dev/null || true

    check "a wrong secret is rejected (401, send-test exits 1)" \
      bash -c "$(declare -f bridge_env); work=$work; ! bridge_env WEBHOOK_URL=$url WEBHOOK_SECRET=wrong-secret '$bridge' send-test >/dev/null 2>&1 && grep -q '^REJECTED' '$out'"
  done
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
