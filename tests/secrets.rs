//! No secret ever shows: every secret and token set at once, every command run
//! (failing ones too) at `LOG_LEVEL=trace` (the running bridge at `RUST_LOG=trace`,
//! every crate's trace), every sink answering with an error
//! that becomes a dead letter — and none of the secrets appears in any output,
//! log line, dead letter (the raw bytes of the state file), metric, HTTP answer
//! or header a receiver sees.

use std::time::{Duration, Instant};

use crate::support::bridge::{free_port, Scratch};
use crate::support::platforms::{Canned, Platform};

/// Each secret is distinctive, so a leak of any part of it is found.
const WEBHOOK_SECRET: &str = "hmac-Secret-Q7vX2pLm9RtZ";
const URL_PASSWORD: &str = "urlPass-K3jH8dW1";
const URL_PATH_SECRET: &str = "pathSecret-N4bV6cX0";
const URL_QUERY_SECRET: &str = "querySecret-T2gF5sA9";
const DISCORD_TOKEN: &str = "discordTok-Yu7Io9Pa1Sd3Fg5Hj";
const SLACK_SECRET: &str = "slackSecret-Zx8Cv6Bn4Mq2";
const TELEGRAM_TOKEN: &str = "987654321:tgTok-Lk0Jh9Gf8Ds7Aq6Wz";

fn secrets() -> [&'static str; 7] {
    [
        WEBHOOK_SECRET,
        URL_PASSWORD,
        URL_PATH_SECRET,
        URL_QUERY_SECRET,
        DISCORD_TOKEN,
        SLACK_SECRET,
        TELEGRAM_TOKEN,
    ]
}

