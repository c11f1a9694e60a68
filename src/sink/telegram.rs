//! Telegram Bot API: `sendMessage` with HTML formatting.
//!
//! Owns the message text and Telegram's limits, and the mapping of the Bot
//! API's answers (`{"ok":false,"error_code":…,"description":…,"parameters":…}`)
//! to [`Delivery`]. Does not own retries or queues. The bot token is in the
//! request path only: never in `describe`, reasons or logs.
//!
//! The message: a bold title line (severity mark and event name), the rule's
//! message, one `key: value` line per `data` entry, for warnings and worse the
//! end of the log record in `<pre>`, and an italic line with severity, source,
//! the record's time and the rule. Link previews are off.
//!
//! Escaping: `&`, `<`, `>` in all log-derived text become `&amp;`, `&lt;`,
//! `&gt;` (what HTML parse mode asks); every tag is ours and closed.
//!
//! Length: Telegram allows 1–4096 characters "after entities parsing". We
//! count what remains after parsing (tags count 0, `&lt;` counts 1) in UTF-16
//! code units, which is never less than the number of characters, so the
//! message is never too long whichever unit Telegram uses. Long messages are
//! **truncated, not split**: one event is one message, so a retry after a
//! failure can never post half an event twice, and bursts stay within the
//! per-chat rate. Each part is cut between whole characters, never inside a
//! tag or an escape, and ends with `…`; the full record is in the webhook
//! payload.

use std::time::Duration;

use serde_json::{json, Value};

use super::chat::{self, Words};
use super::http;
use super::retry::Delivery;
use super::text::{self, Escaper, Fitted};
use crate::config::TelegramConfig;
use crate::event::Event;

/// Telegram's limit on `text` after entities parsing.
pub const TEXT_MAX: usize = 4096;

const TITLE_MAX: usize = 256;
const KEY_MAX: usize = 64;
const VALUE_MAX: usize = 512;
/// Values up to this long (one line) are shown as `<code>` (tap to copy).
const CODE_VALUE_MAX: usize = 100;
const FIELDS_SHOWN: usize = 30;
/// Room kept for the `+N more fields` line.
const MORE_RESERVE: usize = 30;
const FOOTER_MAX: usize = 300;
const LOG_MAX: usize = 1500;
const LOG_MIN: usize = 80;

pub struct Telegram {
    pub name: String,
    cfg: TelegramConfig,
    client: reqwest::Client,
    words: &'static Words,
}

impl Telegram {
    pub fn pace(&self) -> std::time::Duration {
        self.cfg.pace()
    }
}

fn push_html(_: Option<char>, c: char, out: &mut String) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        _ => out.push(c),
    }
}

/// After entities parsing an escape is the one character it stands for.
fn cost_html(_: Option<char>, c: char) -> usize {
    c.len_utf16()
}

/// HTML parse mode escaping, counted as Telegram counts: after parsing, in
/// UTF-16 code units.
pub const HTML: Escaper = Escaper {
    push: push_html,
    cost: cost_html,
};

/// HTML text with its visible length (tags count nothing).
struct Html {
    text: String,
    visible: usize,
}

impl Html {
    fn tag(&mut self, t: &str) {
        self.text.push_str(t);
    }
    /// Our own text, free of `&`, `<`, `>`.
    fn raw(&mut self, s: &str) {
        self.text.push_str(s);
        self.visible += text::utf16_len(s);
    }
    fn fitted(&mut self, f: &Fitted) {
        self.text.push_str(&f.text);
        self.visible += f.cost;
    }
}

impl Telegram {
    pub fn new(cfg: TelegramConfig, client: reqwest::Client, words: &'static Words) -> Telegram {
        Telegram {
            name: "telegram".into(),
            cfg,
            client,
            words,
        }
    }

    /// Where [`super::Sink::probe`] asks whether the receiver answers again.
    pub(super) fn probe_target(&self) -> (&reqwest::Client, reqwest::Url) {
        (&self.client, self.cfg.api_base.clone())
    }

    pub fn describe(&self) -> String {
        self.cfg.describe()
    }

    pub fn render(&self, ev: &Event) -> Vec<Value> {
        let mut body = json!({
            "chat_id": chat_id_value(&self.cfg.chat_id),
            "text": Self::text(ev, self.words),
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": true},
        });
        if let Some(t) = self.cfg.thread_id {
            body["message_thread_id"] = json!(t);
        }
        vec![body]
    }

