//! Discord, Slack and Telegram sinks against loopback fakes that check what
//! each platform checks (payload shape, limits, escaping, content type) and
//! answer as it does: success, 429 with the platform's own retry hint, 5xx, and
//! the real error bodies in `tests/fixtures/api/`.

use std::collections::BTreeMap;
use std::time::Duration;

use owui_bridge::config::TelegramConfig;
use owui_bridge::event::Severity;
use owui_bridge::event::{Event, Payload};
use owui_bridge::record::Origin;
use owui_bridge::sink::chat::EN;
use owui_bridge::sink::discord::Discord;
use owui_bridge::sink::http;
use owui_bridge::sink::slack::Slack;
use owui_bridge::sink::telegram::Telegram;
use owui_bridge::sink::text::is_cluster_boundary;
use owui_bridge::sink::Delivery;
use serde_json::{json, Value};

use crate::support::platforms::{
    discord_problems, discord_view, slack_problems, slack_view, telegram_len, telegram_parse_html,
    telegram_view, Canned, Platform, DISCORD_TOKEN, SLACK_PATH, TELEGRAM_TOKEN,
};

const TS: &str = "2026-11-27T08:01:50.392Z";

fn event(
    name: &str,
    severity: Severity,
    message: Option<&str>,
    data: &[(&str, &str)],
    log: &str,
) -> Event {
    let payload = Payload {
        id: "evt_3f6a0c1d2e4b5a6978af0b1c".into(),
        event: name.into(),
        timestamp: TS.into(),
        source: Origin {
            container: Some("open-webui".into()),
            container_id: Some("3f6a0c1d2e4b".into()),
            stream: "stderr".into(),
            host: "myhost".into(),
            file: None,
        },
        data: data
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        log: log.into(),
    };
    Event {
        id: payload.id.clone(),
        event: name.into(),
        rule: format!("owui.{name}"),
        severity,
        message: message.map(Into::into),
        body: serde_json::to_string(&payload).unwrap(),
    }
}

fn simple(message: &str) -> Event {
    event("file.uploaded", Severity::Info, Some(message), &[], "")
}

fn client() -> reqwest::Client {
    http::client(Duration::from_secs(5), &[]).expect("an HTTP client")
}

fn discord(p: &Platform) -> Discord {
    Discord::new(p.url().parse().unwrap(), client(), &EN)
}

fn slack(p: &Platform) -> Slack {
    Slack::new(p.url().parse().unwrap(), client(), &EN)
}

fn telegram_cfg(base: &str) -> TelegramConfig {
    TelegramConfig::new(
        base.parse().unwrap(),
        TELEGRAM_TOKEN,
        "-1001234567890",
        Some(42),
    )
    .unwrap()
}

fn telegram(p: &Platform) -> Telegram {
    Telegram::new(telegram_cfg(&p.url()), client(), &EN)
}

const SLACK_SECRET: &str = "XXXXXXXXXXXXXXXXXXXXXXXX";

/// Reasons end up in logs and dead letters: never a token or secret path.
fn assert_no_secret(s: &str) {
    for secret in [
        DISCORD_TOKEN,
        TELEGRAM_TOKEN,
        SLACK_SECRET,
        "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
    ] {
        assert!(!s.contains(secret), "secret leaked: {s}");
    }
}

fn rejected(d: Delivery) -> String {
    match d {
        Delivery::Reject { reason } => {
            assert_no_secret(&reason);
            reason
        }
        other => panic!("expected Reject, got {other:?}"),
    }
}

fn retried(d: Delivery) -> (Option<Duration>, String) {
    match d {
        Delivery::RetryLater { after, reason } => {
            assert_no_secret(&reason);
            (after, reason)
        }
        other => panic!("expected RetryLater, got {other:?}"),
    }
}

/// Discord's total: title + description + field names and values + footer, trimmed.
fn discord_total(v: &Value) -> usize {
    let s = |v: &Value| v.as_str().map_or(0, |s| s.trim().chars().count());
    let e = &v["embeds"][0];
    s(&e["title"])
        + s(&e["description"])
        + s(&e["footer"]["text"])
        + e["fields"].as_array().map_or(0, |f| {
            f.iter().map(|f| s(&f["name"]) + s(&f["value"])).sum()
        })
}

/// `shown` is `original` cut between whole grapheme clusters (the Unicode
/// segmentation library is the oracle) and marked with `…`.
fn assert_clean_cut(original: &str, shown: &str) {
    let kept = shown
        .strip_suffix('…')
        .unwrap_or_else(|| panic!("no cut mark at the end of {shown:?}"));
    assert!(original.starts_with(kept), "not a prefix: {kept:?}");
    assert!(
        is_cluster_boundary(original, kept.len()),
        "cut inside a cluster after {kept:?}"
    );
}

// ---- Discord ---------------------------------------------------------------

