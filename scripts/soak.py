#!/usr/bin/env python3
"""The chaos soak (scripts/soak.sh runs it): owui-bridge follows a container
through the real Docker Engine and delivers to three receivers (signed webhook,
Discord, Slack stand-ins on loopback) while faults are injected at random
moments, one at a time:

  kill9             the bridge is killed with SIGKILL and started again
  container_restart docker restart
  container_recreate docker stop, rm, run again with the same name
  stream_cut        every connection to the Docker API is cut (a TCP proxy in
                    front of the socket closes them)
  receiver_down     the receivers' port refuses connections for 10-30 s
  receiver_429      every request gets 429 with Retry-After for 10-20 s
  receiver_500      every request gets 500 for 10-20 s
  disk_full         the state directory's filesystem (a small tmpfs) is filled
                    for 15-30 s, then freed

The container prints `n=<N> <kind>` lines, numbered on, across restarts and
recreations: steady, in bursts, 32 KiB lines and multi-line tracebacks. What it
printed is read back from Docker (`docker logs`) before each removal and at the
end: that is what must arrive. At the end the receivers answer again and the
bridge gets time to drain; then the figures are printed (Markdown and JSON).

Exit status 1 when anything the container printed did not reach a sink, an id
named two records, a sink got lines out of order, or more than 1 % were
delivered twice.
"""

import argparse
import hashlib
import hmac
import http.server
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SECRET = "soak-secret"
IMAGE = "owui-bridge-test/busybox:1"
SINKS = ("webhook", "discord", "slack")
CHAT_RE = re.compile(r"chat (\d+) tb")
CHAT_KINDS = ("tb",)

# The container: numbers are taken before they are printed (a line cut off by a
# kill is then never printed, rather than printed twice with one number).
EMITTER = r"""
trap 'exit 0' TERM INT
long=$(head -c 32768 /dev/zero | tr '\0' x)
n=$(cat /state/next 2>/dev/null || echo 1)
take() { n=$(cat /state/next 2>/dev/null || echo 1); echo $((n + 1)) >/state/next; }
while :; do
  i=0
  while [ $i -lt 40 ]; do take; echo "n=$n steady"; sleep 0.1; i=$((i + 1)); done
  i=0
  while [ $i -lt 60 ]; do take; echo "n=$n burst"; i=$((i + 1)); done
  take; echo "n=$n long $long"
  take; printf 'n=%s tb Traceback (most recent call last):\n  File "app.py", line 1, in <module>\n    main()\nValueError: soak\n' "$n"
  take; echo "n=$n err" >&2
done
"""

