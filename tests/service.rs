//! Running as a service: hot-reloaded rules, the HTTP endpoint (health,
//! readiness, metrics, the inbound webhook), `listen`, and SIGTERM.

use std::time::{Duration, Instant};

use crate::support::bridge::{append, free_port, metrics_text, upload_line, Scratch};
use crate::support::receiver::{Receiver, Reply};

const SECRET: &str = "service-test-secret";

fn rule(id: &str, event: &str) -> String {
    format!("[[rule]]\nid = \"{id}\"\nevent = \"{event}\"\nmatch = 'marker=(?P<n>\\d+)'\n")
}

/// POSTs `len` bytes like curl does (headers, then the body), reading the status
/// line even when the server answers before the body is sent.
async fn post_raw(addr: &str, len: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("POST /api/v1/webhook HTTP/1.1\r\nHost: {addr}\r\nX-Webhook-Secret: {SECRET}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n");
    tcp.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0;
    while sent < len {
        if tcp.write_all(&chunk).await.is_err() {
            break;
        }
        sent += chunk.len();
    }
    let mut buf = vec![0u8; 256];
    let n = tcp.read(&mut buf).await.unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

async fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Some(v) = f() {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// `/readyz` once the source has started: until its first attempt the
/// bridge answers "starting", whatever the source will find.
async fn readiness_once_started(
    http: &reqwest::Client,
    base: &str,
) -> (reqwest::StatusCode, String) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = http.get(format!("{base}/readyz")).send().await.unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        if !body.contains("starting") || Instant::now() > deadline {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_edits_take_effect_without_restart_and_broken_edits_keep_the_old_rules() {
    let s = Scratch::new();
    let rx = Receiver::start(SECRET).await;
    let rules_dir = s.path("rules");
    std::fs::create_dir_all(&rules_dir).unwrap();
    let rule_file = rules_dir.join("mine.toml");
    std::fs::write(&rule_file, rule("mine", "custom.first")).unwrap();
    let log = s.path("app.log");
    std::fs::write(&log, "").unwrap();
    let source = format!("file:{}", log.display());
    let url = rx.url();
    let env = [
        ("WEBHOOK_URL", url.as_str()),
        ("WEBHOOK_SECRET", SECRET),
        ("BRIDGE_SINCE", "24h"),
        ("BRIDGE_DEFAULT_RULES", "false"),
        ("BRIDGE_RULES", rules_dir.to_str().unwrap()),
    ];
    let b = s.spawn(&["run", "--source", &source], &env, "bridge.log");
    let events = |rx: &Receiver| {
        rx.accepted()
            .iter()
            .map(|r| {
                format!(
                    "{}:{}",
                    r.event(),
                    r.json["data"]["n"].as_str().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
    };

    append(&log, &["marker=1".to_string()]);
    assert_eq!(
        rx.wait_for_accepted(1, Duration::from_secs(10)).await.len(),
        1,
        "{}",
        b.log_text()
    );

    // An editor that saves by writing a new file and renaming it over the old one.
    let tmp = rules_dir.join(".mine.toml.swp");
    std::fs::write(&tmp, rule("mine", "custom.second")).unwrap();
    std::fs::rename(&tmp, &rule_file).unwrap();
    assert!(
        b.wait_for_log("rules reloaded: 1 rules, +0 −0", Duration::from_secs(5)),
        "{}",
        b.log_text()
    );
    append(&log, &["marker=2".to_string()]);
    rx.wait_for_accepted(2, Duration::from_secs(10)).await;
    assert_eq!(events(&rx), ["custom.first:1", "custom.second:2"]);

    // A broken edit is reported with file, line and column; the running rules stay.
    std::fs::write(
        &rule_file,
        "[[rule]]\nid = \"mine\"\nevent = \"custom.third\"\nmatch = 'marker=(?P<n>\\d+'\n",
    )
    .unwrap();
    assert!(
        b.wait_for_log(
            "rules not reloaded, the running rules stay",
            Duration::from_secs(5)
        ),
        "{}",
        b.log_text()
    );
    assert!(b.log_text().contains("mine.toml:4:"), "{}", b.log_text());
    append(&log, &["marker=3".to_string()]);
    rx.wait_for_accepted(3, Duration::from_secs(10)).await;
    assert_eq!(events(&rx)[2], "custom.second:3");

    // Fixed, plus a new file: both take effect.
    std::fs::write(&rule_file, rule("mine", "custom.third")).unwrap();
    std::fs::write(
        rules_dir.join("more.toml"),
        "[[rule]]\nid = \"more\"\nevent = \"custom.more\"\nmatch = 'extra=(?P<n>\\d+)'\n",
    )
    .unwrap();
    assert!(
        b.wait_for_log("rules reloaded: 2 rules, +1 −0", Duration::from_secs(5)),
        "{}",
        b.log_text()
    );
    append(&log, &["marker=4".to_string(), "extra=5".to_string()]);
    rx.wait_for_accepted(5, Duration::from_secs(10)).await;
    assert_eq!(events(&rx)[3..], ["custom.third:4", "custom.more:5"]);
    b.terminate();
    rx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoint_health_metrics_and_the_inbound_webhook() {
    let s = Scratch::new();
    let rx = Receiver::start(SECRET).await;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let log = s.path("app.log");
    std::fs::write(&log, "").unwrap();
    let source = format!("file:{}", log.display());
    let url = rx.url();
    let env = [
        ("WEBHOOK_URL", url.as_str()),
        ("WEBHOOK_SECRET", SECRET),
        ("BRIDGE_SINCE", "24h"),
    ];
    let mut cmd = s.command(&["run", "--source", &source], &env);
    cmd.env("BRIDGE_LISTEN", &listen)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(s.path("bridge.log")).unwrap());
    let mut child = cmd.spawn().unwrap();
    let base = format!("http://{listen}");
    let http = reqwest::Client::new();
    let up = wait_for(Duration::from_secs(10), || {
        std::net::TcpStream::connect(&listen).ok()
    })
    .await;
    assert!(
        up.is_some(),
        "{}",
        std::fs::read_to_string(s.path("bridge.log")).unwrap_or_default()
    );

    let r = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (status, reason) = readiness_once_started(&http, &base).await;
    assert_eq!(status, 200);
    let ready: serde_json::Value = serde_json::from_str(&reason).unwrap();
    assert_eq!(ready["ready"], true);
    assert!(ready["source"].as_str().unwrap().contains("following file"));

    // The seed's test call, verbatim.
    let seed = r#"{"event":"test","data":{"message":"Test webhook"}}"#;
    let r = http
        .post(format!("{base}/api/v1/webhook"))
        .header("X-Webhook-Secret", SECRET)
        .header("Content-Type", "application/json")
        .body(seed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let id = serde_json::from_str::<serde_json::Value>(&r.text().await.unwrap()).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let got = rx.wait_for_accepted(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].id(), id);
    assert_eq!(got[0].event(), "test");
    assert_eq!(got[0].json["data"]["message"], "Test webhook");
    assert!(got[0].seed_signature_ok && got[0].standard_signature_ok);

    // Signed with X-Webhook-Signature instead of the secret header.
    let hex_sig = {
        use hmac::{Hmac, Mac};
        let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(SECRET.as_bytes()).unwrap();
        m.update(seed.as_bytes());
        hex::encode(m.finalize().into_bytes())
    };
    let post_signed = |signature: String| {
        http.post(format!("{base}/api/v1/webhook"))
            .header("X-Webhook-Signature", signature)
            .body(seed)
            .send()
    };
    assert_eq!(post_signed(hex_sig.clone()).await.unwrap().status(), 202);
    // GitHub's spelling, `sha256=<hex>`, is the same MAC: accepted here as by `listen`.
    let r = post_signed(format!("sha256={hex_sig}")).await.unwrap();
    assert_eq!(r.status(), 202);
    let r = post_signed(format!("sha1={hex_sig}")).await.unwrap();
    assert_eq!(r.status(), 401);

    let r = http
        .post(format!("{base}/api/v1/webhook"))
        .header("X-Webhook-Secret", "wrong")
        .body(seed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(format!("{base}/api/v1/webhook"))
        .body(seed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        post_raw(&listen, 2 << 20).await,
        413,
        "2 MiB is over the 1 MiB limit"
    );
    let r = http
        .post(format!("{base}/api/v1/webhook"))
        .header("X-Webhook-Secret", SECRET)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let reason = r.text().await.unwrap();
    assert!(
        reason.contains("not valid JSON") && !reason.contains('\n'),
        "{reason}"
    );

    // Metrics move as events flow.
    append(&log, &[upload_line(1, "203.0.113.9")]);
    rx.wait_for_accepted(4, Duration::from_secs(10)).await;
    // The receiver has answered; the bridge counts the delivery once it has
    // read that answer and marked the event done, a moment later.
    let delivered = "owui_bridge_deliveries_total{sink=\"webhook\",outcome=\"delivered\"} 4";
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = metrics_text(&http, &base).await;
        if text.contains(delivered) || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        text.contains("owui_bridge_events_total{event=\"file.uploaded\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("owui_bridge_events_total{event=\"test\"} 3"),
        "{text}"
    );
    assert!(text.contains("owui_bridge_lines_total 1"), "{text}");
    assert!(text.contains(delivered), "{text}");
    assert!(
        text.contains("owui_bridge_outbox_pending{sink=\"webhook\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("owui_bridge_delivery_seconds_count{sink=\"webhook\"} 4"),
        "{text}"
    );
    assert!(text.contains("owui_bridge_rules_loaded 55"), "{text}");

    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    rx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_webhook_is_disabled_without_a_secret() {
    let s = Scratch::new();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut cmd = s.command(
        &["run", "--source", "file:/nonexistent/app.log"],
        &[("WEBHOOK_URL", "http://127.0.0.1:9/")],
    );
    cmd.env("BRIDGE_LISTEN", &listen)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    wait_for(Duration::from_secs(10), || {
        std::net::TcpStream::connect(&listen).ok()
    })
    .await
    .expect("listening");
    let http = reqwest::Client::new();
    let r = http
        .post(format!("http://{listen}/api/v1/webhook"))
        .header("X-Webhook-Secret", "anything")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("set WEBHOOK_SECRET"));
    // Waiting for a log file that does not exist: alive, but not ready, with the reason.
    let (status, reason) = readiness_once_started(&http, &format!("http://{listen}")).await;
    assert_eq!(status, 503);
    assert!(reason.contains("does not exist yet"), "{reason}");
    let r = http
        .get(format!("http://{listen}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The image's HEALTHCHECK uses this.
    let out = s.output(&["healthcheck"], &[("BRIDGE_LISTEN", listen.as_str())], b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = child.kill();
    let _ = child.wait();
    let out = s.output(&["healthcheck"], &[("BRIDGE_LISTEN", listen.as_str())], b"");
    assert_eq!(out.status.code(), Some(1), "no bridge: unhealthy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_delivery_exits_promptly_and_loses_nothing() {
    let s = Scratch::new();
    let rx = Receiver::start(SECRET).await;
    rx.script(vec![Reply::Hang]);
    let log = s.path("app.log");
    append(
        &log,
        &[upload_line(1, "203.0.113.1"), upload_line(2, "203.0.113.2")],
    );
    let source = format!("file:{}", log.display());
    let url = rx.url();
    let env = [
        ("WEBHOOK_URL", url.as_str()),
        ("WEBHOOK_SECRET", SECRET),
        ("BRIDGE_SINCE", "24h"),
        ("WEBHOOK_TIMEOUT", "30"),
    ];
    let a = s.spawn(&["run", "--source", &source], &env, "a.log");
    wait_for(Duration::from_secs(10), || {
        (!rx.received().is_empty()).then_some(())
    })
    .await
    .expect("a delivery in flight");
    let t0 = Instant::now();
    let status = a.terminate().expect("exits after SIGTERM");
    assert!(
        t0.elapsed() < Duration::from_secs(12),
        "exited within the drain time, took {:?}",
        t0.elapsed()
    );
    assert!(status.success(), "{status:?}");
    let b = s.spawn(&["run", "--source", &source], &env, "b.log");
    let got = rx.wait_for_accepted(2, Duration::from_secs(15)).await;
    let clients: Vec<&str> = got
        .iter()
        .map(|r| r.json["data"]["client_ip"].as_str().unwrap())
        .collect();
    assert_eq!(clients, ["203.0.113.1", "203.0.113.2"], "{}", b.log_text());
    b.terminate();
    rx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_shows_events_and_marks_bad_signatures() {
    let s = Scratch::new();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = s.command(&["listen", "--addr", &addr], &[("WEBHOOK_SECRET", SECRET)]);
    let out_path = s.path("listen.out");
    cmd.stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::process::Stdio::null());
    let mut listener = cmd.spawn().unwrap();
    wait_for(Duration::from_secs(10), || {
        std::net::TcpStream::connect(&addr).ok()
    })
    .await
    .expect("listening");
    let url = format!("http://{addr}/");
    let ok = s.output(
        &["send-test"],
        &[("WEBHOOK_URL", url.as_str()), ("WEBHOOK_SECRET", SECRET)],
        b"",
    );
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("webhook: ok"));
    let _ = s.output(
        &["send-test"],
        &[
            ("WEBHOOK_URL", url.as_str()),
            ("WEBHOOK_SECRET", "not-the-same"),
        ],
        b"",
    );
    let text = wait_for(Duration::from_secs(5), || {
        let t = std::fs::read_to_string(&out_path).ok()?;
        (t.matches("bridge.test").count() >= 2).then_some(t)
    })
    .await
    .expect("two events printed");
    assert!(
        text.contains("✔ X-Webhook-Signature ok, webhook-signature ok"),
        "{text}"
    );
    assert!(text.contains("✘ BAD SIGNATURE"), "{text}");
    assert!(
        text.contains("message = Test event from owui-bridge send-test"),
        "{text}"
    );
    let _ = listener.kill();
    let _ = listener.wait();
}

#[test]
fn send_test_reports_each_failing_sink_with_what_to_do() {
    let s = Scratch::new();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let out = s.output(
        &["send-test"],
        &[("WEBHOOK_URL", url.as_str()), ("WEBHOOK_SECRET", SECRET)],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!(
            "webhook: failed (http://127.0.0.1:{port}/hook): cannot connect"
        )),
        "{text}"
    );
    assert!(text.contains("is the receiver running"), "{text}");
}