#[tokio::test]
async fn discord_embed_is_accepted_and_reads_well() {
    let p = Platform::discord().await;
    let ev = event(
        "security.login_failed",
        Severity::Warning,
        Some("🔐 Failed login for bob@example.com"),
        &[("email", "bob@example.com"), ("client", "203.0.113.7")],
        "2026-11-27 08:01:50.392 | WARNING  | open_webui.routers.auths:signin:301 - Failed login for bob@example.com",
    );
    assert_eq!(discord(&p).deliver(&ev).await, Delivery::Delivered);
    let seen = p.seen();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.query.as_deref(), Some("wait=true"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json["allowed_mentions"], json!({"parse": []}));
    let e = &r.json["embeds"][0];
    assert_eq!(e["title"], "security.login_failed");
    assert_eq!(e["color"], 0xE67E22);
    assert_eq!(e["timestamp"], TS);
    assert_eq!(
        e["fields"],
        json!([
            {"name": "client", "value": "203.0.113.7", "inline": true},
            {"name": "email", "value": "bob@example.com", "inline": true},
        ])
    );
    assert_eq!(
        e["footer"]["text"],
        "warning · open-webui on myhost · rule owui.security.login_failed"
    );
    let d = e["description"].as_str().unwrap();
    assert!(
        d.starts_with(
            "🔐 Failed login for bob@example.com\n```\n2026-11-27 08:01:50.392 | WARNING"
        ),
        "{d}"
    );
    assert!(d.ends_with("\n```"));
}

#[tokio::test]
async fn discord_description_at_4096() {
    let p = Platform::discord().await;
    let d = discord(&p);
    // Multi-byte on purpose: Discord counts characters, not bytes.
    let exact = "ệ".repeat(4096);
    assert_eq!(d.deliver(&simple(&exact)).await, Delivery::Delivered);
    let over = "ệ".repeat(4097);
    assert_eq!(d.deliver(&simple(&over)).await, Delivery::Delivered);
    let seen = p.seen();
    assert!(seen.iter().all(|s| s.problems.is_empty()));
    let d0 = seen[0].json["embeds"][0]["description"].as_str().unwrap();
    assert_eq!(d0, exact);
    let d1 = seen[1].json["embeds"][0]["description"].as_str().unwrap();
    assert_eq!(d1.chars().count(), 4096);
    assert_eq!(d1, format!("{}…", "ệ".repeat(4095)));
}

#[tokio::test]
async fn discord_25_fields_fit_and_26_say_more() {
    let p = Platform::discord().await;
    let d = discord(&p);
    let keys: Vec<String> = (1..=26).map(|i| format!("field{i:02}")).collect();
    let data: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "v")).collect();
    for n in [25, 26] {
        let ev = event(
            "config.changed",
            Severity::Notice,
            Some("Settings changed"),
            &data[..n],
            "",
        );
        assert_eq!(d.deliver(&ev).await, Delivery::Delivered);
    }
    let seen = p.seen();
    assert!(seen.iter().all(|s| s.problems.is_empty()));
    let f25 = seen[0].json["embeds"][0]["fields"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(f25.len(), 25);
    assert_eq!(f25[24]["name"], "field25");
    let f26 = seen[1].json["embeds"][0]["fields"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(f26.len(), 25);
    assert_eq!(f26[23]["name"], "field24");
    assert_eq!(f26[24]["name"], "+2 more fields");
}

#[tokio::test]
async fn discord_total_at_6000() {
    let p = Platform::discord().await;
    let d = discord(&p);
    let value = "x".repeat(1000);
    let data: Vec<(&str, &str)> = ["f1", "f2", "f3", "f4", "f5"]
        .iter()
        .map(|k| (*k, value.as_str()))
        .collect();
    let with = |m: usize| {
        event(
            "error.storm",
            Severity::Info,
            Some(&"m".repeat(m)),
            &data,
            "",
        )
    };
    // Everything but the message, measured once.
    let base = discord_total(&Discord::render(&with(1), &EN)) - 1;
    let exact = 6000 - base;
    assert!(exact < 4096, "the message alone must fit: {exact}");

    let v = Discord::render(&with(exact), &EN);
    assert_eq!(discord_total(&v), 6000);
    assert!(!v.to_string().contains('…'), "nothing cut at exactly 6000");

    let v = Discord::render(&with(exact + 1), &EN);
    assert!(discord_total(&v) <= 6000);
    let last = &v["embeds"][0]["fields"][4]["value"];
    assert!(last.as_str().unwrap().ends_with('…'), "{last}");

    for m in [exact, exact + 1] {
        assert_eq!(d.deliver(&with(m)).await, Delivery::Delivered);
    }
    assert!(p.seen().iter().all(|s| s.problems.is_empty()));
}

#[tokio::test]
async fn discord_huge_input_is_still_accepted() {
    let p = Platform::discord().await;
    let d = discord(&p);
    let big = "Người dùng 👩‍💻 đăng nhập thất bại 🇻🇳 ".repeat(300);
    let keys: Vec<String> = (0..40)
        .map(|i| format!("k{i:02}{}", "n".repeat(300)))
        .collect();
    let data: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), big.as_str())).collect();
    let log = format!(
        "2026-11-27 08:01:50.392 | ERROR | x - boom\nTraceback (most recent call last):\n{}ValueError: {big}",
        "  File \"/app/backend/open_webui/main.py\", line 1, in <module>\n".repeat(400)
    );
    let ev = event(
        "error.unhandled",
        Severity::Critical,
        Some(&big),
        &data,
        &log,
    );
    assert_eq!(d.deliver(&ev).await, Delivery::Delivered);
    let s = &p.seen()[0];
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert!(discord_total(&s.json) <= 6000);
    assert_eq!(s.json["embeds"][0]["color"], 0x992D22);
}