RULES = """
[record]
start = '^n='
flush_after = "200ms"
max_lines = 50

[[rule]]
id = "soak.line"
event = "soak.line"
match = '^n=(?P<n>\\d+) (?P<kind>\\w+)'
[rule.message]
text = "line {n} {kind}"

# Slack asks for one message a second: the chat sinks get the tracebacks only
# (one in about a hundred lines), so they can keep up and catch up after faults.
[[rule]]
id = "soak.chat"
event = "soak.chat"
match = '^n=(?P<n>\\d+) (?P<kind>tb) '
[rule.message]
text = "chat {n} {kind}"
"""


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def docker(*args, check=True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- receivers ---------------------------------------------------------------


class Receivers:
    """One HTTP server for the three sinks; records (sink, n, id, time)."""

    def __init__(self, port):
        self.port = port
        self.lock = threading.Lock()
        self.got = []  # (sink, n, id)
        self.bad = []  # what a real receiver would refuse
        self.mode = "ok"
        self.answered = {"ok": 0, "429": 0, "500": 0}
        self.server = None
        self.start()

    def start(self):
        rx = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                mode = rx.mode
                if mode != "ok":
                    code = int(mode)
                    extra = {"Retry-After": "2"} if code == 429 else {}
                    with rx.lock:
                        rx.answered[mode] += 1
                    return self.reply(code, b'{"message":"soak fault"}', extra)
                sink = ("discord" if self.path.startswith("/api/webhooks/")
                        else "slack" if self.path.startswith("/services/") else "webhook")
                event_id = None
                if sink == "webhook":
                    sig = self.headers.get("X-Webhook-Signature", "")
                    want = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                    if not hmac.compare_digest(sig.removeprefix("sha256="), want):
                        with rx.lock:
                            rx.bad.append("bad signature")
                        return self.reply(401, b"bad signature")
                    ev = json.loads(body)
                    if ev.get("event") != "soak.line":
                        return self.reply(200, b"ok")
                    event_id, n = ev["id"], int(ev["data"]["n"])
                else:
                    text = body.decode("utf-8", "replace")
                    m = CHAT_RE.search(text)
                    if not m:
                        with rx.lock:
                            rx.bad.append(f"{sink}: not a soak message: {text[:200]}")
                        return self.reply(400, b"not a soak message")
                    n = int(m.group(1))
                with rx.lock:
                    rx.got.append((sink, n, event_id))
                if sink == "discord":
                    return self.reply(204, b"")
                self.reply(200, b"ok")

            def reply(self, code, body, headers=None):
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# ---- a cuttable proxy in front of the Docker socket ---------------------------


class DockerProxy:
    def __init__(self, port, socket_path="/var/run/docker.sock"):
        self.port, self.path = port, socket_path
        self.conns = set()
        self.lock = threading.Lock()
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(64)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            c, _ = self.listener.accept()
            u = socket.socket(socket.AF_UNIX)
            u.connect(self.path)
            with self.lock:
                self.conns.update((c, u))
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self.pipe, args=(a, b), daemon=True).start()

    def pipe(self, a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            conns, self.conns = self.conns, set()
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        return len(conns) // 2


# ---- the bridge process --------------------------------------------------------


class Bridge:
    def __init__(self, binary, env, logdir):
        self.binary, self.env, self.logdir = binary, env, logdir
        self.proc = None
        self.starts = 0
        self.cpu_s = 0.0  # of processes that have ended
        self.peak_kib = 0
        self.start()
        threading.Thread(target=self.sample, daemon=True).start()

    def start(self):
        self.starts += 1
        out = open(os.path.join(self.logdir, f"bridge-{self.starts}.log"), "w")
        self.proc = subprocess.Popen([self.binary, "run", "--source", "docker"], env=self.env,
                                     stdout=out, stderr=out, stdin=subprocess.DEVNULL)

    def cpu_now(self):
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError):
            return 0.0

    def sample(self):
        while True:
            try:
                with open(f"/proc/{self.proc.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            self.peak_kib = max(self.peak_kib, int(line.split()[1]))
            except OSError:
                pass
            time.sleep(0.5)

    def kill9(self):
        self.cpu_s += self.cpu_now()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self):
        cpu = self.cpu_now()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.cpu_s += cpu
        return self.proc.returncode

    def logs(self):
        text = ""
        for i in range(1, self.starts + 1):
            with open(os.path.join(self.logdir, f"bridge-{i}.log"), errors="replace") as f:
                text += f.read()
        return text


# ---- the container ---------------------------------------------------------------


def stamp_key(stamp):
    """Docker's RFC 3339 time (UTC, trailing zeros of the fraction cut) as a sortable key."""
    whole, _, frac = stamp.rstrip("Z").partition(".")
    return whole, frac.ljust(9, "0")


