//! The first hour of someone coming from the old Vietnamese webhook guide,
//! trap by trap: each test is a mistake that guide leads to (or a plain
//! slip), made as such a user makes it, and what the bridge must say or do.

use std::time::Duration;

use crate::support::bridge::{free_port, metrics_text, Scratch};
use crate::support::platforms::{telegram_view, Platform, TELEGRAM_TOKEN};
use crate::support::receiver::Receiver;

const SECRET: &str = "first-hour-secret";

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The old guide calls the bridge's `/api/v1/webhook` "the webhook endpoint";
/// put into WEBHOOK_URL it would make the bridge deliver to itself forever.
#[test]
fn webhook_url_pointing_at_the_bridge_itself_is_refused_at_start() {
    let s = Scratch::new();
    for url in [
        "http://localhost:8787/api/v1/webhook",
        "http://127.0.0.1:8787/",
        "http://owui-bridge:8787/api/v1/webhook",
        "http://[::1]:9999/api/v1/webhook",
    ] {
        let env = [
            ("WEBHOOK_URL", url),
            ("WEBHOOK_SECRET", SECRET),
            ("BRIDGE_LISTEN", "0.0.0.0:8787"),
        ];
        let out = s.output(&["run", "--source", "stdin"], &env, b"");
        assert_eq!(out.status.code(), Some(2), "{url}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(
                "invalid value for WEBHOOK_URL: this is owui-bridge's own inbound endpoint"
            ) && err.contains("in a loop")
                && err.contains("WEBHOOK_URL is where owui-bridge sends events"),
            "{url}: {err}"
        );
        let out = s.output(&["check", "--source", "stdin"], &env, b"");
        assert_eq!(out.status.code(), Some(2));
        assert!(
            stderr(&out).contains("own inbound endpoint"),
            "{}",
            stderr(&out)
        );
    }
}

/// A loop the start cannot see (the bridge reached by an address of its
/// machine's network card): its own deliveries coming back are refused, not
/// queued again, so each event is delivered to itself once and the bridge
/// stays up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_through_another_address_is_cut_at_the_first_round() {
    let lan_ip = lan_ip();
    let s = Scratch::new();
    let port = free_port();
    let url = format!("http://{lan_ip}:{port}/api/v1/webhook");
    let listen = format!("0.0.0.0:{port}");
    let _bridge = s.serve(
        &listen,
        &[
            ("WEBHOOK_URL", url.as_str()),
            ("WEBHOOK_SECRET", SECRET),
            ("WEBHOOK_TIMEOUT", "2"),
        ],
    );
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..200 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        up,
        "{}",
        std::fs::read_to_string(s.path("bridge.log")).unwrap_or_default()
    );
    // The old guide's test call.
    let r = http
        .post(format!("{base}/api/v1/webhook"))
        .header("X-Webhook-Secret", SECRET)
        .header("Content-Type", "application/json")
        .body(r#"{"event":"test","data":{"message":"Test webhook"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let metrics = metrics_text(&http, &base).await;
    assert!(
        metrics.contains("owui_bridge_inbound_webhooks_total 1\n"),
        "queued again: {metrics}"
    );
    assert!(
        metrics.contains("owui_bridge_dead_letters{sink=\"webhook\"} 1\n"),
        "{metrics}"
    );
    let log = std::fs::read_to_string(s.path("bridge.log")).unwrap();
    assert!(
        log.contains("this bridge's own delivery coming back"),
        "{log}"
    );
    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "still up"
    );
}

/// This machine's address on its network, as the old guide's `<LAN-IP>`
/// (found by routing, no packet is sent).
fn lan_ip() -> std::net::IpAddr {
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    probe.connect("192.0.2.1:9").unwrap();
    let ip = probe.local_addr().unwrap().ip();
    assert!(!ip.is_loopback(), "{ip}");
    ip
}

