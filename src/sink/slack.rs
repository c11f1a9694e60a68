//! Slack incoming webhooks: a `text` fallback (notifications, old clients) plus
//! Block Kit blocks.
//!
//! Owns the blocks' shape and Slack's limits, and the mapping of Slack's
//! plain-text answers (`ok`, `no_service`, `channel_is_archived`, …) to
//! [`Delivery`]. Does not own retries or queues.
//!
//! The message, top to bottom: a header (severity mark and event name), a
//! section with the rule's message, sections of two-column fields for `data`,
//! for warnings and worse the end of the log record in a code block, and a
//! context line with severity, source, the record's time (shown in each
//! reader's own time zone) and the rule.
//!
//! Escaping: in every text Slack reads, `&`, `<` and `>` — and only those —
//! become `&amp;`, `&lt;`, `&gt;`, so log text cannot form `<!channel>`,
//! `<@U…>` or a link. Limits are counted on the escaped text (never low):
//! header 150, section text 3000, a field 2000, 10 fields per section, 50 blocks.
//! Text over a limit is cut between whole characters and ends with `…`.

use std::time::Duration;

use reqwest::Url;
use serde_json::{json, Value};

use super::chat::{self, Words};
use super::http;
use super::retry::Delivery;
use super::text::Escaper;
use crate::event::Event;
use crate::secret::mask_url;

pub const HEADER_MAX: usize = 150;
pub const SECTION_MAX: usize = 3000;
pub const FIELD_MAX: usize = 2000;
pub const FIELDS_PER_SECTION: usize = 10;
pub const BLOCKS_MAX: usize = 50;

/// Data fields shown; more become a `+N more fields` line (three sections of
/// ten read well; Slack's block limit is far away).
const FIELDS_SHOWN: usize = 30;
/// The notification text: a line, not an essay.
const FALLBACK_MAX: usize = 500;
/// At most this much of the log record.
const LOG_MAX: usize = 1500;

pub struct Slack {
    pub name: String,
    url: Url,
    client: reqwest::Client,
    words: &'static Words,
}

fn push_slack(_: Option<char>, c: char, out: &mut String) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        _ => out.push(c),
    }
}

fn cost_slack(_: Option<char>, c: char) -> usize {
    match c {
        '&' => 5,
        '<' | '>' => 4,
        _ => 1,
    }
}

/// Slack's three control characters escaped; counted as sent.
pub const ESCAPE: Escaper = Escaper {
    push: push_slack,
    cost: cost_slack,
};

fn push_slack_code(prev: Option<char>, c: char, out: &mut String) {
    push_slack(prev, c, out);
    if c == '`' {
        // A zero-width space after every backtick: "```" can never close the block.
        out.push('\u{200B}');
    }
}

fn cost_slack_code(prev: Option<char>, c: char) -> usize {
    cost_slack(prev, c) + usize::from(c == '`')
}

/// Inside a ``` block: the same escaping, and no fence can form.
pub const CODE: Escaper = Escaper {
    push: push_slack_code,
    cost: cost_slack_code,
};

fn mrkdwn(text: String) -> Value {
    json!({"type": "mrkdwn", "text": text})
}

impl Slack {
    pub fn new(url: Url, client: reqwest::Client, words: &'static Words) -> Slack {
        Slack {
            name: "slack".into(),
            url,
            client,
            words,
        }
    }

    /// Where [`super::Sink::probe`] asks whether the receiver answers again.
    pub(super) fn probe_target(&self) -> (&reqwest::Client, reqwest::Url) {
        (&self.client, self.url.clone())
    }

    /// The URL without its secret path.
    pub fn describe(&self) -> String {
        mask_url(&self.url)
    }