#[tokio::test]
async fn discord_log_text_cannot_mention_or_format() {
    let p = Platform::discord().await;
    let message =
        "@everyone @here <@123456> <@&42> **bold** __u__ ||spoiler|| [x](https://evil.example) `c`";
    let ev = event(
        "error.unhandled",
        Severity::Error,
        Some(message),
        &[("user", "# heading _x_ <#1>")],
        "line ```\n@everyone ``` end",
    );
    assert_eq!(discord(&p).deliver(&ev).await, Delivery::Delivered);
    let s = &p.seen()[0];
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert_eq!(s.json["allowed_mentions"], json!({"parse": []}));
    let e = &s.json["embeds"][0];
    let d = e["description"].as_str().unwrap();
    // Outside the code block every markdown character is escaped.
    let first = d.lines().next().unwrap();
    let mut prev = ' ';
    for c in first.chars() {
        let needs = "<*|[`".contains(c) || (c == '_' && !prev.is_alphanumeric());
        if needs {
            assert_eq!(prev, '\\', "{c} left as markdown in {first}");
        }
        prev = c;
    }
    assert_eq!(
        d.matches("```").count(),
        2,
        "log cannot close its code block: {d}"
    );
    // A person still reads exactly what was logged.
    let view = discord_view(&s.json);
    assert!(view.contains(message), "{view}");
    assert!(view.contains("[user] # heading _x_ <#1>"), "{view}");
    assert!(view.contains("line ```\n▌ @everyone ``` end"), "{view}");
}

#[tokio::test]
async fn discord_429_waits_as_discord_says() {
    let p = Platform::discord().await;
    let d = discord(&p);
    p.script(vec![
        Canned::json(
            429,
            include_str!("fixtures/api/discord-429-rate-limited.json"),
        )
        .header("retry-after", "65")
        .header("x-ratelimit-scope", "user"),
        Canned::json(
            429,
            include_str!("fixtures/api/discord-429-channel-write-limit.json"),
        )
        .header("retry-after", "3"),
        Canned::json(429, "").header("retry-after", "3"),
    ]);
    let ev = simple("📎 A file was uploaded");
    let (after, reason) = retried(d.deliver(&ev).await);
    assert_eq!(after, Some(Duration::from_secs_f64(64.57)));
    assert!(reason.contains("429"), "{reason}");
    let (after, reason) = retried(d.deliver(&ev).await);
    assert_eq!(after, Some(Duration::from_secs_f64(2.5)));
    assert!(reason.contains("write limit"), "{reason}");
    let (after, _) = retried(d.deliver(&ev).await);
    assert_eq!(after, Some(Duration::from_secs(3)));
    let statuses: Vec<u16> = p.seen().iter().map(|s| s.status).collect();
    assert_eq!(statuses, [429, 429, 429]);
}

#[tokio::test]
async fn discord_5xx_is_retried() {
    let p = Platform::discord().await;
    let d = discord(&p);
    p.script(vec![
        Canned::json(
            502,
            include_str!("fixtures/api/discord-502-bad-gateway.json"),
        ),
        Canned::text(503, "upstream connect error"),
    ]);
    let ev = simple("📎 A file was uploaded");
    let (_, reason) = retried(d.deliver(&ev).await);
    assert!(reason.contains("502"), "{reason}");
    retried(d.deliver(&ev).await);
    assert_eq!(d.deliver(&ev).await, Delivery::Delivered);
}