/// A bridge started by hand, killed when the test ends however it ends.
/// Chat platforms' addresses pasted into WEBHOOK_URL are refused with the
/// variable they belong in; a Telegram token is never printed.
#[test]
fn chat_urls_in_webhook_url_name_the_right_variable() {
    let s = Scratch::new();
    let telegram =
        format!("https://api.telegram.org/bot{TELEGRAM_TOKEN}/sendMessage?chat_id=-100123");
    for (url, wanted) in [
        (
            "https://discord.com/api/webhooks/112233/abcDEF-token",
            "DISCORD_WEBHOOK_URL",
        ),
        (
            "https://hooks.slack.com/services/T0/B0/XXXXXXXX",
            "SLACK_WEBHOOK_URL",
        ),
        (telegram.as_str(), "TELEGRAM_BOT_TOKEN"),
    ] {
        let out = s.output(
            &["check", "--source", "stdin"],
            &[("WEBHOOK_URL", url)],
            b"",
        );
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert_eq!(out.status.code(), Some(2), "{text}");
        assert!(text.contains(wanted), "{url}: {text}");
        assert!(
            !text.contains("AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"),
            "token shown: {text}"
        );
        assert!(
            !text.contains("abcDEF-token") && !text.contains("XXXXXXXX"),
            "{text}"
        );
    }
}

/// A stand-in for Open WebUI: `/api/config` as Open WebUI answers it, and
/// 405 for a POST to `/api/v1/webhook` (it has no such receiver).
async fn fake_open_webui() -> std::net::SocketAddr {
    use axum::routing::{get, post};
    let app = axum::Router::new()
        .route(
            "/api/config",
            get(|| async {
                (
                    [("content-type", "application/json")],
                    r#"{"status": true, "name": "Open WebUI", "version": "0.6.43", "features": {"auth": true}}"#,
                )
            }),
        )
        .route(
            "/api/v1/webhook",
            post(|| async { (axum::http::StatusCode::METHOD_NOT_ALLOWED, "{\"detail\":\"Method Not Allowed\"}") }),
        );
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    std::net::SocketAddr::new(lan_ip(), port)
}

/// The old guide's `WEBHOOK_URL=http://<LAN-IP>:<port>/api/v1/webhook` is
/// Open WebUI's own address: `check` finds out and says what WEBHOOK_URL is;
/// `send-test` explains the 405 in one line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_url_at_open_webui_is_explained_by_check_and_send_test() {
    let owui = fake_open_webui().await;
    let s = Scratch::new();
    let url = format!("http://{owui}/api/v1/webhook");
    let env = [("WEBHOOK_URL", url.as_str()), ("WEBHOOK_SECRET", SECRET)];
    let check = tokio::task::spawn_blocking({
        let cmd = s.command(&["check", "--source", "stdin"], &env);
        move || {
            let mut cmd = cmd;
            cmd.output().unwrap()
        }
    })
    .await
    .unwrap();
    let err = stderr(&check);
    assert_eq!(check.status.code(), Some(2), "{}{err}", stdout(&check));
    assert!(
        err.contains("is Open WebUI itself (version 0.6.43 answers there)")
            && err.contains("WEBHOOK_URL is where owui-bridge sends events"),
        "{err}"
    );
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("Open WebUI itself"))
            .count(),
        1
    );
    let sent = tokio::task::spawn_blocking({
        let cmd = s.command(&["send-test"], &env);
        move || {
            let mut cmd = cmd;
            cmd.output().unwrap()
        }
    })
    .await
    .unwrap();
    let out = stdout(&sent);
    assert_eq!(sent.status.code(), Some(1), "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("webhook: failed"))
        .expect(&out);
    assert!(
        line.contains("HTTP 405")
            && line.contains("looks like Open WebUI's own")
            && line.contains("WEBHOOK_URL is where"),
        "{line}"
    );
}