    /// The webhook JSON for `ev`.
    pub fn render(ev: &Event, w: &'static Words) -> Value {
        let p = chat::payload(ev);
        let mark = chat::emoji(ev.severity);
        let (headline, used_key) = chat::headline(ev, &p, w);
        let mut blocks = Vec::new();

        let header = format!("{mark} {}", ev.event.trim());
        blocks.push(json!({
            "type": "header",
            "text": {"type": "plain_text", "text": ESCAPE.fit(&header, HEADER_MAX).text, "emoji": true},
        }));
        blocks.push(json!({
            "type": "section",
            "text": mrkdwn(ESCAPE.fit(&headline, SECTION_MAX).text),
        }));

        let entries = chat::data_fields(&p, used_key.as_deref(), w);
        let shown = &entries[..entries.len().min(FIELDS_SHOWN)];
        for chunk in shown.chunks(FIELDS_PER_SECTION) {
            let fields: Vec<Value> = chunk
                .iter()
                .map(|(k, v)| {
                    let key = ESCAPE.fit(k, 100);
                    // "*key*\nvalue": the key, its bold marks and the line break.
                    let value = ESCAPE.fit(v, FIELD_MAX - key.cost - 3);
                    mrkdwn(format!("*{}*\n{}", key.text, value.text))
                })
                .collect();
            blocks.push(json!({"type": "section", "fields": fields}));
        }
        if entries.len() > shown.len() {
            let more = entries.len() - shown.len();
            blocks.push(json!({
                "type": "context",
                "elements": [mrkdwn(w.more_fields(more))],
            }));
        }

        if chat::shows_log(ev, &p) {
            const OPEN: &str = "```\n";
            const CLOSE: &str = "\n```";
            let room = (SECTION_MAX - OPEN.len() - CLOSE.len()).min(LOG_MAX);
            let log = CODE.excerpt(&p.log, room);
            blocks.push(json!({
                "type": "section",
                "text": mrkdwn(format!("{OPEN}{}{CLOSE}", log.text)),
            }));
        }

        // Each part is short, so the line stays far below SECTION_MAX.
        let mut context = format!(
            "{mark} {} · {}",
            w.severity(ev.severity),
            ESCAPE.fit(&chat::source_label(&p.source, w), 300).text
        );
        if let (Some(unix), Some(shown)) = (
            chat::unix_time(&p.timestamp),
            chat::display_time(&p.timestamp),
        ) {
            // Slack shows this in the reader's own time zone; the text after `|`
            // is the fallback.
            context.push_str(&format!(
                " · <!date^{unix}^{{date_short_pretty}} at {{time_secs}}|{shown}>"
            ));
        }
        context.push_str(" · rule ");
        context.push_str(&ESCAPE.fit(&ev.rule, 300).text);
        blocks.push(json!({"type": "context", "elements": [mrkdwn(context)]}));
        blocks.truncate(BLOCKS_MAX);

        let fallback = format!("{mark} {}: {headline}", ev.event.trim());
        json!({
            "text": ESCAPE.fit(&fallback, FALLBACK_MAX).text,
            "blocks": blocks,
            "unfurl_links": false,
            "unfurl_media": false,
        })
    }

    pub async fn deliver(&self, ev: &Event) -> Delivery {
        let outcome = match http::post_json(
            &self.client,
            self.url.clone(),
            &Self::render(ev, self.words),
        )
        .await
        {
            Ok(a) => outcome(a.status, &a.text, a.retry_after()),
            Err(e) => Delivery::RetryLater {
                after: None,
                reason: format!("Slack: {e}"),
            },
        };
        outcome.map_reason(|r| self.scrub(r))
    }

    /// No webhook URL or its secret in reasons.
    fn scrub(&self, reason: String) -> String {
        http::scrub_url(reason, &self.url, "<slack webhook>")
    }
}