fn assert_clean(what: &str, text: &[u8]) {
    for s in secrets() {
        // The Telegram token's parts too: the bot id alone is public, its key is not.
        let key = s.rsplit(':').next().unwrap();
        assert!(
            !contains(text, key.as_bytes()),
            "{what} shows a secret ({s}):\n{}",
            String::from_utf8_lossy(text)
        );
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_shows_in_any_output_dead_letter_metric_or_header() {
    // Every receiver answers with an error that ends delivery: each event becomes a dead letter with the
    // platform's answer as its reason.
    let discord = Platform::discord().await; // wrong token → 401 Invalid Webhook Token
    let slack = Platform::slack().await; // unknown path → 404 no_service
    let telegram = Platform::telegram().await; // other token → 401 Unauthorized
    let hook = Platform::discord().await;
    hook.script(vec![Canned::text(410, "Gone")]);
    let discord_url = format!(
        "http://{}/api/webhooks/1234/{DISCORD_TOKEN}",
        discord.addr()
    );
    let slack_url = format!("http://{}/services/T0/B0/{SLACK_SECRET}", slack.addr());
    let webhook_url = format!(
        "http://bridge:{URL_PASSWORD}@{}/hooks/{URL_PATH_SECRET}?key={URL_QUERY_SECRET}",
        hook.addr()
    );
    let telegram_api = telegram.url();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let env = [
        ("WEBHOOK_URL", webhook_url.as_str()),
        ("WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("DISCORD_WEBHOOK_URL", discord_url.as_str()),
        ("SLACK_WEBHOOK_URL", slack_url.as_str()),
        ("TELEGRAM_BOT_TOKEN", TELEGRAM_TOKEN),
        ("TELEGRAM_CHAT_ID", "-1001234567890"),
        ("TELEGRAM_API_URL", telegram_api.as_str()),
        ("LOG_LEVEL", "trace"),
        ("OPENWEBUI_CONTAINER", "open-webui"),
        ("DOCKER_HOST", "tcp://127.0.0.1:1"),
        ("BRIDGE_LANGUAGE", "vi"),
    ];
    let scratch = Scratch::new();
    let log = std::fs::read(
        crate::support::readme::root().join("tests/fixtures/logs/openwebui-0.12.4-info.log"),
    )
    .unwrap();

    // The one-shot commands, the failing ones included.
    for args in [
        &["check"][..],
        &["send-test"],
        &["events"],
        &["test-rules", "-"],
        &["run", "--source", "stdin", "--dry-run"],
        &["run", "--source", "nowhere:"],
        &["healthcheck"],
        &["listen", "--addr", "not-an-address"],
    ] {
        let out = scratch.output(args, &env, &log);
        assert_clean(
            &format!("owui-bridge {}, stdout", args.join(" ")),
            &out.stdout,
        );
        assert_clean(
            &format!("owui-bridge {}, stderr", args.join(" ")),
            &out.stderr,
        );
    }
    // A bad secret file is named, not shown.
    let secret_file = scratch.path("secret");
    std::fs::write(&secret_file, format!("{WEBHOOK_SECRET}\n")).unwrap();
    let mut with_file: Vec<(&str, &str)> = env
        .iter()
        .filter(|(k, _)| *k != "WEBHOOK_SECRET")
        .copied()
        .collect();
    let file = secret_file.to_string_lossy().into_owned();
    with_file.push(("WEBHOOK_SECRET_FILE", &file));
    let out = scratch.output(&["check"], &with_file, b"");
    assert_clean("check with WEBHOOK_SECRET_FILE", &out.stdout);

    // A running bridge: the captured log through every rule to four failing receivers, at trace level.
    let input = scratch.path("owui.log");
    std::fs::write(&input, &log).unwrap();
    let source = format!("file:{}", input.display());
    let mut run_env = env.to_vec();
    run_env.push(("BRIDGE_LISTEN", listen.as_str()));
    run_env.push(("BRIDGE_SINCE", "24h"));
    // Every crate's trace (reqwest, hyper, rustls, redb…), not only the bridge's own.
    run_env.push(("RUST_LOG", "trace"));
    let bridge = scratch.spawn(&["run", "--source", &source], &run_env, "bridge.log");
    let client = reqwest::Client::new();
    let metrics_url = format!("http://{listen}/metrics");
    let deadline = Instant::now() + Duration::from_secs(60);
    let metrics = loop {
        let text = match client.get(&metrics_url).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let dead_everywhere = ["webhook", "discord", "slack", "telegram"].iter().all(|s| {
            text.lines().any(|l| {
                l.starts_with(&format!("owui_bridge_dead_letters{{sink=\"{s}\"}}"))
                    && !l.ends_with(" 0")
            })
        });
        if dead_everywhere {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "not every sink has dead letters yet:\n{text}\nthe bridge said:\n{}",
            bridge.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_clean("/metrics", metrics.as_bytes());
    // The inbound endpoint's answers to wrong, missing and malformed requests.
    let inbound = format!("http://{listen}/api/v1/webhook");
    for (sig, body) in [
        (Some("sha256=00"), r#"{"event":"test"}"#),
        (None, r#"{"event":"test"}"#),
        (Some(WEBHOOK_SECRET), "not json"),
    ] {
        let mut req = client.post(&inbound).body(body);
        if let Some(s) = sig {
            req = req.header("X-Webhook-Signature", s);
        }
        let answer = req.send().await.unwrap();
        let headers = format!("{:?}", answer.headers());
        assert_clean("an inbound answer's headers", headers.as_bytes());
        assert_clean("an inbound answer", &answer.bytes().await.unwrap());
    }
    let said = bridge.log_text();
    assert!(
        said.contains("TRACE") || said.contains("trace"),
        "not at trace level:\n{said}"
    );
    bridge.terminate();
    assert_clean("the bridge's log at trace level", said.as_bytes());

    // Dead letters and everything else kept on disk, as raw bytes.
    let mut stored = 0;
    for entry in walk(&scratch.path("state")) {
        let bytes = std::fs::read(&entry).unwrap();
        stored += bytes.len();
        assert_clean(&format!("{}", entry.display()), &bytes);
    }
    assert!(stored > 0, "the state directory is empty");

    // What receivers see in headers: the webhook receiver and the chats.
    for (name, p) in [
        ("webhook", &hook),
        ("discord", &discord),
        ("slack", &slack),
        ("telegram", &telegram),
    ] {
        let seen = p.seen();
        assert!(!seen.is_empty(), "{name} got nothing");
        for s in seen {
            let headers = format!("{:?}", s.headers);
            assert_clean(&format!("headers sent to {name}"), headers.as_bytes());
            if name == "webhook" || name == "slack" || name == "discord" {
                // Only the URL the user gave carries its secret; the body never does.
                assert_clean(&format!("a body sent to {name}"), &s.body);
            }
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