/// A name that is no event (`message.create`) or a glob that matches none
/// would mean events never come: said at start and by `check`, with the
/// nearest known name.
#[test]
fn unknown_event_names_are_warned_with_the_nearest_one() {
    let s = Scratch::new();
    let env = [
        ("WEBHOOK_URL", "http://127.0.0.1:9/hook"),
        ("WEBHOOK_SECRET", SECRET),
        (
            "WEBHOOK_EVENTS",
            "message.create, user.*, chat.updatd, nothing.*",
        ),
    ];
    let out = s.output(&["check", "--source", "stdin"], &env, b"");
    let text = stdout(&out);
    assert!(
        text.contains("warning: WEBHOOK_EVENTS: 'message.create' is no event the rules produce; did you mean message.created?"),
        "{text}"
    );
    assert!(
        text.contains("'nothing.*' matches no event the rules produce"),
        "{text}"
    );
    assert!(!text.contains("'user.*'"), "{text}");
    let out = s.output(&["run", "--source", "stdin", "--dry-run"], &env, b"");
    assert!(
        stderr(&out).contains("did you mean message.created?"),
        "{}",
        stderr(&out)
    );
}

/// The seed's curl test with the seed's own WEBHOOK_EVENTS (no `test` in
/// it): the 202 says no receiver takes it, and why; so does the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_curl_test_says_which_sinks_took_it() {
    let rx = Receiver::start(SECRET).await;
    let s = Scratch::new();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let url = rx.url();
    let _bridge = s.serve(
        &listen,
        &[
            ("WEBHOOK_URL", url.as_str()),
            ("WEBHOOK_SECRET", SECRET),
            ("WEBHOOK_EVENTS", "user.created,file.uploaded,chat.created"),
        ],
    );
    let http = reqwest::Client::new();
    let mut answer = None;
    for _ in 0..200 {
        if let Ok(r) = http
            .post(format!("http://{listen}/api/v1/webhook"))
            .header("X-Webhook-Secret", SECRET)
            .header("Content-Type", "application/json")
            .body(r#"{"event":"test","data":{"message":"Test webhook"}}"#)
            .send()
            .await
        {
            answer = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = answer.expect("the endpoint answers");
    assert_eq!(r.status(), 202);
    let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(body["sinks"], serde_json::json!([]), "{body}");
    assert!(
        body["filtered"][0].as_str().unwrap().contains(
            "webhook (WEBHOOK_EVENTS=user.created,file.uploaded,chat.created does not include it)"
        ),
        "{body}"
    );
    assert!(
        body["warning"]
            .as_str()
            .unwrap()
            .contains("no receiver takes event 'test'"),
        "{body}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = std::fs::read_to_string(s.path("bridge.log")).unwrap();
    assert!(
        log.contains("inbound event → no sink; left out by webhook (WEBHOOK_EVENTS="),
        "{log}"
    );
    assert!(rx.received().is_empty());
}

/// `.env` as people write it (a BOM from Notepad, spaces after commas, an
/// unquoted value with a space, CRLF): read as compose reads it. What cannot
/// be read names the file, the line, the variable and the fix. `check` says
/// which `.env` it read.
#[test]
fn dotenv_as_compose_reads_it() {
    let s = Scratch::new();
    std::fs::write(
        s.path(".env"),
        "\u{feff}# from the old guide\r\nENABLE_WEBHOOKS=true\r\nWEBHOOK_URL = http://127.0.0.1:9/hook\r\nWEBHOOK_SECRET=my secret with spaces\r\nWEBHOOK_EVENTS=user.created, file.uploaded,  chat.created\r\n",
    )
    .unwrap();
    let out = s.output(&["check", "--source", "stdin"], &[], b"");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        text.contains(&format!(
            "settings: the environment and {}",
            s.path(".env").display()
        )),
        "{text}"
    );
    assert!(
        text.contains("(events: user.created,file.uploaded,chat.created, signed)"),
        "{text}"
    );

    std::fs::write(
        s.path(".env"),
        "WEBHOOK_URL=http://127.0.0.1:9/hook\nWEBHOOK_SECRET=\"unclosed\nTELEGRAM_CHAT_ID=1\n",
    )
    .unwrap();
    let out = s.output(&["check"], &[], b"");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.starts_with(&format!("owui-bridge: {} line 2: WEBHOOK_SECRET: the value opens a double quote that is never closed", s.path(".env").display())),
        "{err}"
    );

    std::fs::remove_file(s.path(".env")).unwrap();
    let out = s.output(
        &["check", "--source", "stdin"],
        &[("WEBHOOK_URL", "http://127.0.0.1:9/")],
        b"",
    );
    assert!(
        stdout(&out).contains("settings: the environment only (no .env in"),
        "{}",
        stdout(&out)
    );
}

/// `.env.example` copied and filled for Telegram only starts: no default
/// there may stop a set-up with only a chat.
#[test]
fn env_example_with_only_telegram_starts() {
    let s = Scratch::new();
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example")).unwrap();
    let filled = example
        .replace(
            "TELEGRAM_BOT_TOKEN=\n",
            &format!("TELEGRAM_BOT_TOKEN={TELEGRAM_TOKEN}\n"),
        )
        .replace("TELEGRAM_CHAT_ID=\n", "TELEGRAM_CHAT_ID=-1001234567890\n");
    assert_ne!(filled, example, "the example has empty Telegram lines");
    std::fs::write(s.path(".env"), filled).unwrap();
    let out = s.output(&["check", "--source", "stdin"], &[], b"");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("sink telegram"), "{}", stdout(&out));
}

