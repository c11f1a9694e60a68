//! The Docker source against the real Docker Engine: a container that prints
//! numbered lines (stdout and stderr, some over 16 KiB, some multi-line), and
//! faults — bridge `kill -9`, container restart, stop and start, removal and
//! recreation under the same name, streams cut while the container runs.
//! Every test compares what the container really printed (`docker logs`) with
//! what the receiver got: every line's event, and no id twice.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::support::bridge::{Running, Scratch};
use crate::support::docker::{unique, Container, SocketProxy};
use crate::support::receiver::{Received, Receiver};

const SECRET: &str = "docker-test-secret";
const RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/rules/numbered.toml"
);

/// Prints `n=<N> …` up to `end`, one line per `pace` seconds, continuing from
/// /state/n after a restart. Every 10th line is 20 000 bytes long (Docker
/// splits it into 16 KiB frames), every 7th has two continuation lines, even
/// ones go to stderr.
fn script(end: u32, pace: &str) -> String {
    format!(
        r#"trap 'exit 0' TERM
n=$(cat /state/n 2>/dev/null || echo 0)
while [ $n -lt {end} ]; do
  n=$((n+1))
  if [ $((n % 10)) -eq 0 ]; then echo "n=$n long $(head -c 20000 /dev/zero | tr '\0' x)"
  elif [ $((n % 7)) -eq 0 ]; then printf 'n=%d multi\n  cont a\n  cont b\n' $n
  elif [ $((n % 2)) -eq 0 ]; then echo "n=$n err" >&2
  else echo "n=$n out"; fi
  echo $n > /state/n
  sleep {pace}
done
sleep 1000 & wait"#
    )
}

fn numbered(state: &std::path::Path, name: &str, end: u32, pace: &str) -> Container {
    let mount = format!("{}:/state", state.display());
    Container::run(name, &["-v", &mount], &script(end, pace))
}

/// The n of every `n=` line in a container's output.
fn printed(logs: &str) -> Vec<u32> {
    logs.lines()
        .filter_map(|l| l.strip_prefix("n="))
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect()
}

fn bridge(
    s: &Scratch,
    rx: &Receiver,
    container: &str,
    extra: &[(&str, &str)],
    log: &str,
) -> Running {
    let url = rx.url();
    let mut env = vec![
        ("WEBHOOK_URL", url.as_str()),
        ("WEBHOOK_SECRET", SECRET),
        ("OPENWEBUI_CONTAINER", container),
        ("BRIDGE_SINCE", "1h"),
        ("BRIDGE_RULES", RULES),
        ("WEBHOOK_TIMEOUT", "3"),
    ];
    env.extend_from_slice(extra);
    s.spawn(&["run", "--source", "docker"], &env, log)
}

fn lines_of(got: &[Received]) -> Vec<&Received> {
    got.iter().filter(|r| r.event() == "test.line").collect()
}