#[tokio::test]
async fn discord_permanent_errors_say_what_to_do() {
    let p = Platform::discord().await;
    let ev = simple("📎 A file was uploaded");

    // A deleted webhook: the fake knows no such id.
    let gone = format!("http://{}/api/webhooks/999/{DISCORD_TOKEN}", p.addr());
    let d = Discord::new(gone.parse().unwrap(), client(), &EN);
    let reason = rejected(d.deliver(&ev).await);
    assert!(
        reason.starts_with("Discord says this webhook no longer exists (404 Unknown Webhook, code 10015): create a new webhook in the channel settings"),
        "{reason}"
    );
    assert!(reason.contains("DISCORD_WEBHOOK_URL"));

    // The right id with a wrong token.
    let wrong = format!(
        "http://{}/api/webhooks/112233445566778899/not-the-token-at-all",
        p.addr()
    );
    let reason = rejected(
        Discord::new(wrong.parse().unwrap(), client(), &EN)
            .deliver(&ev)
            .await,
    );
    assert!(
        reason.contains("401")
            && reason.contains("token")
            && reason.contains("DISCORD_WEBHOOK_URL"),
        "{reason}"
    );
    assert!(!reason.contains("not-the-token-at-all"), "{reason}");

    let d = discord(&p);
    p.script(vec![
        Canned::json(
            403,
            include_str!("fixtures/api/discord-403-missing-access.json"),
        ),
        Canned::json(
            404,
            include_str!("fixtures/api/discord-404-unknown-webhook.json"),
        ),
        Canned::json(
            401,
            include_str!("fixtures/api/discord-401-invalid-webhook-token.json"),
        ),
        Canned::json(
            400,
            include_str!("fixtures/api/discord-400-invalid-form-body.json"),
        ),
    ]);
    let reason = rejected(d.deliver(&ev).await);
    assert!(
        reason.contains("403") && reason.contains("Missing Access"),
        "{reason}"
    );
    let reason = rejected(d.deliver(&ev).await);
    assert!(reason.contains("no longer exists"), "{reason}");
    let reason = rejected(d.deliver(&ev).await);
    assert!(
        reason.contains("Invalid Webhook Token, code 50027"),
        "{reason}"
    );
    let reason = rejected(d.deliver(&ev).await);
    assert!(
        reason.contains("50035") && reason.contains("bug in owui-bridge"),
        "{reason}"
    );
    assert!(!d.describe().contains(DISCORD_TOKEN));
}

#[tokio::test]
async fn discord_paces_by_rate_limit_headers() {
    let p = Platform::discord().await;
    let d = discord(&p);
    let ok = r#"{"id":"1","type":0,"content":"","channel_id":"2"}"#;
    p.script(vec![Canned::json(200, ok)
        .header("x-ratelimit-limit", "5")
        .header("x-ratelimit-remaining", "0")
        .header("x-ratelimit-reset-after", "0.6")]);
    let ev = simple("📎 A file was uploaded");
    for _ in 0..3 {
        assert_eq!(d.deliver(&ev).await, Delivery::Delivered);
    }
    let seen = p.seen();
    let gap1 = seen[1].at - seen[0].at;
    let gap2 = seen[2].at - seen[1].at;
    assert!(
        gap1 >= Duration::from_millis(550),
        "bucket empty: waited only {gap1:?}"
    );
    assert!(
        gap2 < Duration::from_millis(400),
        "bucket had room: waited {gap2:?}"
    );
}

#[tokio::test]
async fn unreachable_platforms_are_retried_without_leaking_tokens() {
    // A port nothing listens on.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let ev = simple("📎 A file was uploaded");
    let d = Discord::new(
        format!("http://{addr}/api/webhooks/1/{DISCORD_TOKEN}")
            .parse()
            .unwrap(),
        client(),
        &EN,
    );
    let (_, reason) = retried(d.deliver(&ev).await);
    assert!(reason.starts_with("Discord: cannot connect"), "{reason}");
    let s = Slack::new(
        format!("http://{addr}{SLACK_PATH}").parse().unwrap(),
        client(),
        &EN,
    );
    retried(s.deliver(&ev).await);
    let t = Telegram::new(telegram_cfg(&format!("http://{addr}")), client(), &EN);
    let (_, reason) = retried(t.deliver(&ev).await);
    assert!(reason.starts_with("Telegram: cannot connect"), "{reason}");
}

// ---- Slack -----------------------------------------------------------------

#[tokio::test]
async fn slack_blocks_are_accepted_and_log_text_cannot_ping() {
    let p = Platform::slack().await;
    let message = "Hi <!channel> & <!here> <@U024BE7LH> <https://evil.example|click me> *not bold*";
    let ev = event(
        "error.unhandled",
        Severity::Error,
        Some(message),
        &[("path", "/api/v1/chats/<id>"), ("user", "<!everyone>")],
        "Traceback (most recent call last):\n```\nValueError: <!channel> & more",
    );
    assert_eq!(slack(&p).deliver(&ev).await, Delivery::Delivered);
    let s = &p.seen()[0];
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert_eq!(s.header("content-type"), Some("application/json"));
    let body = s.body_text();
    for raw in [
        "<!channel>",
        "<!here>",
        "<!everyone>",
        "<@U024BE7LH>",
        "<https://evil",
    ] {
        assert!(!body.contains(raw), "{raw} reached Slack unescaped");
    }
    assert!(
        body.contains("&lt;!channel&gt; &amp; &lt;!here&gt;"),
        "{body}"
    );
    // The only control sequence is our own date.
    assert_eq!(body.matches('<').count(), 1, "{body}");
    assert!(body.contains("<!date^1795766510^"));
    assert_eq!(s.json["unfurl_links"], false);
    let blocks = s.json["blocks"].as_array().unwrap();
    let kinds: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["header", "section", "section", "section", "context"]
    );
    let view = slack_view(&s.json);
    assert!(view.contains(message), "{view}");
    assert!(view.contains("*user* <!everyone>"), "{view}");
}