    /// The message text in HTML parse mode, at most [`TEXT_MAX`] after parsing.
    pub fn text(ev: &Event, w: &'static Words) -> String {
        let p = chat::payload(ev);
        let mut h = Html {
            text: String::new(),
            visible: 0,
        };
        let mut footer = format!(
            "{} · {}",
            w.severity(ev.severity),
            chat::source_label(&p.source, w)
        );
        if let Some(t) = chat::display_time(&p.timestamp) {
            footer = format!("{footer} · {t}");
        }
        footer = format!("{footer} · {} {}", w.rule, ev.rule);
        let footer = HTML.fit(&footer, FOOTER_MAX);
        let footer_cost = 2 + footer.cost;

        h.raw(chat::emoji(ev.severity));
        h.raw(" ");
        h.tag("<b>");
        h.fitted(&HTML.fit(ev.event.trim(), TITLE_MAX));
        h.tag("</b>");
        let mut left = TEXT_MAX.saturating_sub(h.visible + footer_cost);

        let (headline, used_key) = chat::headline(ev, &p, w);
        let entries = chat::data_fields(&p, used_key.as_deref(), w);
        let keep_for_fields = if entries.is_empty() { 0 } else { MORE_RESERVE };
        let msg = HTML.fit(&headline, left.saturating_sub(1 + keep_for_fields));
        if !msg.text.is_empty() {
            h.raw("\n");
            h.fitted(&msg);
            left -= 1 + msg.cost;
        }

        if !entries.is_empty() && left > 2 {
            h.raw("\n");
            left -= 1;
            let lines: Vec<(Fitted, Fitted)> = entries
                .iter()
                .take(FIELDS_SHOWN)
                .map(|(k, v)| (HTML.fit(k, KEY_MAX), HTML.fit(v, VALUE_MAX)))
                .collect();
            // "\n" + key + ": " + value
            let bare = |k: &Fitted| 1 + k.cost + 2;
            let all: usize = lines.iter().map(|(k, v)| bare(k) + v.cost).sum();
            let reserve = if all <= left && lines.len() == entries.len() {
                0
            } else {
                MORE_RESERVE
            };
            let mut room = left.saturating_sub(reserve);
            let mut shown = 0;
            for (i, (k, v)) in lines.iter().enumerate() {
                // The last line that fits may have its value cut to the room left.
                let (v, squeezed) = if bare(k) + v.cost <= room {
                    (v.clone(), false)
                } else if room >= bare(k) + 20 {
                    (HTML.fit(entries[i].1, room - bare(k)), true)
                } else {
                    break;
                };
                h.raw("\n");
                h.tag("<b>");
                h.fitted(k);
                h.tag("</b>");
                h.raw(": ");
                let code = v.cost <= CODE_VALUE_MAX && !v.text.contains('\n');
                if code {
                    h.tag("<code>");
                }
                h.fitted(&v);
                if code {
                    h.tag("</code>");
                }
                room -= bare(k) + v.cost;
                left -= bare(k) + v.cost;
                shown += 1;
                if squeezed {
                    break;
                }
            }
            if shown < entries.len() {
                let more = entries.len() - shown;
                let line = format!("\n{}", w.more_fields(more));
                if text::utf16_len(&line) <= left {
                    h.raw(&line);
                    left -= text::utf16_len(&line);
                }
            }
        }

        if chat::shows_log(ev, &p) && left >= 2 + LOG_MIN {
            let log = HTML.excerpt(&p.log, (left - 2).min(LOG_MAX));
            h.raw("\n\n");
            h.tag("<pre>");
            h.fitted(&log);
            h.tag("</pre>");
        }

        h.raw("\n\n");
        h.tag("<i>");
        h.fitted(&footer);
        h.tag("</i>");
        h.text
    }

    pub async fn deliver(&self, ev: &Event) -> Delivery {
        let url = self.cfg.endpoint().clone();
        for body in self.render(ev) {
            let a = match http::post_json(&self.client, url.clone(), &body).await {
                Ok(a) => a,
                Err(e) => {
                    return Delivery::RetryLater {
                        after: None,
                        reason: self.scrub(format!("Telegram: {e}")),
                    }
                }
            };
            match outcome(a.status, &a.text, a.retry_after(), &self.cfg) {
                Delivery::Delivered => continue,
                failed => return failed.map_reason(|r| self.scrub(r)),
            }
        }
        Delivery::Delivered
    }

