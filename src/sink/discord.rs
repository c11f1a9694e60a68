//! Discord incoming webhooks (Execute Webhook): one embed per event.
//!
//! Owns the embed's shape and Discord's limits, the mapping of Discord's
//! answers to [`Delivery`], and pacing by the `X-RateLimit-*` headers. Does not
//! own retries or queues (the delivery loop in `sink` does).
//!
//! The message: title = the event name; description = the rule's message (and,
//! for warnings and worse, the end of the log record in a code block); one
//! field per `data` entry (inline when short); the record's time as the embed
//! timestamp; colour by severity; the footer says severity, source and rule.
//! `allowed_mentions: {"parse": []}` always, so log text can never ping anyone.
//!
//! Limits (Discord's "Embed Limits"; inclusive): title 256, description 4096,
//! 25 fields, field name 256, field value 1024, footer 2048, and 6000 over
//! title + description + field names and values + footer. They are counted in
//! characters (Unicode scalar values), as Discord's Python API counts `len()`,
//! on the text as sent (markdown escapes included), so the count is never low.
//! Text over a limit is cut between whole characters and ends with `…`; fields
//! that do not fit are replaced by one last field `+N more fields`.
//!
//! Log-derived text is markdown-escaped (`\*`, `\_`, …) so it shows as written;
//! the log excerpt sits in a code block whose backticks cannot close it.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::Url;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::chat::{self, Words};
use super::http;
use super::retry::{parse_retry_after, Delivery};
use super::text::{self, Escaper, Fitted, PLAIN};
use crate::event::Event;
use crate::secret::mask_url;

pub const TITLE_MAX: usize = 256;
pub const DESCRIPTION_MAX: usize = 4096;
pub const FIELDS_MAX: usize = 25;
pub const FIELD_NAME_MAX: usize = 256;
pub const FIELD_VALUE_MAX: usize = 1024;
pub const FOOTER_MAX: usize = 2048;
pub const TOTAL_MAX: usize = 6000;

/// The footer is small print: keep it short whatever the source is called.
const FOOTER_SHOWN: usize = 300;
/// At most this much of the log record in the description.
const LOG_MAX: usize = 1500;
/// Below this much room a log excerpt says nothing useful.
const LOG_MIN: usize = 80;
/// A field is shown inline (side by side) when its value is at most this long.
const INLINE_MAX: usize = 40;
/// Room kept for the `+N more fields` field when fields are dropped.
const MORE_RESERVE: usize = 60;
/// The longest pause taken for `X-RateLimit-Reset-After`; beyond it, a 429 tells.
const PACE_CAP: Duration = Duration::from_secs(30);

pub struct Discord {
    pub name: String,
    url: Url,
    client: reqwest::Client,
    /// Not before this instant: Discord said the bucket is empty until then.
    not_before: Mutex<Option<Instant>>,
    words: &'static Words,
}

fn push_markdown(prev: Option<char>, c: char, out: &mut String) {
    if markdown_escaped(prev, c) {
        out.push('\\');
    }
    out.push(c);
}

fn cost_markdown(prev: Option<char>, c: char) -> usize {
    1 + usize::from(markdown_escaped(prev, c))
}

/// Characters Discord markdown would act on: emphasis, code, spoilers, mention
/// and emoji syntax (`<@…>`, `<:…>`), masked links; at a line start also
/// headings, lists, quotes and subtext. `_` right after a letter or digit is
/// left alone: `_…_` emphasis needs a word boundary before it, `__` needs two
/// in a row (the second follows `_`, so it is escaped), and an escape there
/// would break `snake_case` in URLs (browsers read `\` as `/`).
fn markdown_escaped(prev: Option<char>, c: char) -> bool {
    let line_start = matches!(prev, None | Some('\n'));
    match c {
        '_' => !prev.is_some_and(char::is_alphanumeric),
        '\\' | '*' | '~' | '`' | '|' | '<' | '[' => true,
        '#' | '-' | '+' | '>' => line_start,
        _ => false,
    }
}

/// Markdown-escaped text, counted in characters as sent.
pub const MARKDOWN: Escaper = Escaper {
    push: push_markdown,
    cost: cost_markdown,
};