/// Waits until the receiver has `n` distinct test.line ids.
async fn wait_lines(rx: &Receiver, n: usize, timeout: Duration) -> usize {
    let start = Instant::now();
    loop {
        let ids: BTreeSet<String> = lines_of(&rx.accepted())
            .iter()
            .map(|r| r.id().to_string())
            .collect();
        if ids.len() >= n || start.elapsed() > timeout {
            return ids.len();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the container has printed line `end` and the receiver holds as
/// many distinct ids as the container printed `n=` lines (a killed container
/// may print a line twice: both are lines and both must arrive). Returns those lines.
async fn wait_all_printed(
    rx: &Receiver,
    c: &Container,
    before: &[u32],
    end: u32,
    timeout: Duration,
) -> Vec<u32> {
    let start = Instant::now();
    loop {
        let mut all = before.to_vec();
        all.extend(printed(&c.logs()));
        let ids: BTreeSet<String> = lines_of(&rx.accepted())
            .iter()
            .map(|r| r.id().to_string())
            .collect();
        if (all.contains(&end) && ids.len() >= all.len()) || start.elapsed() > timeout {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every printed line delivered, each id once with one body, n values as printed.
fn assert_exactly_the_printed_lines(rx: &Receiver, printed_n: &[u32], context: &str) {
    let got = rx.accepted();
    let mut by_id: BTreeMap<String, &Received> = BTreeMap::new();
    let mut resent = 0;
    for r in lines_of(&got) {
        assert!(
            r.seed_signature_ok && r.standard_signature_ok,
            "signatures verify"
        );
        if let Some(prev) = by_id.insert(r.id().to_string(), r) {
            assert_eq!(prev.body, r.body, "a re-sent id carries the same body");
            resent += 1;
        }
    }
    let mut delivered: Vec<u32> = by_id
        .values()
        .map(|r| r.json["data"]["n"].as_str().unwrap().parse().unwrap())
        .collect();
    delivered.sort_unstable();
    let mut expected = printed_n.to_vec();
    expected.sort_unstable();
    assert_eq!(
        delivered, expected,
        "delivered n values = printed n values ({context})"
    );
    assert!(
        resent <= 2,
        "at most the in-flight event of a killed bridge is re-sent, got {resent} ({context})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_stdout_stderr_long_and_multiline_lines() {
    let s = Scratch::new();
    let name = unique("basic");
    let c = numbered(&s.path(""), &name, 40, "0.01");
    let rx = Receiver::start(SECRET).await;
    let b = bridge(&s, &rx, &name, &[], "bridge.log");
    let all = wait_all_printed(&rx, &c, &[], 40, Duration::from_secs(60)).await;
    assert_eq!(
        wait_lines(&rx, 40, Duration::ZERO).await,
        40,
        "bridge said: {}",
        b.log_text()
    );
    assert_exactly_the_printed_lines(&rx, &all, "basic");
    for r in lines_of(&rx.accepted()) {
        let p = &r.json;
        let n: u32 = p["data"]["n"].as_str().unwrap().parse().unwrap();
        let kind = p["data"]["kind"].as_str().unwrap();
        assert_eq!(p["source"]["container"], name.as_str());
        assert_eq!(p["source"]["container_id"].as_str().unwrap().len(), 12);
        let want_stream = if kind == "err" { "stderr" } else { "stdout" };
        assert_eq!(p["source"]["stream"], want_stream, "n={n}");
        match kind {
            "long" => {
                assert_eq!(
                    p["data"]["tail"].as_str().unwrap().len(),
                    20000,
                    "16 KiB frames merged into one line"
                );
                assert!(
                    p["log"].as_str().unwrap().len() <= 8 * 1024,
                    "log cut to 8 KiB"
                );
            }
            "multi" => assert_eq!(
                p["log"].as_str().unwrap(),
                format!("n={n} multi\n  cont a\n  cont b")
            ),
            _ => assert_eq!(p["log"].as_str().unwrap(), format!("n={n} {kind}")),
        }
    }
    b.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_kill_9_mid_stream_then_restart() {
    let s = Scratch::new();
    let name = unique("kill9");
    let c = numbered(&s.path(""), &name, 150, "0.03");
    let rx = Receiver::start(SECRET).await;
    let a = bridge(&s, &rx, &name, &[], "a.log");
    assert!(
        wait_lines(&rx, 30, Duration::from_secs(60)).await >= 30,
        "{}",
        a.log_text()
    );
    a.kill9();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let b = bridge(&s, &rx, &name, &[], "b.log");
    let all = wait_all_printed(&rx, &c, &[], 150, Duration::from_secs(90)).await;
    assert_exactly_the_printed_lines(
        &rx,
        &all,
        &format!("kill -9; bridge said: {}", b.log_text()),
    );
    b.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_restart_and_stop_then_start() {
    let s = Scratch::new();
    let name = unique("restart");
    let c = numbered(&s.path(""), &name, 120, "0.03");
    let rx = Receiver::start(SECRET).await;
    let b = bridge(&s, &rx, &name, &[], "bridge.log");
    assert!(
        wait_lines(&rx, 20, Duration::from_secs(60)).await >= 20,
        "{}",
        b.log_text()
    );
    c.cmd("restart");
    assert!(
        wait_lines(&rx, 50, Duration::from_secs(60)).await >= 50,
        "{}",
        b.log_text()
    );
    c.cmd("stop");
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.cmd("start");
    let all = wait_all_printed(&rx, &c, &[], 120, Duration::from_secs(90)).await;
    assert_exactly_the_printed_lines(
        &rx,
        &all,
        &format!("restart, stop/start; bridge said: {}", b.log_text()),
    );
    // Users are told about it: stopped (asked for) and started again, through the same path.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        let events: Vec<String> = rx
            .accepted()
            .iter()
            .map(|r| r.event().to_string())
            .collect();
        if events.iter().filter(|e| *e == "container.started").count() >= 2
            && events.iter().any(|e| e == "container.stopped")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events: Vec<String> = rx
        .accepted()
        .iter()
        .map(|r| r.event().to_string())
        .collect();
    assert!(
        events.iter().filter(|e| *e == "container.started").count() >= 2,
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| e == "container.stopped"),
        "{events:?}"
    );
    assert!(
        !events.iter().any(|e| e == "container.died"),
        "a requested stop is not a crash: {events:?}"
    );
    let stopped = rx
        .accepted()
        .into_iter()
        .find(|r| r.event() == "container.stopped")
        .unwrap();
    assert_eq!(stopped.json["data"]["container"], name.as_str());
    assert_eq!(stopped.json["source"]["stream"], "docker");
    b.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_removed_and_recreated_with_the_same_name() {
    let s = Scratch::new();
    let name = unique("recreate");
    let first = numbered(&s.path(""), &name, 80, "0.03");
    let rx = Receiver::start(SECRET).await;
    let b = bridge(&s, &rx, &name, &[], "bridge.log");
    assert!(
        wait_lines(&rx, 20, Duration::from_secs(60)).await >= 20,
        "{}",
        b.log_text()
    );
    // As compose does: stop (here: kill), remove, create anew under the same name.
    first.cmd("kill");
    let all = printed(&first.logs());
    first.remove();
    drop(first);
    // The new container goes on past where the first one could have got to:
    // on a busy machine the first may have printed all 80 lines before 20
    // arrived, and a second that printed nothing would have no events.
    let second = numbered(&s.path(""), &name, 160, "0.03");
    let all = wait_all_printed(&rx, &second, &all, 160, Duration::from_secs(90)).await;
    assert_exactly_the_printed_lines(
        &rx,
        &all,
        &format!("recreated; bridge said: {}", b.log_text()),
    );
    let ids: BTreeSet<String> = lines_of(&rx.accepted())
        .iter()
        .map(|r| {
            r.json["source"]["container_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), 2, "events name both containers' ids");
    b.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_cut_while_the_container_runs() {
    let s = Scratch::new();
    let name = unique("cut");
    let c = numbered(&s.path(""), &name, 120, "0.03");
    let proxy = SocketProxy::start().await;
    let rx = Receiver::start(SECRET).await;
    let host = proxy.docker_host();
    let b = bridge(
        &s,
        &rx,
        &name,
        &[("DOCKER_HOST", host.as_str())],
        "bridge.log",
    );
    for goal in [20, 50, 80] {
        assert!(
            wait_lines(&rx, goal, Duration::from_secs(60)).await >= goal,
            "{}",
            b.log_text()
        );
        assert!(
            proxy.cut() >= 1,
            "the log stream was open through the proxy"
        );
    }
    let all = wait_all_printed(&rx, &c, &[], 120, Duration::from_secs(90)).await;
    assert_exactly_the_printed_lines(
        &rx,
        &all,
        &format!("cut streams; bridge said: {}", b.log_text()),
    );
    b.terminate();
}

/// The daemon unreachable for a while (as across a Docker restart; here the
/// endpoint in front of it goes away): the bridge says so once, keeps trying,
/// and resumes where it stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_unreachable_for_a_while_then_back() {
    let s = Scratch::new();
    let name = unique("daemon");
    let c = numbered(&s.path(""), &name, 120, "0.03");
    let mut proxy = SocketProxy::start().await;
    let rx = Receiver::start(SECRET).await;
    let host = proxy.docker_host();
    let b = bridge(
        &s,
        &rx,
        &name,
        &[("DOCKER_HOST", host.as_str())],
        "bridge.log",
    );
    assert!(
        wait_lines(&rx, 20, Duration::from_secs(60)).await >= 20,
        "{}",
        b.log_text()
    );
    proxy.pause();
    tokio::time::sleep(Duration::from_secs(4)).await;
    proxy.resume().await;
    let all = wait_all_printed(&rx, &c, &[], 120, Duration::from_secs(90)).await;
    assert_exactly_the_printed_lines(
        &rx,
        &all,
        &format!("daemon away; bridge said: {}", b.log_text()),
    );
    let log = b.log_text();
    assert!(
        log.contains("retrying until it works") || log.contains("lost Docker's event stream"),
        "said it: {log}"
    );
    assert!(
        log.matches("cannot reach Docker").count() <= 2,
        "said once per stream, not per try: {log}"
    );
    b.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_for_a_missing_container_and_says_so_once() {
    let s = Scratch::new();
    let name = unique("late");
    let rx = Receiver::start(SECRET).await;
    let b = bridge(&s, &rx, &name, &[], "bridge.log");
    assert!(
        b.wait_for_log(
            "container not found; waiting for it to appear",
            Duration::from_secs(20)
        ),
        "{}",
        b.log_text()
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        b.log_text().matches("container not found").count(),
        1,
        "said once, not per try: {}",
        b.log_text()
    );
    let c = numbered(&s.path(""), &name, 10, "0.01");
    assert_eq!(
        wait_lines(&rx, 10, Duration::from_secs(30)).await,
        10,
        "{}",
        b.log_text()
    );
    assert_exactly_the_printed_lines(&rx, &printed(&c.logs()), "late container");
    b.terminate();
}

#[test]
fn check_reaches_docker_and_finds_the_container_or_names_the_ones_it_sees() {
    let s = Scratch::new();
    let name = unique("check");
    let c = Container::run(&name, &[], "sleep 1000");
    let env = [
        ("WEBHOOK_URL", "http://127.0.0.1:9/hook"),
        ("WEBHOOK_SECRET", SECRET),
        ("OPENWEBUI_CONTAINER", name.as_str()),
    ];
    let out = s.output(&["check"], &env, b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("container '{name}' found, running")),
        "{stdout}"
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
    assert!(!stdout.contains(SECRET));

    let missing = format!("{name}-nope");
    let out = s.output(
        &["check"],
        &[env[0], env[1], ("OPENWEBUI_CONTAINER", missing.as_str())],
        b"",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains(&format!("OPENWEBUI_CONTAINER: no container '{missing}'")),
        "{err}"
    );
    assert!(
        err.contains(&name),
        "names the containers it does see: {err}"
    );
    drop(c);
}
