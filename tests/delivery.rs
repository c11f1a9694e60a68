//! Delivery end to end: a followed file, the real binary, a real receiver that
//! checks both signatures — and faults: receiver errors, outages, `kill -9`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::support::bridge::{append, free_port, upload_line, Scratch};
use crate::support::receiver::{Received, Receiver, Reply};

const SECRET: &str = "s3cret-for-tests";

/// For a file, any BRIDGE_SINCE other than `now` means "from the beginning".
fn env_for(url: &str) -> Vec<(&str, &str)> {
    vec![
        ("WEBHOOK_URL", url),
        ("WEBHOOK_SECRET", SECRET),
        ("BRIDGE_SINCE", "24h"),
        ("WEBHOOK_TIMEOUT", "2"),
    ]
}

/// What a careful receiver asserts about every request.
fn assert_well_formed(r: &Received) {
    assert!(
        r.seed_signature_ok,
        "X-Webhook-Signature must verify: {:?}",
        r.headers
    );
    assert!(
        r.standard_signature_ok,
        "webhook-signature must verify: {:?}",
        r.standard_error
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.header("user-agent"),
        Some(concat!("owui-bridge/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(r.header("webhook-id"), Some(r.id()));
    assert_eq!(r.header("x-webhook-event"), r.json["event"].as_str());
    assert!(r.id().starts_with("evt_") && !r.id().contains('.'));
    let body = std::str::from_utf8(&r.body).unwrap();
    assert!(
        !body.contains('\n') && !body.contains(": "),
        "minified JSON: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_events_reach_a_real_receiver_and_filters_apply() {
    let s = Scratch::new();
    let rx = Receiver::start(SECRET).await;
    let log = s.path("owui.log");
    append(&log, &[upload_line(1, "203.0.113.1")]);
    let source = format!("file:{}", log.display());
    let url = rx.url();
    let mut env = env_for(&url);
    env.push(("WEBHOOK_EVENTS", "file.*,user.*"));
    let bridge = s.spawn(&["run", "--source", &source], &env, "bridge.log");

    let got = rx.wait_for_accepted(1, Duration::from_secs(15)).await;
    assert_eq!(got.len(), 1, "bridge said: {}", bridge.log_text());
    // An event the filter excludes (chat.*) is not sent; the next allowed one is.
    append(&log, &[
        "2026-11-27 08:01:56.001 | INFO     | uvicorn.protocols.http.httptools_impl:send:482 - 127.0.0.1:1 - \"POST /api/v1/chats/new HTTP/1.1\" 200".to_string(),
        "2026-11-27 08:01:57.001 | INFO     | uvicorn.protocols.http.httptools_impl:send:482 - 127.0.0.1:2 - \"POST /api/v1/auths/signup HTTP/1.1\" 200".to_string(),
    ]);
    let got = rx.wait_for_accepted(2, Duration::from_secs(15)).await;
    assert_eq!(
        got.iter()
            .map(|r| r.event().to_string())
            .collect::<Vec<_>>(),
        ["file.uploaded", "user.created"],
        "{}",
        bridge.log_text()
    );
    for r in &got {
        assert_well_formed(r);
    }
    let p = &got[0].json;
    assert_eq!(p["data"]["client_ip"], "203.0.113.1");
    assert_eq!(p["timestamp"], "2026-11-27T08:00:01.001Z");
    assert_eq!(p["source"]["stream"], "file");
    assert_eq!(p["source"]["file"], log.display().to_string());
    assert_eq!(p["log"], upload_line(1, "203.0.113.1"));
    let keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["data", "event", "id", "log", "source", "timestamp"]
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
    bridge.terminate();
    rx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_errors_are_retried_in_order_and_permanent_ones_become_dead_letters() {
    let s = Scratch::new();
    let rx = Receiver::start(SECRET).await;
    // First event: 500, 503 with Retry-After, then 200. Second: 400 (permanent). Third: 200.
    rx.script(vec![
        Reply::Status(500),
        Reply::StatusWithRetryAfter(503, 1),
        Reply::Status(200),
        Reply::Status(400),
    ]);
    let log = s.path("owui.log");
    append(
        &log,
        &[
            upload_line(1, "203.0.113.1"),
            upload_line(2, "203.0.113.2"),
            upload_line(3, "203.0.113.3"),
        ],
    );
    let source = format!("file:{}", log.display());
    let url = rx.url();
    let bridge = s.spawn(&["run", "--source", &source], &env_for(&url), "bridge.log");

    let accepted = rx.wait_for_accepted(2, Duration::from_secs(30)).await;
    let clients: Vec<String> = accepted
        .iter()
        .map(|r| r.json["data"]["client_ip"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        clients,
        ["203.0.113.1", "203.0.113.3"],
        "bridge said: {}",
        bridge.log_text()
    );
    let all = rx.received();
    let per_client: Vec<&str> = all
        .iter()
        .map(|r| r.json["data"]["client_ip"].as_str().unwrap())
        .collect();
    assert_eq!(
        per_client,
        [
            "203.0.113.1",
            "203.0.113.1",
            "203.0.113.1",
            "203.0.113.2",
            "203.0.113.3"
        ],
        "exact attempts, in order"
    );
    // Retries carry the same id and body, with a fresh timestamp signature.
    assert_eq!(all[0].id(), all[2].id());
    assert_eq!(all[0].body, all[2].body);
    for r in &all {
        assert_well_formed(r);
    }
    assert!(
        bridge.wait_for_log("delivery failing", Duration::from_secs(1)),
        "one warning when failing starts"
    );
    assert_eq!(
        bridge.log_text().matches("delivery failing").count(),
        1,
        "not one per retry: {}",
        bridge.log_text()
    );
    assert!(
        bridge.log_text().contains("HTTP 400"),
        "{}",
        bridge.log_text()
    );
    bridge.terminate();

    // The refused event is kept on disk as a dead letter with the receiver's answer.
    let outbox = owui_bridge::outbox::Outbox::open(&s.path("state")).unwrap();
    let dead = outbox.dead_letters("webhook").unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].reason.starts_with("HTTP 400"), "{}", dead[0].reason);
    assert!(dead[0].queued.event.body.contains("203.0.113.2"));
    assert!(outbox.pending_by_sink().unwrap().is_empty());
    rx.stop().await;
}

/// The "done when": receiver down for a while, the bridge killed with
/// `kill -9` in between (once while waiting, once mid-delivery), and every event
/// still arrives once the receiver is back — duplicates only with the same id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_receiver_is_down_and_mid_delivery_loses_nothing() {
    let s = Scratch::new();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let log = s.path("owui.log");
    std::fs::write(&log, "").unwrap();
    let source = format!("file:{}", log.display());
    let env = env_for(&url);
    let batch = |from: u32, to: u32| {
        (from..to)
            .map(|n| upload_line(n, &format!("203.0.113.{n}")))
            .collect::<Vec<_>>()
    };

    // 1. Receiver down: events are stored; the bridge is killed while retrying.
    let a = s.spawn(&["run", "--source", &source], &env, "a.log");
    append(&log, &batch(1, 11));
    assert!(
        a.wait_for_log("delivery failing", Duration::from_secs(15)),
        "{}",
        a.log_text()
    );
    a.kill9();

    // 2. More lines while the bridge is down.
    append(&log, &batch(11, 21));

    // 3. Receiver back, but the first request hangs: kill -9 mid-delivery.
    let rx = Receiver::start_on(([127, 0, 0, 1], port).into(), SECRET)
        .await
        .unwrap();
    rx.script(vec![Reply::Hang]);
    let b = s.spawn(&["run", "--source", &source], &env, "b.log");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while rx.received().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        rx.received().len(),
        1,
        "one request in flight: {}",
        b.log_text()
    );
    b.kill9();

    // 4. More lines, a fresh bridge, and everything must arrive.
    append(&log, &batch(21, 31));
    let c = s.spawn(&["run", "--source", &source], &env, "c.log");
    let mut ids: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        ids = rx
            .accepted()
            .into_iter()
            .map(|r| (r.id().to_string(), r.body.clone()))
            .collect();
        if ids.len() >= 30 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let accepted = rx.accepted();
    let clients: BTreeSet<String> = accepted
        .iter()
        .map(|r| r.json["data"]["client_ip"].as_str().unwrap().to_string())
        .collect();
    let want: BTreeSet<String> = (1..31).map(|n| format!("203.0.113.{n}")).collect();
    assert_eq!(
        clients,
        want,
        "every line's event arrived; bridge said: {}",
        c.log_text()
    );
    assert_eq!(ids.len(), 30, "30 distinct ids");
    // A duplicate is only ever a re-send of the same event: same id, same body.
    for r in &accepted {
        assert_eq!(ids.get(r.id()), Some(&r.body));
        assert_well_formed(r);
    }
    // Order per sink: ascending by line, apart from re-sends.
    let first_seen: Vec<u32> = {
        let mut seen = BTreeSet::new();
        accepted
            .iter()
            .filter(|r| seen.insert(r.id().to_string()))
            .map(|r| {
                r.json["data"]["client_ip"]
                    .as_str()
                    .unwrap()
                    .rsplit('.')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect()
    };
    let mut sorted = first_seen.clone();
    sorted.sort();
    assert_eq!(first_seen, sorted, "delivered in event order");
    c.terminate();
    rx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_after_the_checkpoint_without_resending() {
    let s = Scratch::new();
    let rx = Receiver::start(SECRET).await;
    let log = s.path("owui.log");
    append(
        &log,
        &[upload_line(1, "203.0.113.1"), upload_line(2, "203.0.113.2")],
    );
    let source = format!("file:{}", log.display());
    let url = rx.url();
    let env = env_for(&url);
    let a = s.spawn(&["run", "--source", &source], &env, "a.log");
    assert_eq!(
        rx.wait_for_accepted(2, Duration::from_secs(15)).await.len(),
        2,
        "{}",
        a.log_text()
    );
    // Let the checkpoint for the delivered lines reach the disk, then stop cleanly.
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.terminate();
    append(&log, &[upload_line(3, "203.0.113.3")]);
    let b = s.spawn(&["run", "--source", &source], &env, "b.log");
    let got = rx.wait_for_accepted(3, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let clients: Vec<String> = rx
        .accepted()
        .iter()
        .map(|r| r.json["data"]["client_ip"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        clients,
        ["203.0.113.1", "203.0.113.2", "203.0.113.3"],
        "{} / {}",
        got.len(),
        b.log_text()
    );
    b.terminate();
    rx.stop().await;
}

/// An access line and, just after it, Open WebUI's audit record naming the user.
fn access(ts: &str, method: &str, path: &str) -> String {
    format!("2026-11-27 {ts} | INFO     | uvicorn.protocols.http.httptools_impl:send:482 - 203.0.113.7:0 - \"{method} {path} HTTP/1.1\" 200")
}

fn audit(ts: &str, method: &str, path: &str, email: &str) -> String {
    format!("2026-11-27 {ts} | INFO     | open_webui.utils.audit:write:83 -  - {{\"auditable\": true, \"id\": \"a-{ts}\", \"user\": {{\"id\": \"u-1\", \"email\": \"{email}\", \"role\": \"admin\", \"name\": \"Alice\"}}, \"audit_level\": \"METADATA\", \"verb\": \"{method}\", \"request_uri\": \"http://owui:8080{path}\", \"user_agent\": \"curl\", \"source_ip\": \"203.0.113.7\", \"request_object\": \"\", \"response_object\": \"\", \"response_status_code\": null}}")
}

/// `wait_for` through the real binary: an event waits for the audit record
/// that follows its access line, goes out without it when none comes (the log
/// going quiet), and an event held at `kill -9` is neither lost nor doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_wait_for_their_audit_record_and_none_is_lost_to_kill_9() {
    let s = Scratch::new();
    let rx = Receiver::start(SECRET).await;
    let log = s.path("owui.log");
    let chat = "/api/v1/chats/0f8c2a4e-1b3d-4e5f-8a9b-c1d2e3f4a5b6";
    let file = "/api/v1/files/3f2c9a1e-8a4b-4c3e-9f1a-0d2e5b6c7a88";
    let user = "/api/v1/users/c6f1c6ea-6055-41f5-a173-8100a7ced81a";
    append(
        &log,
        &[
            // An audited request no rule fires for: the audit log is on.
            audit(
                "08:00:00.000",
                "POST",
                "/api/v1/configs/banners",
                "alice@example.com",
            ),
            access("08:00:01.000", "DELETE", chat),
            audit("08:00:01.005", "DELETE", chat, "alice@example.com"),
        ],
    );
    let source = format!("file:{}", log.display());
    let url = rx.url();
    let env = env_for(&url);
    let a = s.spawn(&["run", "--source", &source], &env, "a.log");
    let got = rx.wait_for_accepted(1, Duration::from_secs(15)).await;
    assert_eq!(got[0].event(), "chat.deleted", "{}", a.log_text());
    assert_eq!(got[0].json["data"]["actor_email"], "alice@example.com");
    assert_eq!(got[0].json["data"]["actor_role"], "admin");
    assert!(
        got[0].json["data"].get("_path").is_none(),
        "key fields stay in"
    );

    // No audit record follows (a path Open WebUI does not audit): after the
    // wait, by the clock, the event goes out as it is.
    append(&log, &[access("08:00:02.000", "DELETE", file)]);
    let got = rx.wait_for_accepted(2, Duration::from_secs(15)).await;
    assert_eq!(got[1].event(), "file.deleted");
    assert!(got[1].json["data"].get("actor_email").is_none());

    // Killed while an event waits: the checkpoint stayed before its record.
    append(&log, &[access("08:00:03.000", "DELETE", user)]);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(rx.accepted().len(), 2, "still waiting: {}", a.log_text());
    a.kill9();
    append(
        &log,
        &[audit("08:00:03.004", "DELETE", user, "alice@example.com")],
    );
    let b = s.spawn(&["run", "--source", &source], &env, "b.log");
    let got = rx.wait_for_accepted(3, Duration::from_secs(15)).await;
    assert_eq!(got[2].event(), "user.deleted", "{}", b.log_text());
    assert_eq!(
        got[2].json["data"]["user_id"],
        "c6f1c6ea-6055-41f5-a173-8100a7ced81a"
    );
    // The restarted bridge knew from its state that this log has audit
    // records, so the re-read access line waited for its own.
    assert_eq!(got[2].json["data"]["actor_email"], "alice@example.com");
    // The earlier events are not sent again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ids: BTreeSet<String> = rx.accepted().iter().map(|r| r.id().to_string()).collect();
    assert_eq!(rx.accepted().len(), 3, "{}", b.log_text());
    assert_eq!(ids.len(), 3);
    for r in &rx.accepted() {
        assert_well_formed(r);
    }
    b.terminate();
    rx.stop().await;
}

/// Runs `openssl` with `args` in `dir`; panics with its output on failure.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian's openssl package)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A receiver behind a private CA: HAProxy terminates TLS with a certificate
/// for 127.0.0.1 signed by a CA made here, and forwards to `backend`.
struct TlsFront {
    child: std::process::Child,
    port: u16,
    ca: std::path::PathBuf,
}

impl TlsFront {
    fn start(dir: &std::path::Path, backend: std::net::SocketAddr) -> TlsFront {
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec![
            "req",
            "-x509",
            "-days",
            "2",
            "-subj",
            "/CN=owui-bridge test CA",
        ];
        ca.extend(ec);
        ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
        openssl(dir, &ca);
        let mut csr = vec!["req", "-subj", "/CN=127.0.0.1"];
        csr.extend(ec);
        csr.extend(["-keyout", "srv.key", "-out", "srv.csr"]);
        openssl(dir, &csr);
        std::fs::write(
            dir.join("srv.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "srv.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "srv.ext",
                "-out",
                "srv.pem",
            ],
        );
        let full = [
            std::fs::read(dir.join("srv.pem")).unwrap(),
            std::fs::read(dir.join("srv.key")).unwrap(),
        ]
        .concat();
        std::fs::write(dir.join("srv-full.pem"), full).unwrap();
        let port = free_port();
        let cfg = format!(
            "defaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
             frontend tls\n  bind 127.0.0.1:{port} ssl crt {}\n  default_backend rx\n\
             backend rx\n  server r {backend}\n",
            dir.join("srv-full.pem").display()
        );
        std::fs::write(dir.join("haproxy.cfg"), cfg).unwrap();
        let child = std::process::Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(dir.join("haproxy.cfg"))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("haproxy.log")).unwrap())
            .spawn()
            .expect("haproxy (Debian's haproxy package; .ci/run installs it)");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "haproxy did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        TlsFront {
            child,
            port,
            ca: dir.join("ca.pem"),
        }
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A receiver whose certificate comes from a private CA: refused with a hint
/// that names SSL_CERT_FILE, then delivered once the CA is trusted; `check`
/// shows the file and refuses one that holds no certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_behind_a_private_ca_is_trusted_through_ssl_cert_file() {
    let s = Scratch::new();
    let rx = Receiver::start(SECRET).await;
    let tls = TlsFront::start(&s.path(""), rx.addr());
    let url = format!("https://127.0.0.1:{}/hook", tls.port);
    let log = s.path("owui.log");
    append(&log, &[upload_line(1, "203.0.113.1")]);
    let source = format!("file:{}", log.display());

    let a = s.spawn(&["run", "--source", &source], &env_for(&url), "a.log");
    assert!(
        a.wait_for_log(
            "set SSL_CERT_FILE to that CA's certificate",
            Duration::from_secs(15)
        ),
        "{}",
        a.log_text()
    );
    assert!(rx.received().is_empty());
    a.terminate();

    let ca = tls.ca.to_str().unwrap();
    let mut env = env_for(&url);
    env.push(("SSL_CERT_FILE", ca));
    let b = s.spawn(&["run", "--source", &source], &env, "b.log");
    let got = rx.wait_for_accepted(1, Duration::from_secs(20)).await;
    assert_eq!(got[0].event(), "file.uploaded", "{}", b.log_text());
    assert_well_formed(&got[0]);
    b.terminate();

    let out = s.output(&["check", "--source", &source], &env, b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("SSL_CERT_FILE = {ca} (1 CA certificate(s)")),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = s.path("srv.key");
    let mut env = env_for(&url);
    env.push(("SSL_CERT_FILE", key.to_str().unwrap()));
    let out = s.output(&["check", "--source", &source], &env, b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("SSL_CERT_FILE") && err.contains("holds no PEM certificate"),
        "{err}"
    );
    assert!(
        !err.contains("PRIVATE KEY"),
        "the key's content never shows: {err}"
    );
    // PEM framing around something that is no certificate: refused too, never
    // a quiet fallback to a client without the CA, timeouts or redirect rules.
    let bogus = s.path("bogus.pem");
    std::fs::write(
        &bogus,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let mut env = env_for(&url);
    env.push(("SSL_CERT_FILE", bogus.to_str().unwrap()));
    let out = s.output(&["send-test"], &env, b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("is not a valid X.509 certificate"), "{err}");
    assert_eq!(rx.received().len(), 1, "nothing more was sent");
    rx.stop().await;
}

/// A receiver that comes back after a long outage is used again within 15 s
/// (the bridge asks it with a bodiless HEAD every 8–12 s once its retries are
/// further apart than that), while during the outage it sees few requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_back_after_an_outage_is_used_within_15_s() {
    let s = Scratch::new();
    let rx = Receiver::start(SECRET).await;
    rx.set_down(true);
    let log = s.path("owui.log");
    append(
        &log,
        &[upload_line(1, "203.0.113.1"), upload_line(2, "203.0.113.2")],
    );
    let source = format!("file:{}", log.display());
    let url = rx.url();
    let bridge = s.spawn(&["run", "--source", &source], &env_for(&url), "bridge.log");
    // Long enough for the retries (1 s doubling, with jitter) to be further
    // apart than the probes.
    tokio::time::sleep(Duration::from_secs(45)).await;
    let attempts = rx.received().len();
    let probes = rx.probes().len();
    assert!(
        attempts <= 8,
        "{attempts} POSTs in 45 s of outage: {}",
        bridge.log_text()
    );
    assert!(probes >= 1, "no probe in 45 s: {}", bridge.log_text());
    let back = std::time::Instant::now();
    rx.set_down(false);
    let got = rx.wait_for_accepted(2, Duration::from_secs(20)).await;
    let took = back.elapsed();
    assert_eq!(got.len(), 2, "{}", bridge.log_text());
    assert!(
        took <= Duration::from_secs(15),
        "back after {took:?}: {}",
        bridge.log_text()
    );
    assert!(bridge.log_text().contains("delivering again"));
    bridge.terminate();
    rx.stop().await;
}