class Emitter:
    def __init__(self, name, state):
        self.name, self.state = name, state
        self.printed = []  # n of every line printed by removed instances
        self.run()

    def run(self):
        docker("run", "-d", "--name", self.name, "-v", f"{self.state}:/state",
               "--entrypoint", "/bin/sh", IMAGE, "-c", EMITTER)

    def read_printed(self):
        # stdout and stderr reach Docker through two pipes, so Docker's order
        # (its timestamps) is the order the bridge can keep, not the print order.
        out = docker("logs", "--timestamps", self.name, check=False)
        stamped = []
        for line in out.stdout.splitlines() + out.stderr.splitlines():
            stamp, _, text = line.partition(" ")
            if text.startswith("n="):
                n, kind = text[2:].split(" ", 2)[:2]
                stamped.append((stamp, int(n), kind))
        stamped.sort(key=lambda x: stamp_key(x[0]))
        return [(n, kind) for _, n, kind in stamped]

    def recreate(self):
        docker("stop", "-t", "2", self.name)
        time.sleep(3)  # the bridge reads the stream to its end
        self.printed += self.read_printed()
        docker("rm", "-f", self.name)
        self.run()

    def all_printed(self):
        return self.printed + self.read_printed()

    def remove(self):
        docker("rm", "-f", self.name, check=False)


# ---- faults ------------------------------------------------------------------------


def inject(kind, ctx):
    rng, rx, bridge = ctx["rng"], ctx["rx"], ctx["bridge"]
    if kind == "kill9":
        bridge.kill9()
        time.sleep(rng.uniform(0, 3))
        bridge.start()
        return "killed -9, started again"
    if kind == "container_restart":
        docker("restart", "-t", "2", ctx["emitter"].name)
        return "docker restart"
    if kind == "container_recreate":
        ctx["emitter"].recreate()
        return "stopped, removed, run again"
    if kind == "stream_cut":
        return f"cut {ctx['proxy'].cut()} Docker API connections"
    if kind == "receiver_down":
        secs = rng.uniform(10, 30)
        rx.stop()
        time.sleep(secs)
        rx.start()
        return f"receivers down {secs:.0f} s"
    if kind in ("receiver_429", "receiver_500"):
        secs = rng.uniform(10, 20)
        rx.mode = kind[-3:]
        time.sleep(secs)
        rx.mode = "ok"
        return f"{kind[-3:]} for {secs:.0f} s"
    if kind == "disk_full":
        # The receivers go down too: the queue then has to grow, so the
        # outbox needs new space (once its file has grown, it reuses its own
        # freed pages, and a full disk alone would stop nothing).
        secs = rng.uniform(15, 30)
        filler = os.path.join(ctx["state_mount"], "filler")
        st = os.statvfs(ctx["state_mount"])
        with open(filler, "wb") as f:
            try:
                f.write(b"\0" * (st.f_bavail * st.f_frsize))
            except OSError:
                pass
        rx.stop()
        time.sleep(secs)
        os.remove(filler)
        rx.start()
        return f"state disk full (and receivers down) {secs:.0f} s"
    raise ValueError(kind)


FAULTS = ["kill9", "container_restart", "container_recreate", "stream_cut",
          "receiver_down", "receiver_429", "receiver_500", "disk_full"]


# ---- the verdict --------------------------------------------------------------------


def expected_for(sink, printed):
    if sink == "webhook":
        return {n for n, _ in printed}
    return {n for n, kind in printed if kind in CHAT_KINDS}