#[tokio::test]
async fn slack_section_at_3000_and_field_at_2000() {
    let p = Platform::slack().await;
    let sl = slack(&p);
    // Escapes count: 750 × "<" is 3000 characters as sent.
    for (m, cut) in [
        ("ệ".repeat(3000), false),
        ("ệ".repeat(3001), true),
        ("<".repeat(750), false),
        ("<".repeat(751), true),
    ] {
        assert_eq!(sl.deliver(&simple(&m)).await, Delivery::Delivered);
        let s = p.seen().pop().unwrap();
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        let text = s.json["blocks"][1]["text"]["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(text.chars().count() <= 3000);
        assert_eq!(
            text.ends_with('…'),
            cut,
            "{}",
            &text[text.len().saturating_sub(20)..]
        );
        assert!(
            !text.contains("&l…") && !text.contains("&…"),
            "escape split"
        );
    }
    // "*k*\n" + value: a 1996-character value makes exactly 2000.
    for (n, cut) in [(1996, false), (1997, true)] {
        let v = "đ".repeat(n);
        let ev = event("file.uploaded", Severity::Info, Some("x"), &[("k", &v)], "");
        assert_eq!(sl.deliver(&ev).await, Delivery::Delivered);
        let s = p.seen().pop().unwrap();
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        let f = s.json["blocks"][2]["fields"][0]["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(f.chars().count(), 2000);
        assert_eq!(f.ends_with('…'), cut);
    }
}

#[tokio::test]
async fn slack_many_fields_stay_within_the_block_limit() {
    let p = Platform::slack().await;
    let keys: Vec<String> = (0..200).map(|i| format!("k{i:03}")).collect();
    let big = "&".repeat(3000);
    let data: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), big.as_str())).collect();
    let ev = event("error.storm", Severity::Critical, Some(&big), &data, &big);
    assert_eq!(slack(&p).deliver(&ev).await, Delivery::Delivered);
    let s = &p.seen()[0];
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert!(s.json["blocks"].as_array().unwrap().len() <= 50);
    assert!(s.body_text().contains("+170 more fields"));
}

#[tokio::test]
async fn slack_429_5xx_and_errors() {
    let p = Platform::slack().await;
    let sl = slack(&p);
    let ev = simple("📎 A file was uploaded");
    let fixture = |name: &str| match name {
        "no_service" => include_str!("fixtures/api/slack-404-no_service.txt"),
        "channel_not_found" => include_str!("fixtures/api/slack-404-channel_not_found.txt"),
        "channel_is_archived" => include_str!("fixtures/api/slack-410-channel_is_archived.txt"),
        "invalid_token" => include_str!("fixtures/api/slack-403-invalid_token.txt"),
        "action_prohibited" => include_str!("fixtures/api/slack-403-action_prohibited.txt"),
        "rollup_error" => include_str!("fixtures/api/slack-500-rollup_error.txt"),
        "invalid_blocks" => include_str!("fixtures/api/slack-400-invalid_blocks.txt"),
        _ => unreachable!(),
    };
    p.script(vec![
        Canned::text(429, "rate_limited").header("retry-after", "30"),
        Canned::text(500, fixture("rollup_error")),
        Canned::text(404, fixture("no_service")),
        Canned::text(404, fixture("channel_not_found")),
        Canned::text(410, fixture("channel_is_archived")),
        Canned::text(403, fixture("invalid_token")),
        Canned::text(403, fixture("action_prohibited")),
        Canned::text(400, fixture("invalid_blocks")),
    ]);
    let (after, _) = retried(sl.deliver(&ev).await);
    assert_eq!(after, Some(Duration::from_secs(30)));
    let (_, reason) = retried(sl.deliver(&ev).await);
    assert!(reason.contains("500 rollup_error"), "{reason}");
    let reason = rejected(sl.deliver(&ev).await);
    assert_eq!(reason, "Slack says this webhook no longer exists (404 no_service): the app was removed, the webhook revoked or its channel deleted; create a new incoming webhook and set SLACK_WEBHOOK_URL");
    let reason = rejected(sl.deliver(&ev).await);
    assert!(
        reason.contains("no longer exists (404 channel_not_found)"),
        "{reason}"
    );
    let reason = rejected(sl.deliver(&ev).await);
    assert!(
        reason.contains("archived (410 channel_is_archived)") && reason.contains("unarchive"),
        "{reason}"
    );
    let reason = rejected(sl.deliver(&ev).await);
    assert!(
        reason.contains("token (403 invalid_token)") && reason.contains("SLACK_WEBHOOK_URL"),
        "{reason}"
    );
    let reason = rejected(sl.deliver(&ev).await);
    assert!(
        reason.contains("admin") && reason.contains("403 action_prohibited"),
        "{reason}"
    );
    let reason = rejected(sl.deliver(&ev).await);
    assert!(reason.contains("bug in owui-bridge"), "{reason}");

    // A revoked webhook, as the fake answers it on its own.
    let gone = format!("http://{}/services/T0/B0/revokedrevokedrevoked", p.addr());
    let reason = rejected(
        Slack::new(gone.parse().unwrap(), client(), &EN)
            .deliver(&ev)
            .await,
    );
    assert!(
        reason.contains("404 no_service") && !reason.contains("revokedrevokedrevoked"),
        "{reason}"
    );
    assert!(!sl.describe().contains(SLACK_SECRET));
}

