#!/usr/bin/env python3
"""What owui-bridge costs as users run it, measured on this machine.

Run through scripts/bench.sh (it builds the release binary, the test image and
the DEBUG log first). Every figure comes from the real binary on a real stream:

* follow a container through Docker and deliver each of its numbered lines as
  a signed webhook to a receiver on loopback (CPU per 1000 lines, memory),
  beside a `docker logs -f | python3` one-liner doing the same;
* `test-rules` over a generated DEBUG-level Open WebUI log (lines per second,
  peak memory), beside `grep -cP` with the union of the built-in patterns;
* `run --source file:LOG --dry-run` over the same log;
* how long after a receiver comes back from an outage the next event arrives.

CPU is the scheduler's own count of time on a CPU (/proc/PID/task/*/schedstat,
in nanoseconds), summed over the process's threads: exact, unlike the tick
sampling behind `time`'s user/sys. Memory is VmRSS / VmHWM of /proc/PID/status.
Only the standard library is used.
"""

import argparse
import hashlib
import hmac
import http.server
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request

IMAGE = "owui-bridge-test/busybox:1"
SECRET = "bench-secret"


# ---- measuring a process ---------------------------------------------------

def cpu_ns(pid):
    """On-CPU time of every thread of `pid`, in nanoseconds."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def mem_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(cond, timeout, step=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


# ---- a receiver on loopback ------------------------------------------------

class Receiver:
    """A webhook receiver: counts POSTs (answered 200, or 503 while down) and
    the time of each accepted one; HEAD (a probe) is answered 405, or 503
    while down."""

    def __init__(self):
        self.accepted = []
        self.down = False
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("content-length", 0))
                self.rfile.read(n)
                with outer.lock:
                    down = outer.down
                    if not down:
                        outer.accepted.append(time.monotonic())
                self.send_response(503 if down else 200)
                self.send_header("content-length", "0")
                self.end_headers()

            def do_HEAD(self):
                self.send_response(503 if outer.down else 405)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self):
        with self.lock:
            return len(self.accepted)

    def close(self):
        self.server.shutdown()


# ---- the bridge ------------------------------------------------------------

def bridge(binary, args, env, log):
    full = {"PATH": os.environ.get("PATH", ""), "BRIDGE_LISTEN": "off"}
    full.update(env)
    return subprocess.Popen([binary] + args, env=full, stdout=subprocess.DEVNULL,
                            stderr=open(log, "w"))


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def docker(*args, check=True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def numbered_container(name, lines, every):
    """A container that prints `line N` every `every` seconds in the shape of
    Open WebUI's log lines (so each is a record with the built-in pack), then idles."""
    docker("rm", "-f", name, check=False)
    script = (f"sleep 2; i=0; while [ $i -lt {lines} ]; do "
              f"echo \"2026-11-27 08:01:50.392 | INFO     | bench:main:1 - line $i\"; "
              f"i=$((i+1)); sleep {every}; done; sleep 100000")
    docker("run", "-d", "--name", name, IMAGE, "sh", "-c", script)


# ---- the measurements ------------------------------------------------------

def follow_and_deliver(binary, work, lines):
    """CPU and memory of the bridge following a container and delivering each
    numbered line as a signed webhook (the built-in pack loaded too)."""
    rules = os.path.join(work, "numbered.toml")
    with open(rules, "w") as f:
        f.write('[[rule]]\nid = "bench.line"\nevent = "bench.line"\nmatch = \'bench:main:1 - line (?P<n>\\d+)$\'\n')
    rx = Receiver()
    name = f"owui-bridge-bench-{os.getpid()}"
    state = os.path.join(work, "state-follow")
    subprocess.run(["rm", "-rf", state])
    p = bridge(binary, ["run"], {
        "WEBHOOK_URL": rx.url, "WEBHOOK_SECRET": SECRET, "BRIDGE_RULES": rules,
        "OPENWEBUI_CONTAINER": name, "BRIDGE_STATE_DIR": state,
    }, os.path.join(work, "follow.log"))
    try:
        time.sleep(1.0)
        numbered_container(name, lines, 0.004)
        c0 = cpu_ns(p.pid)
        t0 = time.monotonic()
        if not wait_until(lambda: rx.count() >= lines, 120):
            raise SystemExit(f"bench: only {rx.count()} of {lines} lines delivered; see {work}/follow.log")
        cpu = cpu_ns(p.pid) - c0
        wall = time.monotonic() - t0
        rss, hwm = mem_kib(p.pid, "VmRSS"), mem_kib(p.pid, "VmHWM")
        time.sleep(3)
        steady = mem_kib(p.pid, "VmRSS")
    finally:
        stop(p)
        docker("rm", "-f", name, check=False)
        rx.close()
    return {"cpu_s": cpu / 1e9, "wall_s": wall, "rss_kib": rss, "hwm_kib": hwm, "steady_kib": steady}