/// What Slack's answer means: status plus the error word in the body.
fn outcome(status: u16, body: &str, retry_after: Option<Duration>) -> Delivery {
    let word = crate::event::cut(body.lines().next().unwrap_or("").trim(), 200);
    if (200..300).contains(&status) {
        return Delivery::Delivered;
    }
    let said = if word.is_empty() {
        format!("{status}")
    } else {
        format!("{status} {word}")
    };
    let reject = |what: &str| Delivery::Reject {
        reason: format!("{what} ({said})"),
    };
    match (status, word) {
        (429, _) => Delivery::RetryLater {
            after: retry_after,
            reason: format!(
                "Slack: 429 Too Many Requests{}",
                retry_after.map_or(String::new(), |d| format!(
                    "; waiting {}s as Slack asks (Retry-After)",
                    d.as_secs_f64()
                ))
            ),
        },
        (408 | 425 | 500..=599, _) => Delivery::RetryLater {
            after: retry_after,
            reason: format!("Slack answered {said}; retrying"),
        },
        (_, "no_service" | "no_service_id" | "no_active_hooks" | "channel_not_found") | (404, _) => Delivery::Reject {
            reason: format!(
                "Slack says this webhook no longer exists ({said}): the app was removed, the webhook revoked or its channel deleted; create a new incoming webhook and set SLACK_WEBHOOK_URL"
            ),
        },
        (_, "channel_is_archived") | (410, _) => Delivery::Reject {
            reason: format!(
                "Slack says the webhook's channel is archived ({said}): unarchive the channel, or create an incoming webhook for another channel and set SLACK_WEBHOOK_URL"
            ),
        },
        (_, "invalid_token" | "team_disabled" | "no_team") => Delivery::Reject {
            reason: format!(
                "Slack does not accept this webhook's token ({said}): create a new incoming webhook and set SLACK_WEBHOOK_URL"
            ),
        },
        (_, "action_prohibited") => reject(
            "Slack refused: a workspace admin restricted posting to this channel; ask an admin to allow the app, or create a webhook for another channel and set SLACK_WEBHOOK_URL",
        ),
        (_, "posting_to_general_channel_denied") => reject(
            "Slack refused: only admins may post to this channel; create the webhook for another channel and set SLACK_WEBHOOK_URL",
        ),
        (_, "user_not_found") => reject(
            "Slack cannot find the user this webhook posts to; create a new incoming webhook and set SLACK_WEBHOOK_URL",
        ),
        (_, "invalid_payload" | "invalid_blocks" | "invalid_blocks_format" | "no_text" | "too_many_attachments") => Delivery::Reject {
            reason: format!(
                "Slack rejected the message as invalid ({said}); retrying cannot help. This is a bug in owui-bridge: please report it with the event name"
            ),
        },
        (300..=399, _) => reject(
            "Slack answered with a redirect; set SLACK_WEBHOOK_URL to the webhook URL exactly as Slack shows it (https://hooks.slack.com/services/…)",
        ),
        (401 | 403, _) => Delivery::Reject {
            reason: format!(
                "Slack refused the webhook ({said}): check SLACK_WEBHOOK_URL, or create a new incoming webhook"
            ),
        },
        _ => Delivery::Reject {
            reason: format!("Slack answered {said}; retrying cannot help"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Payload, Severity};
    use crate::record::Origin;

    fn ev(severity: Severity, message: &str, data: &[(&str, &str)], log: &str) -> Event {
        let p = Payload {
            id: "evt_1".into(),
            event: "error.unhandled".into(),
            timestamp: "2026-11-27T08:01:50.392Z".into(),
            source: Origin {
                container: Some("open-webui".into()),
                container_id: None,
                stream: "stderr".into(),
                host: "myhost".into(),
                file: None,
            },
            data: data
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            log: log.into(),
        };
        Event {
            id: "evt_1".into(),
            event: p.event.clone(),
            rule: "owui.error".into(),
            severity,
            message: Some(message.into()),
            body: serde_json::to_string(&p).unwrap(),
        }
    }

    #[test]
    fn blocks_and_escaping() {
        let v = Slack::render(
            &ev(
                Severity::Error,
                "boom <!channel> & <@U123> <http://x|y>",
                &[("path", "/api/<x>")],
                "Traceback\n```\nValueError: <!here>",
            ),
            &chat::EN,
        );
        let body = v.to_string();
        assert!(!body.contains("<!channel>") && !body.contains("<!here>") && !body.contains("<@U"));
        assert_eq!(
            v["blocks"][1]["text"]["text"],
            "boom &lt;!channel&gt; &amp; &lt;@U123&gt; &lt;http://x|y&gt;"
        );
        assert_eq!(v["blocks"][0]["text"]["text"], "🔴 error.unhandled");
        assert_eq!(
            v["blocks"][2]["fields"][0]["text"],
            "*path*\n/api/&lt;x&gt;"
        );
        let log = v["blocks"][3]["text"]["text"].as_str().unwrap();
        assert_eq!(log.matches("```").count(), 2, "{log}");
        let ctx = v["blocks"][4]["elements"][0]["text"].as_str().unwrap();
        assert!(
            ctx.contains(
                "<!date^1795766510^{date_short_pretty} at {time_secs}|2026-11-27 08:01:50 UTC>"
            ),
            "{ctx}"
        );
        assert!(v["text"]
            .as_str()
            .unwrap()
            .starts_with("🔴 error.unhandled: boom &lt;!channel&gt;"));
    }

    #[test]
    fn limits() {
        let big = "<&>".repeat(2000);
        let data: Vec<(String, String)> =
            (0..45).map(|i| (format!("k{i:02}"), big.clone())).collect();
        let data: Vec<(&str, &str)> = data.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let v = Slack::render(&ev(Severity::Critical, &big, &data, &big), &chat::EN);
        let blocks = v["blocks"].as_array().unwrap();
        assert!(blocks.len() <= BLOCKS_MAX);
        for b in blocks {
            if let Some(t) = b["text"]["text"].as_str() {
                assert!(t.chars().count() <= SECTION_MAX);
            }
            for f in b["fields"].as_array().into_iter().flatten() {
                assert!(f["text"].as_str().unwrap().chars().count() <= FIELD_MAX);
            }
        }
        assert!(v.to_string().contains("+15 more fields"));
    }

    #[test]
    fn answers() {
        assert_eq!(outcome(200, "ok", None), Delivery::Delivered);
        assert!(matches!(
            outcome(429, "rate_limited", Some(Duration::from_secs(30))),
            Delivery::RetryLater { after: Some(d), .. } if d == Duration::from_secs(30)
        ));
        assert!(matches!(
            outcome(500, "rollup_error", None),
            Delivery::RetryLater { .. }
        ));
        for (s, w, needle) in [
            (404, "no_service", "no longer exists"),
            (404, "channel_not_found", "no longer exists"),
            (410, "channel_is_archived", "archived"),
            (403, "invalid_token", "token"),
            (403, "action_prohibited", "admin"),
            (400, "invalid_blocks", "bug"),
        ] {
            let Delivery::Reject { reason } = outcome(s, w, None) else {
                panic!("{s} {w}")
            };
            assert!(reason.contains(needle) && reason.contains(w), "{reason}");
        }
    }
}