def verdict(printed, got, kills):
    numbers = [n for n, _ in printed]
    report = {"printed_lines": len(printed), "printed_twice": len(numbers) - len(set(numbers))}
    ok = bool(printed) and report["printed_twice"] == 0
    for sink in SINKS:
        expected = expected_for(sink, printed)
        mine = [(n, i) for s, n, i in got if s == sink]
        ns = [n for n, _ in mine]
        delivered = set(ns)
        lost = sorted(expected - delivered)
        unexpected = sorted(delivered - expected)
        redelivered = len(ns) - len(delivered)
        # An order break: a line delivered for the first time after one that
        # came later in Docker's log of the same stream. Across stdout and
        # stderr the bridge keeps no order: each stream's records are assembled
        # on their own, and a record ends when the next one starts on its stream
        # or after flush_after (README, "Order").
        position = {n: i for i, (n, _) in enumerate(printed)}
        stream_of = {n: ("stderr" if kind == "err" else "stdout") for n, kind in printed}
        seen, top, breaks, break_first = set(), {}, 0, []
        for n in ns:
            if n in seen or n not in position:
                continue
            seen.add(n)
            stream = stream_of[n]
            if position[n] < top.get(stream, -1):
                breaks += 1
                if len(break_first) < 10:
                    break_first.append(f"{printed[position[n]]} after {printed[top[stream]]}")
            top[stream] = max(top.get(stream, -1), position[n])
        reused = 0
        if sink == "webhook":
            by_id = {}
            for n, i in mine:
                by_id.setdefault(i, set()).add(n)
            reused = sum(1 for v in by_id.values() if len(v) > 1)
        report[sink] = {
            "expected": len(expected), "delivered": len(delivered), "lost": len(lost),
            "lost_first": lost[:10], "unexpected": len(unexpected), "redelivered": redelivered,
            "redelivered_pct": round(100 * redelivered / max(1, len(delivered)), 3),
            "order_breaks": breaks, "order_breaks_first": break_first, "ids_reused": reused,
        }
        # Each kill -9 may cut one delivery per sink after the receiver took it
        # and before the outbox heard so; that one comes again with its id.
        allowed = max(0.01 * len(delivered), kills)
        report[sink]["redelivered_allowed"] = round(allowed, 1)
        if lost or unexpected or breaks or reused or redelivered > allowed:
            ok = False
    return ok, report


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--every", type=float, default=30, help="mean seconds between faults")
    ap.add_argument("--drain", type=float, default=600, help="most seconds to wait for the end")
    ap.add_argument("--state-mb", type=int, default=64)
    ap.add_argument("--faults", default=",".join(FAULTS), help="which faults, comma-separated")
    args = ap.parse_args()

    chosen = [f.strip() for f in args.faults.split(",") if f.strip()]
    unknown = sorted(set(chosen) - set(FAULTS))
    if unknown or not chosen:
        sys.exit(f"soak: unknown fault {', '.join(unknown)}; choose from {', '.join(FAULTS)}")
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="owui-soak-")
    state_mount = os.path.join(work, "state")
    emitter_state = os.path.join(work, "emitter")
    os.makedirs(state_mount)
    os.makedirs(emitter_state)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={args.state_mb}m", "tmpfs", state_mount], check=True)
    rules = os.path.join(work, "rules.toml")
    with open(rules, "w") as f:
        f.write(RULES)
    name = f"owui-soak-{os.getpid()}"
    rx_port, proxy_port, listen_port = free_port(), free_port(), free_port()
    rx = Receivers(rx_port)
    proxy = DockerProxy(proxy_port)
    emitter = Emitter(name, emitter_state)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DOCKER_HOST": f"tcp://127.0.0.1:{proxy_port}",
        "OPENWEBUI_CONTAINER": name,
        "BRIDGE_RULES": rules,
        "BRIDGE_STATE_DIR": state_mount,
        "BRIDGE_SINCE": "1h",
        "BRIDGE_LISTEN": f"127.0.0.1:{listen_port}",
        "WEBHOOK_URL": f"http://127.0.0.1:{rx_port}/hook",
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_EVENTS": "soak.line",
        "DISCORD_WEBHOOK_URL": f"http://127.0.0.1:{rx_port}/api/webhooks/1/soak",
        "DISCORD_EVENTS": "soak.chat",
        "SLACK_WEBHOOK_URL": f"http://127.0.0.1:{rx_port}/services/T0/B0/soak",
        "SLACK_EVENTS": "soak.chat",
        "WEBHOOK_TIMEOUT": "5",
    }
    bridge = Bridge(args.binary, env, work)
    ctx = {"rng": rng, "rx": rx, "bridge": bridge, "emitter": emitter, "proxy": proxy,
           "state_mount": state_mount}
    faults = []
    log(f"soak: {args.minutes} min, seed {args.seed}, work {work}")
    end = time.time() + args.minutes * 60
    try:
        while time.time() < end:
            time.sleep(min(rng.expovariate(1 / args.every), max(0, end - time.time())))
            if time.time() >= end:
                break
            kind = rng.choice(chosen)
            what = inject(kind, ctx)
            faults.append(kind)
            log(f"{kind}: {what}")
        docker("stop", "-t", "2", name)
        log("faults over; the container stopped; waiting for every sink to have every line")
        printed = emitter.all_printed()
        deadline = time.time() + args.drain
        started_drain = time.time()
        while time.time() < deadline:
            with rx.lock:
                got = list(rx.got)
            if all(expected_for(sink, printed) <= {n for s, n, _ in got if s == sink}
                   for sink in SINKS):
                break
            time.sleep(1)
        drain_s = time.time() - started_drain
        time.sleep(2)  # late redeliveries count too
        with rx.lock:
            got = list(rx.got)
        code = bridge.terminate()
        ok, report = verdict(printed, got, faults.count("kill9"))
        logs = bridge.logs()
        report.update({
            "minutes": args.minutes, "seed": args.seed, "drain_s": round(drain_s, 1),
            "faults": {k: faults.count(k) for k in FAULTS},
            "bridge_starts": bridge.starts, "bridge_exit": code,
            "peak_rss_mib": round(bridge.peak_kib / 1024, 1), "cpu_s": round(bridge.cpu_s, 1),
            "cpu_s_per_1000_lines": round(1000 * bridge.cpu_s / max(1, len(printed)), 3),
            "answered_429": rx.answered["429"], "answered_500": rx.answered["500"],
            "receiver_refusals": rx.bad[:5],
            "problems": [],
            "panics": logs.count("panicked"),
            "disk_full_messages": logs.count("cannot write to the state directory"),
            "disk_recovered_messages": logs.count("writing to the state directory again"),
        })
        # A full disk that stopped writing must be said, and its end too
        # (a bridge killed while the disk is full may not get to say the end).
        said, recovered = report["disk_full_messages"], report["disk_recovered_messages"]
        if report["faults"]["disk_full"] and not said:
            report["problems"].append("the state disk was full and the bridge never said it could not write")
        if said > recovered + report["faults"]["kill9"]:
            report["problems"].append(f"could not write said {said} times, writing again {recovered}")
        if report["panics"]:
            report["problems"].append("panics in the bridge's log")
        if rx.bad:
            report["problems"].append("receivers refused what a real one would")
        if report["problems"]:
            ok = False
        print_report(report, ok)
        return 0 if ok else 1
    finally:
        emitter.remove()
        if bridge.proc.poll() is None:
            bridge.proc.kill()
        subprocess.run(["umount", state_mount], check=False)
        log(f"the bridge's logs are kept in {work} (bridge-*.log)")