ONE_LINER = r'''
import sys, re, json, hmac, hashlib, urllib.request
url, key = sys.argv[1], sys.argv[2].encode()
pat = re.compile(r"bench:main:1 - line (\d+)$")
for line in sys.stdin:
    m = pat.search(line.rstrip("\n"))
    if m:
        body = json.dumps({"event": "bench.line", "data": {"n": m.group(1)}}).encode()
        sig = hmac.new(key, body, hashlib.sha256).hexdigest()
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", "X-Webhook-Signature": sig})
        urllib.request.urlopen(req).read()
'''


def one_liner(work, lines):
    """The same with `docker logs -f | python3` (CPU of both processes)."""
    rx = Receiver()
    name = f"owui-bridge-bench-py-{os.getpid()}"
    numbered_container(name, lines, 0.004)
    logs = subprocess.Popen(["docker", "logs", "-f", name], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    py = subprocess.Popen([sys.executable, "-c", ONE_LINER, rx.url, SECRET], stdin=logs.stdout)
    try:
        c0 = cpu_ns(logs.pid) + cpu_ns(py.pid)
        wait_until(lambda: rx.count() >= lines, 120)
        cpu = cpu_ns(logs.pid) + cpu_ns(py.pid) - c0
    finally:
        py.kill()
        logs.kill()
        docker("rm", "-f", name, check=False)
        rx.close()
    return {"cpu_s": cpu / 1e9}


def timed(cmd, stdout=subprocess.DEVNULL):
    """Wall time, CPU and peak RSS of a command that runs to its end. The
    peak is VmHWM read every few milliseconds (rusage's ru_maxrss would count
    the forked copy of this Python process before the exec)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.DEVNULL)
    hwm = 0
    while True:
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        try:
            hwm = max(hwm, mem_kib(p.pid, "VmHWM"))
        except (FileNotFoundError, ProcessLookupError):
            pass
        time.sleep(0.003)
    p.returncode = status
    wall = time.monotonic() - t0
    cpu = usage.ru_utime + usage.ru_stime
    if status:
        raise SystemExit(f"bench: {cmd[0]} failed ({status})")
    return {"wall_s": wall, "cpu_s": cpu, "hwm_kib": hwm}


def test_rules(binary, log):
    return timed([binary, "test-rules", log])


def grep_union(repo, log):
    """`grep -cP` with every built-in pattern but the DEBUG payload one (PCRE
    gives up on it: backtracking limit; `grep -E` cannot read the syntax)."""
    pats = []
    for name in ("openwebui.toml", "docker.toml"):
        with open(os.path.join(repo, "rules", name), "rb") as f:
            for r in tomllib.load(f).get("rule", []):
                if r["id"] != "owui.chat.payload":
                    p = re.sub(r"\(\?P<[A-Za-z_]\w*>", "(?:", r["match"])
                    pats.append(p.replace("(?-u:\\b)", "\\b"))
    union = "|".join(f"(?:{p})" for p in pats)
    # Not to /dev/null: GNU grep stops at the first match when it writes there.
    with open(log + ".grep-count", "w") as out:
        return timed(["grep", "-cP", union, log], stdout=out)


def dry_run(binary, log, lines, work):
    """`run --source file:LOG --dry-run` until every line is read (its
    /metrics says so), with the built-in pack."""
    port = free_port()
    t0 = time.monotonic()
    p = subprocess.Popen([binary, "run", "--source", f"file:{log}", "--dry-run"],
                         env={"PATH": os.environ.get("PATH", ""), "BRIDGE_SINCE": "24h",
                              "BRIDGE_LISTEN": f"127.0.0.1:{port}", "LOG_LEVEL": "warn",
                              "BRIDGE_STATE_DIR": os.path.join(work, "state-dry")},
                         stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "dry.log"), "w"))

    def done():
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read().decode()
        except OSError:
            return False
        m = re.search(r"^owui_bridge_lines_total (\d+)$", text, re.M)
        return m is not None and int(m.group(1)) >= lines

    try:
        ok = wait_until(done, 300, step=0.01)
        wall = time.monotonic() - t0
        cpu, hwm = cpu_ns(p.pid) / 1e9, mem_kib(p.pid, "VmHWM")
    finally:
        stop(p)
    if not ok:
        raise SystemExit("bench: the dry run did not read the whole log")
    return {"wall_s": wall, "cpu_s": cpu, "hwm_kib": hwm}


def recovery(binary, work, outage):
    """Seconds from a receiver answering again, after `outage` seconds down,
    to the next event arriving."""
    rx = Receiver()
    rx.down = True
    log = os.path.join(work, "recovery.log")
    with open(log, "w") as f:
        f.write('2026-11-27 08:01:50.392 | INFO     | uvicorn.protocols.http.httptools_impl:send:482 - '
                '203.0.113.1:0 - "POST /api/v1/files/ HTTP/1.1" 200\n')
    state = os.path.join(work, "state-recovery")
    subprocess.run(["rm", "-rf", state])
    p = bridge(binary, ["run", "--source", f"file:{log}"], {
        "WEBHOOK_URL": rx.url, "WEBHOOK_SECRET": SECRET, "BRIDGE_SINCE": "24h",
        "BRIDGE_STATE_DIR": state}, os.path.join(work, "recovery-bridge.log"))
    try:
        time.sleep(outage)
        back = time.monotonic()
        with rx.lock:
            rx.down = False
        wait_until(lambda: rx.count() >= 1, 700, step=0.05)
        took = rx.accepted[0] - back if rx.accepted else float("nan")
    finally:
        stop(p)
        rx.close()
    return {"after_s": took}


def median(runs):
    """The run with the median wall time (its other figures with it)."""
    return sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} vCPU {model}, Linux {platform.release()}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--log", required=True, help="the DEBUG-level log for test-rules and the dry run")
    ap.add_argument("--work", required=True)
    ap.add_argument("--lines", type=int, default=2000)
    ap.add_argument("--outage", type=float, default=60)
    ap.add_argument("--runs", type=int, default=3, help="runs of the quick measurements; the median is shown")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    with open(a.log, "rb") as f:
        total = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    size_mb = os.path.getsize(a.log) / 1e6

    print(f"# owui-bridge benchmark, {time.strftime('%Y-%m-%d')}, {machine()}", flush=True)
    follow = follow_and_deliver(a.binary, a.work, a.lines)
    py = one_liner(a.work, a.lines)
    tr = median([test_rules(a.binary, a.log) for _ in range(a.runs)])
    gr = median([grep_union(a.repo, a.log) for _ in range(a.runs)])
    dr = median([dry_run(a.binary, a.log, total, a.work) for _ in range(a.runs)])
    rec = recovery(a.binary, a.work, a.outage)

    per_k = 1000 / a.lines
    rows = [
        ("follow a container, deliver each of "
         f"{a.lines} lines (4 ms apart) as a signed webhook: CPU per 1000 lines",
         f"{follow['cpu_s'] * per_k:.3f} s",
         f"`docker logs -f \\| python3` one-liner: {py['cpu_s'] * per_k:.3f} s"),
        ("… memory while doing that (VmRSS at the end / 3 s later / peak)",
         f"{follow['rss_kib'] / 1024:.1f} / {follow['steady_kib'] / 1024:.1f} / {follow['hwm_kib'] / 1024:.1f} MiB", ""),
        (f"`test-rules` over a {size_mb:.0f} MB, {total / 1000:.0f}k-line DEBUG log (whole process)",
         f"{total / tr['wall_s'] / 1e6:.2f} M lines/s, peak {tr['hwm_kib'] / 1024:.1f} MiB",
         f"`grep -cP` with the pack's patterns: {total / gr['wall_s'] / 1e6:.2f} M lines/s"),
        ("`run --source file:` over the same log (`--dry-run`, whole process)",
         f"{total / dr['wall_s'] / 1e6:.2f} M lines/s, peak {dr['hwm_kib'] / 1024:.1f} MiB", ""),
        (f"receiver back after a {a.outage:.0f} s outage → next delivery",
         f"{rec['after_s']:.1f} s", ""),
    ]
    print()
    print("| what | owui-bridge | simple alternative, same run |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    print()
    print(json.dumps({"follow": follow, "one_liner": py, "test_rules": tr, "grep": gr,
                      "dry_run": dr, "recovery": rec, "lines": total}))


if __name__ == "__main__":
    main()