fn push_code(_: Option<char>, c: char, out: &mut String) {
    out.push(c);
    if c == '`' {
        // A zero-width space after every backtick: "```" can never close the block.
        out.push('\u{200B}');
    }
}

fn cost_code(_: Option<char>, c: char) -> usize {
    1 + usize::from(c == '`')
}

/// Text inside a code block (no markdown there; only the fence must not occur).
pub const CODE: Escaper = Escaper {
    push: push_code,
    cost: cost_code,
};

impl Discord {
    /// `url` is the webhook URL as configured; `wait=true` is added so Discord
    /// reports errors instead of dropping an unsaved message silently.
    pub fn new(url: Url, client: reqwest::Client, words: &'static Words) -> Discord {
        let mut url = url;
        if !url.query_pairs().any(|(k, _)| k == "wait") {
            url.query_pairs_mut().append_pair("wait", "true");
        }
        Discord {
            name: "discord".into(),
            url,
            client,
            not_before: Mutex::new(None),
            words,
        }
    }

    /// Where [`super::Sink::probe`] asks whether the receiver answers again.
    pub(super) fn probe_target(&self) -> (&reqwest::Client, reqwest::Url) {
        (&self.client, self.url.clone())
    }

    /// The URL without its token.
    pub fn describe(&self) -> String {
        mask_url(&self.url)
    }

    /// The Execute Webhook JSON for `ev`.
    pub fn render(ev: &Event, w: &'static Words) -> Value {
        let p = chat::payload(ev);
        let title = MARKDOWN.fit(non_empty(ev.event.trim(), "event"), TITLE_MAX);
        let footer = PLAIN.fit(&chat::byline(ev, &p, w), FOOTER_SHOWN.min(FOOTER_MAX));

        let (headline, used_key) = chat::headline(ev, &p, w);
        let show_log = chat::shows_log(ev, &p);
        // With a log excerpt to follow, the message leaves room for a useful one.
        let msg_max = if show_log {
            DESCRIPTION_MAX - LOG_MAX
        } else {
            DESCRIPTION_MAX
        };
        let msg = MARKDOWN.fit(&headline, msg_max);
        let mut description = msg.text;
        let mut description_len = msg.cost;
        if show_log {
            const OPEN: &str = "\n```\n";
            const CLOSE: &str = "\n```";
            let fences = text::chars(OPEN) + text::chars(CLOSE);
            let room = (DESCRIPTION_MAX - description_len).saturating_sub(fences);
            let room = room.min(LOG_MAX);
            if room >= LOG_MIN {
                let log = CODE.excerpt(&p.log, room);
                description.push_str(OPEN);
                description.push_str(&log.text);
                description.push_str(CLOSE);
                description_len += fences + log.cost;
            }
        }

        let room = TOTAL_MAX - title.cost - footer.cost - description_len;
        let entries = chat::data_fields(&p, used_key.as_deref(), w);
        let fields: Vec<Value> = fit_fields(&entries, room, w)
            .into_iter()
            .map(|(name, value)| {
                let inline = value.cost <= INLINE_MAX && !value.text.contains('\n');
                json!({"name": name.text, "value": value.text, "inline": inline})
            })
            .collect();

        let mut embed = json!({
            "title": title.text,
            "color": chat::colour(ev.severity),
            "footer": {"text": footer.text},
        });
        if !description.trim().is_empty() {
            embed["description"] = Value::String(description);
        }
        if !fields.is_empty() {
            embed["fields"] = Value::Array(fields);
        }
        if chat::unix_time(&p.timestamp).is_some() {
            embed["timestamp"] = Value::String(p.timestamp.clone());
        }
        json!({
            "embeds": [embed],
            "allowed_mentions": {"parse": []},
        })
    }