def print_report(r, ok):
    print(f"## soak: {r['minutes']} min, seed {r['seed']} — {'PASS' if ok else 'FAIL'}\n")
    print(f"lines printed: {r['printed_lines']}; faults: "
          + ", ".join(f"{k} {v}" for k, v in r["faults"].items() if v)
          + f"; bridge started {r['bridge_starts']} times\n")
    print("| sink | expected | delivered | lost | ids reused | redelivered | order breaks |")
    print("|---|---|---|---|---|---|---|")
    for s in SINKS:
        x = r[s]
        print(f"| {s} | {x['expected']} | {x['delivered']} | {x['lost']} | {x['ids_reused']} | "
              f"{x['redelivered']} ({x['redelivered_pct']} %) | {x['order_breaks']} |")
    print(f"\npeak RSS {r['peak_rss_mib']} MiB; CPU {r['cpu_s']} s "
          f"({r['cpu_s_per_1000_lines']} s per 1000 lines, faults and retries included); "
          f"drained {r['drain_s']} s after the faults; 429 answered {r['answered_429']}, "
          f"500 answered {r['answered_500']}; could not write said {r['disk_full_messages']} times, "
          f"writing again {r['disk_recovered_messages']}; panics {r['panics']}\n")
    for p in r["problems"]:
        print(f"- problem: {p}")
    print("```json")
    print(json.dumps(r, indent=1))
    print("```")


if __name__ == "__main__":
    sys.exit(main())