// ---- Telegram --------------------------------------------------------------

#[tokio::test]
async fn telegram_message_is_accepted_and_reads_well() {
    let p = Platform::telegram().await;
    let t = telegram(&p);
    let ev = event(
        "user.created",
        Severity::Info,
        Some("👤 A new user signed up (from 172.18.0.1)"),
        &[("client", "172.18.0.1"), ("via", "signup")],
        "",
    );
    assert_eq!(t.deliver(&ev).await, Delivery::Delivered);
    let s = &p.seen()[0];
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert_eq!(s.path, format!("/bot{TELEGRAM_TOKEN}/sendMessage"));
    assert_eq!(s.header("content-type"), Some("application/json"));
    assert_eq!(s.json["chat_id"], json!(-1001234567890i64));
    assert_eq!(s.json["message_thread_id"], 42);
    assert_eq!(s.json["parse_mode"], "HTML");
    assert_eq!(s.json["link_preview_options"], json!({"is_disabled": true}));
    assert_eq!(
        telegram_view(&s.json),
        "🔵 user.created\n👤 A new user signed up (from 172.18.0.1)\n\nclient: 172.18.0.1\nvia: signup\n\ninfo · open-webui on myhost · 2026-11-27 08:01:50 UTC · rule owui.user.created"
    );
    let d = t.describe();
    assert!(
        !d.contains(TELEGRAM_TOKEN) && d.contains("bot ****") && d.contains("-1001234567890"),
        "{d}"
    );
}

#[tokio::test]
async fn telegram_text_at_4096() {
    let p = Platform::telegram().await;
    let t = telegram(&p);
    let text = |m: &str| Telegram::text(&simple(m), &EN);
    let visible = |m: &str| telegram_len(&telegram_parse_html(&text(m)).unwrap());
    let base = visible("x") - 1;
    let exact = 4096 - base;
    let m = "ệ".repeat(exact);
    assert_eq!(visible(&m), 4096);
    assert!(!text(&m).contains('…'));
    let over = "ệ".repeat(exact + 1);
    assert_eq!(visible(&over), 4096);
    assert!(text(&over).contains("ệ…\n"));
    // Emoji are two UTF-16 units each: still within 4096 whatever Telegram counts.
    let emoji = "😀".repeat(4000);
    assert!(visible(&emoji) <= 4096);
    for m in [m, over, emoji] {
        assert_eq!(t.deliver(&simple(&m)).await, Delivery::Delivered);
    }
    assert!(p.seen().iter().all(|s| s.problems.is_empty()));
}

#[tokio::test]
async fn telegram_html_from_logs_is_escaped_and_well_formed() {
    let p = Platform::telegram().await;
    let message = "<b>not bold</b> & <script>alert(1)</script> &amp; 5 > 3 <a href=\"x\">";
    let mut log = String::from("2026-11-27 08:01:50.392 | ERROR | open_webui.main:x:1 - Exception in ASGI application\nTraceback (most recent call last):\n");
    for i in 0..300 {
        log.push_str(&format!(
            "  File \"/app/x{i}.py\", line {i}, in <module> & <lambda>\n"
        ));
    }
    log.push_str("ValueError: <unprintable> & </pre> breaks nothing");
    let ev = event(
        "error.unhandled",
        Severity::Error,
        Some(message),
        &[("user", "<i>x</i>"), ("path", "/api/v1/chats/?a=1&b=2")],
        &log,
    );
    assert_eq!(telegram(&p).deliver(&ev).await, Delivery::Delivered);
    let s = &p.seen()[0];
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    let view = telegram_view(&s.json);
    assert!(view.contains(message), "{view}");
    assert!(view.contains("user: <i>x</i>"), "{view}");
    assert!(view.contains("path: /api/v1/chats/?a=1&b=2"), "{view}");
    assert!(
        view.contains("Exception in ASGI application\n…\n"),
        "{view}"
    );
    assert!(
        view.contains("ValueError: <unprintable> & </pre> breaks nothing\n\nerror · "),
        "{view}"
    );
}

