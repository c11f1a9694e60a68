//! The Discord, Slack and Telegram renderers, in English and Vietnamese, on
//! any event text: the message always passes the platform's own checks (the
//! loopback stand-ins' oracle: every length limit, Telegram's HTML, Discord's
//! mentions switched off).
#![no_main]

#[path = "../../tests/support/platform_rules.rs"]
#[allow(dead_code)]
mod platform_rules;

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use owui_bridge::config::Language;
use owui_bridge::event::{Event, Identity, Parts, Severity};
use owui_bridge::record::origin::Origin;
use owui_bridge::sink::chat::words;
use owui_bridge::sink::discord::Discord;
use owui_bridge::sink::slack::Slack;
use owui_bridge::sink::telegram::Telegram;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    // Fields separated by 0xFF (never in UTF-8): event, rule, message, log, container, then key/value pairs.
    let parts: Vec<String> = rest
        .split(|&b| b == 0xFF)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    let get = |i: usize| parts.get(i).cloned().unwrap_or_default();
    let event = get(0);
    let data: BTreeMap<String, String> = parts
        .get(5..)
        .unwrap_or_default()
        .chunks(2)
        .map(|kv| (kv[0].clone(), kv.get(1).cloned().unwrap_or_default()))
        .collect();
    let severity = match (flags >> 4) % 5 {
        0 => Severity::Info,
        1 => Severity::Notice,
        2 => Severity::Warning,
        3 => Severity::Error,
        _ => Severity::Critical,
    };
    let source = if flags & 4 == 0 {
        Origin::container(&get(4), None)
    } else {
        Origin::local("stdin", Some(get(4)))
    };
    let log = get(3);
    let ev = Event::build(
        Identity::Now { event: &event },
        Parts {
            event: event.clone(),
            rule: get(1),
            severity,
            message: (flags & 8 == 0).then(|| get(2)),
            timestamp: chrono::DateTime::from_timestamp(i64::from(flags) * 86_400, 0).unwrap(),
            source,
            data,
            log: &log,
        },
    );
    for lang in [Language::En, Language::Vi] {
        let w = words(lang);
        let d = Discord::render(&ev, w);
        let problems = platform_rules::discord_problems(&d);
        assert!(
            problems.is_empty(),
            "Discord would refuse {d}: {problems:?}"
        );
        let s = Slack::render(&ev, w);
        let problems = platform_rules::slack_problems(&s);
        assert!(problems.is_empty(), "Slack would refuse {s}: {problems:?}");
        let t = Telegram::text(&ev, w);
        let visible = platform_rules::telegram_parse_html(&t)
            .unwrap_or_else(|e| panic!("Telegram would refuse {t:?}: {e}"));
        assert!(
            platform_rules::telegram_len(&visible) <= 4096,
            "Telegram: too long"
        );
        assert!(!visible.is_empty(), "Telegram: empty text");
    }
});
