//! What the chat sinks (Discord, Slack, Telegram) share: reading an event's
//! payload back from its body, severity colours and emoji, and the words
//! around the data (headline, source, time). Cutting and escaping text to a
//! platform's limits is `text`'s.
//!
//! Knows nothing about HTTP or any platform's JSON.

use std::collections::BTreeMap;

use crate::config::Language;
use crate::event::{Event, Payload, Severity};
use crate::record::Origin;

use super::text::PLAIN;

/// The event's payload, read back from the exact body the webhook sink sends.
/// A body that does not parse (it always should) gives a payload with only the
/// id and event name, so a chat message still goes out.
pub fn payload(ev: &Event) -> Payload {
    serde_json::from_str(&ev.body).unwrap_or_else(|_| Payload {
        id: ev.id.clone(),
        event: ev.event.clone(),
        timestamp: String::new(),
        source: Origin {
            container: None,
            container_id: None,
            stream: String::new(),
            host: String::new(),
            file: None,
        },
        data: BTreeMap::new(),
        log: String::new(),
    })
}

/// Embed colour (0xRRGGBB): info blue, notice teal, warning orange, error red,
/// critical dark red (Discord's own palette).
pub fn colour(s: Severity) -> u32 {
    match s {
        Severity::Info => 0x3498DB,
        Severity::Notice => 0x1ABC9C,
        Severity::Warning => 0xE67E22,
        Severity::Error => 0xE74C3C,
        Severity::Critical => 0x992D22,
    }
}

/// A coloured mark for platforms without colour bars, matching [`colour`].
pub fn emoji(s: Severity) -> &'static str {
    match s {
        Severity::Info => "🔵",
        Severity::Notice => "🟢",
        Severity::Warning => "🟠",
        Severity::Error => "🔴",
        Severity::Critical => "🚨",
    }
}

/// The words a chat message uses around the data, in `BRIDGE_LANGUAGE`.
/// Names (events, rules, data keys) and the services' own limits are not
/// translated: they are what a person searches for.
pub struct Words {
    /// Info, notice, warning, error, critical.
    severity: [&'static str; 5],
    /// `open-webui on myhost`.
    on: &'static str,
    /// `rule owui.file.uploaded`.
    pub rule: &'static str,
    /// A data value that is empty.
    pub empty: &'static str,
    /// `+3 more fields` (one, many).
    more: (&'static str, &'static str),
    /// Discord's last field when fields were left out.
    pub cut_to_fit: &'static str,
    /// `send-test`'s message.
    pub test_message: &'static str,
}

pub const EN: Words = Words {
    severity: ["info", "notice", "warning", "error", "critical"],
    on: "on",
    rule: "rule",
    empty: "(empty)",
    more: ("more field", "more fields"),
    cut_to_fit: "cut to fit Discord's limits",
    test_message: "✅ owui-bridge can reach this channel",
};

pub const VI: Words = Words {
    severity: ["thông tin", "lưu ý", "cảnh báo", "lỗi", "nghiêm trọng"],
    on: "trên",
    rule: "quy tắc",
    empty: "(trống)",
    more: ("trường nữa", "trường nữa"),
    cut_to_fit: "đã lược bớt cho vừa giới hạn của Discord",
    test_message: "✅ owui-bridge đã gửi được tới kênh này",
};

pub fn words(lang: Language) -> &'static Words {
    match lang {
        Language::En => &EN,
        Language::Vi => &VI,
    }
}

impl Words {
    pub fn severity(&self, s: Severity) -> &'static str {
        self.severity[s as usize]
    }

    /// `+3 more fields`.
    pub fn more_fields(&self, n: usize) -> String {
        let word = if n == 1 { self.more.0 } else { self.more.1 };
        format!("+{n} {word}")
    }
}

/// Whether the log excerpt is worth showing: for warnings and worse the record
/// (often a traceback) is the news; for routine events it is noise (the full
/// record is in the webhook payload).
pub fn shows_log(ev: &Event, p: &Payload) -> bool {
    ev.severity >= Severity::Warning && !p.log.trim().is_empty()
}

/// The sentence under the title: the rule's message; without one, the data's
/// `summary`; else the first few data fields; else the event name. Also returns
/// the data key used, so it is not shown twice.
pub fn headline(ev: &Event, p: &Payload, w: &Words) -> (String, Option<String>) {
    if let Some(m) = ev
        .message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        return (m.to_string(), None);
    }
    if let Some(s) = p
        .data
        .get("summary")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        return (s.to_string(), Some("summary".into()));
    }
    if p.data.is_empty() {
        return (format!("{} ({} {})", ev.event, w.rule, ev.rule), None);
    }
    let parts: Vec<String> = p
        .data
        .iter()
        .take(3)
        .map(|(k, v)| format!("{k} {}", PLAIN.fit(v.trim(), 60).text))
        .collect();
    (format!("{}: {}", ev.event, parts.join(", ")), None)
}

/// The data fields to show, in key order, trimmed; an empty value reads `(empty)`.
pub fn data_fields<'a>(
    p: &'a Payload,
    skip: Option<&str>,
    w: &'static Words,
) -> Vec<(&'a str, &'a str)> {
    p.data
        .iter()
        .filter(|(k, _)| Some(k.as_str()) != skip)
        .map(|(k, v)| {
            let v = v.trim();
            (k.trim(), if v.is_empty() { w.empty } else { v })
        })
        .collect()
}

/// Where the record came from, for a person: `open-webui on myhost`,
/// `owui.log on myhost`, `stdin on myhost`.
pub fn source_label(o: &Origin, w: &Words) -> String {
    let what = o
        .container
        .as_deref()
        .map(|c| c.trim_start_matches('/'))
        .filter(|c| !c.is_empty())
        .or_else(|| {
            o.file
                .as_deref()
                .map(|f| f.rsplit(['/', '\\']).next().unwrap_or(f))
        })
        .filter(|s| !s.is_empty())
        .unwrap_or(if o.stream.is_empty() {
            "log"
        } else {
            o.stream.as_str()
        });
    if o.host.is_empty() {
        what.to_string()
    } else {
        format!("{what} {} {}", w.on, o.host)
    }
}

/// `severity · source · rule id`: the small print under a message.
pub fn byline(ev: &Event, p: &Payload, w: &Words) -> String {
    format!(
        "{} · {} · {} {}",
        w.severity(ev.severity),
        source_label(&p.source, w),
        w.rule,
        ev.rule
    )
}

/// The payload time as a person reads it: `2026-11-27 08:01:50 UTC`.
pub fn display_time(ts: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(ts).ok()?;
    Some(
        t.with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
    )
}

/// Unix seconds of the payload time.
pub fn unix_time(ts: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_around_the_data() {
        let o = Origin {
            container: Some("/open-webui".into()),
            container_id: None,
            stream: "stderr".into(),
            host: "myhost".into(),
            file: None,
        };
        assert_eq!(source_label(&o, &EN), "open-webui on myhost");
        assert_eq!(source_label(&o, &VI), "open-webui trên myhost");
        assert_eq!(VI.severity(Severity::Warning), "cảnh báo");
        assert_eq!(EN.more_fields(1), "+1 more field");
        let f = Origin {
            container: None,
            file: Some("/logs/owui.log".into()),
            stream: "file".into(),
            ..o.clone()
        };
        assert_eq!(source_label(&f, &EN), "owui.log on myhost");
        assert_eq!(
            display_time("2026-11-27T08:01:50.392Z").as_deref(),
            Some("2026-11-27 08:01:50 UTC")
        );
        assert_eq!(display_time("nope"), None);
    }
}