#[tokio::test]
async fn telegram_429_5xx_and_errors() {
    let p = Platform::telegram().await;
    let t = telegram(&p);
    let ev = simple("📎 A file was uploaded");
    p.script(vec![
        Canned::json(
            429,
            include_str!("fixtures/api/telegram-429-too-many-requests.json"),
        ),
        Canned::json(
            502,
            include_str!("fixtures/api/telegram-502-bad-gateway.json"),
        ),
        Canned::json(
            400,
            include_str!("fixtures/api/telegram-400-chat-not-found.json"),
        ),
        Canned::json(400, include_str!("fixtures/api/telegram-400-migrated.json")),
        Canned::json(
            400,
            include_str!("fixtures/api/telegram-400-thread-not-found.json"),
        ),
        Canned::json(403, include_str!("fixtures/api/telegram-403-blocked.json")),
        Canned::json(403, include_str!("fixtures/api/telegram-403-kicked.json")),
        Canned::json(
            401,
            include_str!("fixtures/api/telegram-401-unauthorized.json"),
        ),
    ]);
    let (after, reason) = retried(t.deliver(&ev).await);
    assert_eq!(after, Some(Duration::from_secs(35)));
    assert!(reason.contains("retry_after"), "{reason}");
    let (_, reason) = retried(t.deliver(&ev).await);
    assert!(reason.contains("502 Bad Gateway"), "{reason}");
    let reason = rejected(t.deliver(&ev).await);
    assert_eq!(reason, "Telegram cannot find chat -1001234567890 (400 Bad Request: chat not found): check TELEGRAM_CHAT_ID and send /start to the bot (or add it to the group)");
    let reason = rejected(t.deliver(&ev).await);
    assert!(
        reason.contains("set TELEGRAM_CHAT_ID=-1001987654321"),
        "{reason}"
    );
    let reason = rejected(t.deliver(&ev).await);
    assert!(
        reason.contains("TELEGRAM_THREAD_ID") && reason.contains("topic 42"),
        "{reason}"
    );
    let reason = rejected(t.deliver(&ev).await);
    assert!(
        reason.contains("blocked the bot") && reason.contains("/start"),
        "{reason}"
    );
    let reason = rejected(t.deliver(&ev).await);
    assert!(reason.contains("add it back"), "{reason}");
    let reason = rejected(t.deliver(&ev).await);
    assert!(
        reason.contains("TELEGRAM_BOT_TOKEN") && reason.contains("@BotFather"),
        "{reason}"
    );

    // A wrong token, as the fake answers it on its own: 401, and the token never shown.
    let cfg = TelegramConfig::new(
        p.url().parse().unwrap(),
        "987654321:WRONGwrongWRONGwrongWRONGwrong12345",
        "-1001234567890",
        Some(42),
    )
    .unwrap();
    let wrong = Telegram::new(cfg, client(), &EN);
    let reason = rejected(wrong.deliver(&ev).await);
    assert!(
        reason.starts_with("Telegram does not accept TELEGRAM_BOT_TOKEN (401 Unauthorized)"),
        "{reason}"
    );
    assert!(!reason.contains("WRONGwrong") && !wrong.describe().contains("WRONGwrong"));
}

// ---- all three -------------------------------------------------------------

#[tokio::test]
async fn vietnamese_and_emoji_are_never_cut_mid_character() {
    let dp = Platform::discord().await;
    let sp = Platform::slack().await;
    let tp = Platform::telegram().await;
    let (d, s, t) = (discord(&dp), slack(&sp), telegram(&tp));
    let texts = [
        "Người dùng đã đăng nhập thất bại 👩‍💻🇻🇳👍🏽 ".repeat(400),
        // Decomposed (NFD) Vietnamese: letters followed by combining marks.
        "Nguye\u{0323}\u{0302}n Va\u{0306}n A\u{0300} ".repeat(1200),
        "🇻🇳".repeat(3000),
        // Hindi: vowel signs and viramas join the letter before them.
        "नमस्ते दुनिया, क्षत्रिय श्री हिन्दी ".repeat(600),
        // Emoji ZWJ families and a tag sequence (the Scottish flag).
        "👨‍👩‍👧‍👦🏴󠁧󠁢󠁳󠁣󠁴󠁿 ".repeat(700),
    ];
    for text in &texts {
        // Every cut point near each limit, so no alignment can hide a split.
        for extra in 0..6 {
            // Start at a cluster boundary: a text cannot begin inside a cluster.
            let from = text
                .char_indices()
                .map(|(i, _)| i)
                .filter(|&i| is_cluster_boundary(text, i))
                .nth(extra)
                .unwrap_or(0);
            let m = text[from..].trim_start();
            let ev = simple(m);
            assert_eq!(d.deliver(&ev).await, Delivery::Delivered);
            assert_eq!(s.deliver(&ev).await, Delivery::Delivered);
            assert_eq!(t.deliver(&ev).await, Delivery::Delivered);
            let dj = dp.seen().pop().unwrap();
            assert!(dj.problems.is_empty(), "{:?}", dj.problems);
            assert_clean_cut(m, dj.json["embeds"][0]["description"].as_str().unwrap());
            let sj = sp.seen().pop().unwrap();
            assert!(sj.problems.is_empty(), "{:?}", sj.problems);
            assert_clean_cut(m, sj.json["blocks"][1]["text"]["text"].as_str().unwrap());
            let tj = tp.seen().pop().unwrap();
            assert!(tj.problems.is_empty(), "{:?}", tj.problems);
            let view = telegram_view(&tj.json);
            assert_clean_cut(m, view.lines().nth(1).unwrap());
        }
    }
}