    /// Never the token (nor the URL that holds it) in reasons.
    fn scrub(&self, reason: String) -> String {
        self.cfg.scrub(reason)
    }
}

fn chat_id_value(id: &str) -> Value {
    match id.trim().parse::<i64>() {
        Ok(n) => json!(n),
        Err(_) => json!(id.trim()),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
struct Answer {
    #[serde(default)]
    ok: bool,
    #[serde(default)]
    description: String,
    #[serde(default)]
    parameters: Option<Parameters>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct Parameters {
    #[serde(default)]
    retry_after: Option<u64>,
    #[serde(default)]
    migrate_to_chat_id: Option<i64>,
}

/// What the Bot API's answer means.
fn outcome(
    status: u16,
    body: &str,
    retry_after_header: Option<Duration>,
    cfg: &TelegramConfig,
) -> Delivery {
    let a: Answer = serde_json::from_str(body).unwrap_or_default();
    if (200..300).contains(&status) && (a.ok || body.trim().is_empty()) {
        return Delivery::Delivered;
    }
    let desc = if a.description.is_empty() {
        crate::event::cut(body.lines().next().unwrap_or("").trim(), 200).to_string()
    } else {
        a.description.clone()
    };
    let said = if desc.is_empty() {
        format!("{status}")
    } else {
        format!("{status} {desc}")
    };
    let params = a.parameters.unwrap_or_default();
    let chat = &cfg.chat_id;
    let lower = desc.to_ascii_lowercase();
    if let Some(new_id) = params.migrate_to_chat_id {
        return Delivery::Reject {
            reason: format!(
                "Telegram says chat {chat} became a supergroup with the new id {new_id} ({said}): set TELEGRAM_CHAT_ID={new_id}"
            ),
        };
    }
    if status == 429 || params.retry_after.is_some() {
        let after = params
            .retry_after
            .map(Duration::from_secs)
            .or(retry_after_header);
        return Delivery::RetryLater {
            after,
            reason: format!(
                "Telegram: 429 Too Many Requests{}",
                after.map_or(String::new(), |d| format!(
                    "; waiting {}s as Telegram asks (parameters.retry_after)",
                    d.as_secs()
                ))
            ),
        };
    }
    let reject = |reason: String| Delivery::Reject { reason };
    match status {
        408 | 425 | 500..=599 => Delivery::RetryLater {
            after: retry_after_header,
            reason: format!("Telegram answered {said}; retrying"),
        },
        400 if lower.contains("chat not found") => reject(format!(
            "Telegram cannot find chat {chat} ({said}): check TELEGRAM_CHAT_ID and send /start to the bot (or add it to the group)"
        )),
        400 if lower.contains("thread not found") || lower.contains("topic") => reject(format!(
            "Telegram cannot find topic {} in chat {chat} ({said}): check TELEGRAM_THREAD_ID, or unset it to post in the main chat",
            cfg.thread_id.map_or("(none)".to_string(), |t| t.to_string())
        )),
        400 if lower.contains("not enough rights") || lower.contains("have no rights") => reject(format!(
            "the bot may not post in chat {chat} ({said}): give it permission to send messages (or make it an admin of the channel)"
        )),
        400 if lower.contains("can't parse entities") || lower.contains("too long") || lower.contains("text is empty") => reject(format!(
            "Telegram rejected the message as invalid ({said}); retrying cannot help. This is a bug in owui-bridge: please report it with the event name"
        )),
        401 => reject(format!(
            "Telegram does not accept TELEGRAM_BOT_TOKEN ({said}): copy the token again from @BotFather (/mybots → API Token)"
        )),
        403 if lower.contains("blocked by the user") => reject(format!(
            "the user blocked the bot ({said}): unblock it in chat {chat} and send /start"
        )),
        403 if lower.contains("kicked") || lower.contains("not a member") => reject(format!(
            "the bot is no longer in chat {chat} ({said}): add it back to the group or channel"
        )),
        403 => reject(format!(
            "Telegram refused ({said}): make sure the bot is a member of chat {chat} and may post there"
        )),
        404 => reject(format!(
            "Telegram answered {said}: TELEGRAM_BOT_TOKEN is malformed or TELEGRAM_API_URL is not a Bot API server; copy the token again from @BotFather"
        )),
        _ => reject(format!("Telegram answered {said}; retrying cannot help")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Payload, Severity};
    use crate::record::Origin;

    fn cfg() -> TelegramConfig {
        TelegramConfig::new(
            "https://api.telegram.org".parse().unwrap(),
            "123456:ABC-secret",
            "-1001234567890",
            Some(7),
        )
        .unwrap()
    }

    fn ev(severity: Severity, message: &str, data: &[(&str, &str)], log: &str) -> Event {
        let p = Payload {
            id: "evt_1".into(),
            event: "user.created".into(),
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
                .collect(),
            log: log.into(),
        };
        Event {
            id: "evt_1".into(),
            event: p.event.clone(),
            rule: "owui.user.signup".into(),
            severity,
            message: Some(message.into()),
            body: serde_json::to_string(&p).unwrap(),
        }
    }

    /// Visible length after parsing our own (simple, well-formed) HTML.
    fn visible(html: &str) -> usize {
        let mut out = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                _ if !in_tag => out.push(c),
                _ => {}
            }
        }
        let out = out
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&");
        text::utf16_len(&out)
    }

    #[test]
    fn message_shape() {
        let t = Telegram::new(cfg(), reqwest::Client::new(), &chat::EN);
        let b = &t.render(&ev(
            Severity::Info,
            "👤 A new user signed up (from 172.18.0.1)",
            &[("client", "172.18.0.1"), ("via", "<signup> & co")],
            "",
        ))[0];
        assert_eq!(b["chat_id"], json!(-1001234567890i64));
        assert_eq!(b["parse_mode"], "HTML");
        assert_eq!(b["message_thread_id"], 7);
        assert_eq!(b["link_preview_options"], json!({"is_disabled": true}));
        assert_eq!(
            b["text"],
            "🔵 <b>user.created</b>\n👤 A new user signed up (from 172.18.0.1)\n\n<b>client</b>: <code>172.18.0.1</code>\n<b>via</b>: <code>&lt;signup&gt; &amp; co</code>\n\n<i>info · open-webui on myhost · 2026-11-27 08:01:50 UTC · rule owui.user.signup</i>"
        );
        assert!(!t.describe().contains("secret"));
        assert!(t.describe().contains("chat -1001234567890, topic 7"));
        assert!(!format!("{:?}", cfg()).contains("secret"));
    }

    #[test]
    fn never_over_the_limit() {
        let big = "<b>&".repeat(3000);
        let data: Vec<(String, String)> = (0..40).map(|i| (format!("k{i}"), big.clone())).collect();
        let data: Vec<(&str, &str)> = data.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        for (m, d, l) in [
            (big.as_str(), &data[..], big.as_str()),
            ("short", &data[..], big.as_str()),
            ("short", &data[..0], big.as_str()),
            ("😀", &data[..3], "x"),
        ] {
            let text = Telegram::text(&ev(Severity::Critical, m, d, l), &chat::EN);
            assert!(visible(&text) <= TEXT_MAX, "{}", visible(&text));
            assert!(text.ends_with("</i>"));
        }
    }

    #[test]
    fn answers() {
        let c = cfg();
        let a = |s, b: &str| outcome(s, b, None, &c);
        assert_eq!(a(200, r#"{"ok":true,"result":{}}"#), Delivery::Delivered);
        assert!(matches!(
            a(429, r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 35","parameters":{"retry_after":35}}"#),
            Delivery::RetryLater { after: Some(d), .. } if d == Duration::from_secs(35)
        ));
        let Delivery::Reject { reason } = a(
            400,
            r#"{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1009876543210}}"#,
        ) else {
            panic!()
        };
        assert!(
            reason.contains("TELEGRAM_CHAT_ID=-1009876543210"),
            "{reason}"
        );
        let Delivery::Reject { reason } = a(
            400,
            r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#,
        ) else {
            panic!()
        };
        assert!(
            reason.contains("check TELEGRAM_CHAT_ID and send /start to the bot"),
            "{reason}"
        );
        assert!(matches!(
            a(502, "<html>Bad Gateway</html>"),
            Delivery::RetryLater { .. }
        ));
    }
}