    pub async fn deliver(&self, ev: &Event) -> Delivery {
        self.pace().await;
        let a = match http::post_json(
            &self.client,
            self.url.clone(),
            &Self::render(ev, self.words),
        )
        .await
        {
            Ok(a) => a,
            Err(e) => {
                return Delivery::RetryLater {
                    after: None,
                    reason: self.scrub(format!("Discord: {e}")),
                }
            }
        };
        let status = a.status;
        let remaining = a.header("x-ratelimit-remaining").map(str::to_string);
        let reset_after = a
            .header("x-ratelimit-reset-after")
            .and_then(parse_retry_after);
        let outcome = outcome(status, &a.text, a.retry_after(), reset_after);
        // After a 429 the delivery loop already waits `after`; pacing is for
        // the sends that succeed, so the next one does not earn a 429.
        let empty = remaining.as_deref().map(str::trim) == Some("0");
        self.set_pace(if empty && status != 429 {
            reset_after
        } else {
            None
        });
        outcome.map_reason(|r| self.scrub(r))
    }

    /// Waits while Discord said the bucket is empty (`X-RateLimit-Remaining: 0`).
    async fn pace(&self) {
        let until = *self.not_before.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = until {
            let cap = Instant::now() + PACE_CAP;
            tokio::time::sleep_until(t.min(cap)).await;
        }
    }

    fn set_pace(&self, wait: Option<Duration>) {
        *self.not_before.lock().unwrap_or_else(|e| e.into_inner()) =
            wait.map(|w| Instant::now() + w.min(PACE_CAP));
    }

    /// No URL or token in reasons (they end up in logs and dead letters).
    fn scrub(&self, reason: String) -> String {
        http::scrub_url(reason, &self.url, "<discord webhook>")
    }
}

fn non_empty<'a>(s: &'a str, default: &'a str) -> &'a str {
    if s.is_empty() {
        default
    } else {
        s
    }
}

/// Fields within `room` characters and [`FIELDS_MAX`]: all of them when they
/// fit; else as many as fit (the last one cut if worthwhile) and a final
/// `+N more fields`.
fn fit_fields(entries: &[(&str, &str)], room: usize, w: &Words) -> Vec<(Fitted, Fitted)> {
    let full: Vec<(Fitted, Fitted)> = entries
        .iter()
        .map(|(k, v)| {
            (
                MARKDOWN.fit(non_empty(k, "?"), FIELD_NAME_MAX),
                MARKDOWN.fit(v, FIELD_VALUE_MAX),
            )
        })
        .collect();
    let total: usize = full.iter().map(|(n, v)| n.cost + v.cost).sum();
    if full.len() <= FIELDS_MAX && total <= room {
        return full;
    }
    let mut left = room.saturating_sub(MORE_RESERVE);
    let mut shown = Vec::new();
    for (i, (name, value)) in full.iter().enumerate() {
        if shown.len() == FIELDS_MAX - 1 {
            break;
        }
        if name.cost + value.cost <= left {
            left -= name.cost + value.cost;
            shown.push((name.clone(), value.clone()));
            continue;
        }
        // Worth cutting this value rather than dropping the field?
        if left >= name.cost + 20 {
            let v = MARKDOWN.fit(entries[i].1, left - name.cost);
            shown.push((name.clone(), v));
        }
        break;
    }
    let more = full.len() - shown.len();
    if more > 0 {
        shown.push((
            PLAIN.fit(&w.more_fields(more), FIELD_NAME_MAX),
            PLAIN.fit(w.cut_to_fit, FIELD_VALUE_MAX),
        ));
    }
    shown
}

/// Discord's JSON error body: `{"message": …, "code": …, "retry_after"?: …}`.
#[derive(Debug, Default, serde::Deserialize)]
struct ApiError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: i64,
    #[serde(default)]
    retry_after: Option<f64>,
    #[serde(default)]
    global: bool,
    #[serde(default)]
    errors: Option<Value>,
}