/// One sample per platform, written out to be looked at as a person would.
#[test]
fn samples_for_a_person() {
    let ev = event(
        "error.unhandled",
        Severity::Error,
        Some("💥 Unhandled error in /api/chat/completions: ValueError"),
        &[
            ("path", "/api/chat/completions"),
            ("method", "POST"),
            ("exception", "ValueError: model 'llama3:8b' not found"),
            ("user", "bob@example.com"),
        ],
        "2026-11-27 08:01:50.392 | ERROR    | open_webui.main:process_chat:1422 - Exception in ASGI application\nTraceback (most recent call last):\n  File \"/app/backend/open_webui/main.py\", line 1418, in process_chat\n    return await chat_completion(form_data, user)\n  File \"/app/backend/open_webui/utils/chat.py\", line 233, in chat_completion\n    raise ValueError(f\"model '{model_id}' not found\")\nValueError: model 'llama3:8b' not found",
    );
    let routine = event(
        "file.uploaded",
        Severity::Info,
        Some("📎 A file was uploaded (from 172.18.0.1)"),
        &[("client", "172.18.0.1"), ("status", "200")],
        "2026-11-27 08:01:50.392 | INFO     | uvicorn.protocols.http.httptools_impl:send:482 - 172.18.0.1:38040 - \"POST /api/v1/files/ HTTP/1.1\" 200",
    );
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("chat-samples");
    std::fs::create_dir_all(&dir).unwrap();
    let tg = Telegram::new(telegram_cfg("https://api.telegram.org"), client(), &EN);
    let mut files: BTreeMap<&str, String> = BTreeMap::new();
    for ev in [&ev, &routine] {
        let d = Discord::render(ev, &EN);
        assert!(discord_problems(&d).is_empty());
        let s = Slack::render(ev, &EN);
        assert!(slack_problems(&s).is_empty());
        let t = tg.render(ev).remove(0);
        telegram_parse_html(t["text"].as_str().unwrap()).unwrap();
        for (name, json, view) in [
            ("discord", &d, discord_view(&d)),
            ("slack", &s, slack_view(&s)),
            ("telegram", &t, telegram_view(&t)),
        ] {
            files.entry(name).or_default().push_str(&format!(
                "{view}\n---- request body ----\n{}\n\n",
                serde_json::to_string_pretty(json).unwrap()
            ));
        }
    }
    for (name, out) in files {
        std::fs::write(dir.join(format!("{name}.txt")), out).unwrap();
    }
}

/// Slack and Telegram ask senders to keep under a rate rather than telling
/// them (one message a second per Slack webhook; for Telegram one a second per
/// chat and 20 a minute per group): a burst of events reaches each fake no
/// faster than that, through the real binary's delivery loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_and_telegram_groups_are_paced_without_waiting_for_a_429() {
    use crate::support::bridge::{append, upload_line, Scratch};
    let s = Scratch::new();
    let slack = Platform::slack().await;
    let telegram = Platform::telegram().await;
    let log = s.path("owui.log");
    append(
        &log,
        &(1..=3)
            .map(|n| upload_line(n, &format!("203.0.113.{n}")))
            .collect::<Vec<_>>(),
    );
    let source = format!("file:{}", log.display());
    let (slack_url, telegram_url) = (slack.url(), telegram.url());
    let env = [
        ("SLACK_WEBHOOK_URL", slack_url.as_str()),
        ("TELEGRAM_BOT_TOKEN", TELEGRAM_TOKEN),
        ("TELEGRAM_CHAT_ID", "-1001234567890"),
        ("TELEGRAM_API_URL", telegram_url.as_str()),
        ("BRIDGE_SINCE", "24h"),
    ];
    let bridge = s.spawn(&["run", "--source", &source], &env, "bridge.log");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while (slack.seen().len() < 3 || telegram.seen().len() < 3)
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (platform, seen, least) in [
        ("slack", slack.seen(), Duration::from_millis(990)),
        (
            "telegram group",
            telegram.seen(),
            Duration::from_millis(2990),
        ),
    ] {
        assert_eq!(seen.len(), 3, "{platform}: {}", bridge.log_text());
        assert!(seen
            .iter()
            .all(|r| r.status == 200 && r.problems.is_empty()));
        for pair in seen.windows(2) {
            let gap = pair[1].at - pair[0].at;
            assert!(gap >= least, "{platform}: {gap:?} between two messages");
        }
    }
    bridge.terminate();
}