/// Small slips: a URL without a scheme gets one error, not two; `help` is a
/// command; the printed configuration reads as it was written.
#[test]
fn small_slips_get_one_clear_answer() {
    let s = Scratch::new();
    let out = s.output(
        &["check", "--source", "stdin"],
        &[
            ("ENABLE_WEBHOOKS", "true"),
            ("WEBHOOK_URL", "192.168.1.10:9000/hook"),
        ],
        b"",
    );
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("WEBHOOK_URL: has no http:// or https:// in front"),
        "{err}"
    );

    let out = s.output(&["help"], &[], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("test-rules"), "{}", stdout(&out));

    let out = s.output(
        &["check", "--source", "stdin"],
        &[
            ("WEBHOOK_URL", "http://127.0.0.1:9/"),
            ("BRIDGE_SINCE", "now"),
        ],
        b"",
    );
    let text = stdout(&out);
    assert!(
        text.contains("BRIDGE_SINCE = now\n") && text.contains("WEBHOOK_MAX_AGE = 1d\n"),
        "{text}"
    );
}

/// BRIDGE_LANGUAGE=vi: the event's message and the words around it are
/// Vietnamese on Telegram; the webhook's JSON is the same in every language.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_in_vietnamese() {
    let tg = Platform::telegram().await;
    let s = Scratch::new();
    let log = "2026-11-27 08:01:50.392 | INFO     | uvicorn.protocols.http.httptools_impl:send:482 - 203.0.113.7:0 - \"POST /api/v1/files/ HTTP/1.1\" 200\n";
    let api = tg.url();
    let out = tokio::task::spawn_blocking({
        let cmd = s.command(
            &["run", "--source", "stdin"],
            &[
                ("TELEGRAM_BOT_TOKEN", TELEGRAM_TOKEN),
                ("TELEGRAM_CHAT_ID", "-1001234567890"),
                ("TELEGRAM_API_URL", api.as_str()),
                ("BRIDGE_LANGUAGE", "vi"),
            ],
        );
        let log = log.to_string();
        move || {
            use std::io::Write;
            let mut cmd = cmd;
            cmd.stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = cmd.spawn().unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(log.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        }
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let seen = tg.seen();
    assert_eq!(seen.len(), 1, "{}", stderr(&out));
    let view = telegram_view(&seen[0].json);
    assert!(
        view.contains("📎 Có tệp mới được tải lên (từ 203.0.113.7)"),
        "{view}"
    );
    assert!(view.contains("thông tin · stdin trên"), "{view}");
    assert!(view.contains("quy tắc owui.file.uploaded"), "{view}");
}