/// What Discord's answer means. Pure, so every answer is tested without HTTP.
fn outcome(
    status: u16,
    body: &str,
    retry_after_header: Option<Duration>,
    reset_after: Option<Duration>,
) -> Delivery {
    if (200..300).contains(&status) {
        return Delivery::Delivered;
    }
    let err: ApiError = serde_json::from_str(body).unwrap_or_default();
    let said = if err.message.is_empty() {
        let line = body.lines().next().unwrap_or("").trim();
        crate::event::cut(line, 200).to_string()
    } else if err.code != 0 {
        format!("{}, code {}", err.message, err.code)
    } else {
        err.message.clone()
    };
    let said = if said.is_empty() {
        String::new()
    } else {
        format!(" ({said})")
    };
    match status {
        429 => {
            let after = err
                .retry_after
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
                .or(retry_after_header)
                .or(reset_after);
            let scope = if err.global {
                "global rate limit"
            } else if err.code == 20028 {
                "the channel's write limit"
            } else {
                "rate limit"
            };
            let when = after.map_or(String::new(), |d| {
                format!("; waiting {:.1}s as Discord asks", d.as_secs_f64())
            });
            Delivery::RetryLater {
                after,
                reason: format!("Discord: 429 Too Many Requests, {scope}{when}"),
            }
        }
        408 | 425 | 500..=599 => Delivery::RetryLater {
            after: retry_after_header,
            reason: format!("Discord answered {status}{said}; retrying"),
        },
        404 => Delivery::Reject {
            reason: format!(
                "Discord says this webhook no longer exists (404 Unknown Webhook{}): create a new webhook in the channel settings (Integrations → Webhooks) and set DISCORD_WEBHOOK_URL",
                if err.code != 0 { format!(", code {}", err.code) } else { String::new() }
            ),
        },
        401 => Delivery::Reject {
            reason: format!(
                "Discord does not accept this webhook's token (401{said}): copy the webhook URL again from the channel settings (Integrations → Webhooks) and set DISCORD_WEBHOOK_URL"
            ),
        },
        403 => Delivery::Reject {
            reason: format!(
                "Discord refused access to this webhook (403{said}): the token in DISCORD_WEBHOOK_URL is wrong or the webhook lost access to its channel; copy the webhook URL again from the channel settings and set DISCORD_WEBHOOK_URL"
            ),
        },
        400 | 413 => {
            let detail = err
                .errors
                .as_ref()
                .map(|e| format!(": {}", crate::event::cut(&e.to_string(), 300)))
                .unwrap_or_default();
            Delivery::Reject {
                reason: format!(
                    "Discord rejected the message as invalid ({status}{said}{detail}); retrying cannot help. This is a bug in owui-bridge: please report it with the event name"
                ),
            }
        }
        300..=399 => Delivery::Reject {
            reason: format!(
                "Discord answered with a redirect ({status}); set DISCORD_WEBHOOK_URL to the webhook URL exactly as Discord shows it (https://discord.com/api/webhooks/…)"
            ),
        },
        _ => Delivery::Reject {
            reason: format!("Discord answered {status}{said}; retrying cannot help"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Payload, Severity};
    use crate::record::Origin;
    use std::collections::BTreeMap;

    fn ev(severity: Severity, message: Option<&str>, data: &[(&str, &str)], log: &str) -> Event {
        let p = Payload {
            id: "evt_1".into(),
            event: "security.login_failed".into(),
            timestamp: "2026-11-27T08:01:50.392Z".into(),
            source: Origin {
                container: Some("open-webui".into()),
                container_id: None,
                stream: "stdout".into(),
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
            id: "evt_1".into(),
            event: p.event.clone(),
            rule: "owui.login.failed".into(),
            severity,
            message: message.map(Into::into),
            body: serde_json::to_string(&p).unwrap(),
        }
    }

    fn total(embed: &Value) -> usize {
        let s = |v: &Value| v.as_str().map_or(0, |s| s.trim().chars().count());
        s(&embed["title"])
            + s(&embed["description"])
            + s(&embed["footer"]["text"])
            + embed["fields"].as_array().map_or(0, |f| {
                f.iter().map(|f| s(&f["name"]) + s(&f["value"])).sum()
            })
    }

    #[test]
    fn embed_shape() {
        let v = Discord::render(
            &ev(
                Severity::Warning,
                Some("🔐 Failed login for bob@example.com"),
                &[("email", "bob@example.com"), ("client", "203.0.113.7")],
                "2026-11-27 08:01:50.392 | WARNING | auth - login failed for bob@example.com",
            ),
            &chat::EN,
        );
        assert_eq!(v["allowed_mentions"], json!({"parse": []}));
        let e = &v["embeds"][0];
        assert_eq!(e["title"], "security.login_failed");
        assert_eq!(e["color"], 0xE67E22);
        assert_eq!(e["timestamp"], "2026-11-27T08:01:50.392Z");
        assert!(e["description"]
            .as_str()
            .unwrap()
            .starts_with("🔐 Failed login for bob@example.com\n```\n2026-11-27"));
        assert_eq!(e["fields"][0]["name"], "client");
        assert_eq!(e["fields"][0]["inline"], true);
        assert_eq!(
            e["footer"]["text"],
            "warning · open-webui on myhost · rule owui.login.failed"
        );
    }

    #[test]
    fn markdown_and_fences_are_neutral() {
        let v = Discord::render(
            &ev(
                Severity::Error,
                Some("**bold** _it_ <@123> [x](http://e) @everyone"),
                &[("q", "# not a heading")],
                "boom ``` escape\n```",
            ),
            &chat::EN,
        );
        let e = &v["embeds"][0];
        let d = e["description"].as_str().unwrap();
        assert!(
            d.starts_with("\\*\\*bold\\*\\* \\_it_ \\<@123> \\[x](http://e) @everyone"),
            "{d}"
        );
        let v = Discord::render(
            &ev(
                Severity::Info,
                Some("__init__ https://x.example/a_b"),
                &[],
                "",
            ),
            &chat::EN,
        );
        assert_eq!(
            v["embeds"][0]["description"],
            "\\_\\_init_\\_ https://x.example/a_b"
        );
        assert_eq!(d.matches("```").count(), 2, "{d}");
        assert_eq!(e["fields"][0]["value"], "\\# not a heading");
    }

    #[test]
    fn limits_hold_for_huge_input() {
        let big = "ệ".repeat(5000);
        let data: Vec<(String, String)> = (0..40)
            .map(|i| (format!("k{i:02}{}", "n".repeat(300)), big.clone()))
            .collect();
        let data: Vec<(&str, &str)> = data.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let v = Discord::render(&ev(Severity::Critical, Some(&big), &data, &big), &chat::EN);
        let e = &v["embeds"][0];
        assert!(total(e) <= TOTAL_MAX, "{}", total(e));
        assert!(e["description"].as_str().unwrap().chars().count() <= DESCRIPTION_MAX);
        let f = e["fields"].as_array().unwrap();
        assert!(f.len() <= FIELDS_MAX);
        assert!(f.last().unwrap()["name"]
            .as_str()
            .unwrap()
            .ends_with("more fields"));
        for f in f {
            assert!(f["name"].as_str().unwrap().chars().count() <= FIELD_NAME_MAX);
            assert!(f["value"].as_str().unwrap().chars().count() <= FIELD_VALUE_MAX);
        }
    }

    #[test]
    fn answers() {
        let body =
            r#"{"message": "You are being rate limited.", "retry_after": 64.57, "global": false}"#;
        assert_eq!(
            outcome(429, body, Some(Duration::from_secs(65)), None),
            Delivery::RetryLater {
                after: Some(Duration::from_secs_f64(64.57)),
                reason: "Discord: 429 Too Many Requests, rate limit; waiting 64.6s as Discord asks"
                    .into()
            }
        );
        assert!(matches!(
            outcome(429, "", Some(Duration::from_secs(3)), None),
            Delivery::RetryLater { after: Some(d), .. } if d == Duration::from_secs(3)
        ));
        assert!(matches!(
            outcome(502, "", None, None),
            Delivery::RetryLater { .. }
        ));
        let Delivery::Reject { reason } = outcome(
            404,
            r#"{"message": "Unknown Webhook", "code": 10015}"#,
            None,
            None,
        ) else {
            panic!()
        };
        assert!(reason.contains("no longer exists") && reason.contains("DISCORD_WEBHOOK_URL"));
        assert!(matches!(outcome(204, "", None, None), Delivery::Delivered));
    }

    #[test]
    fn wait_true_and_masked() {
        let d = Discord::new(
            "https://discord.com/api/webhooks/123/s3cr3t-token"
                .parse()
                .unwrap(),
            reqwest::Client::new(),
            &chat::EN,
        );
        assert_eq!(d.url.query(), Some("wait=true"));
        assert!(!d.describe().contains("s3cr3t"));
        assert_eq!(
            d.scrub(
                "x https://discord.com/api/webhooks/123/s3cr3t-token?wait=true y s3cr3t-token"
                    .into()
            ),
            "x <discord webhook> y ****"
        );
    }
}
