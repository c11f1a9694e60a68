//! Events: what a rule match becomes, and the exact JSON body receivers get
//! (spec §3). Owns the stable event id: the same record and rule give the
//! same id after retries, restarts and on every agent reading the same source.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::record::Record;
use crate::rules::{Hit, Rule, Severity};

/// `log` in the payload is cut to this many bytes (spec §3).
pub const MAX_LOG_BYTES: usize = 8 * 1024;

/// Where the record came from, as receivers see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Origin {
    pub container: Option<String>,
    pub container_id: Option<String>,
    pub stream: String,
    pub host: String,
    /// The followed file, for `--source file:`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub file: Option<String>,
}

/// The payload of spec §3, field order as documented.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Payload {
    pub id: String,
    pub event: String,
    pub timestamp: String,
    pub source: Origin,
    pub data: BTreeMap<String, String>,
    pub log: String,
}

/// An event ready for the outbox: the body is serialised once, so every retry
/// sends (and signs) the same bytes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub event: String,
    pub rule: String,
    pub severity: Severity,
    /// The rule's message for chat sinks, rendered.
    pub message: Option<String>,
    /// Minified JSON of [`Payload`]: exactly the bytes sent and signed.
    pub body: String,
}

impl Event {
    /// Builds the event for `hit` of `rule` on `rec`. `source_key` identifies the
    /// followed source (container id, file path) for the id.
    pub fn new(rule: &Rule, hit: &Hit, rec: &Record, source_key: &str, origin: &Origin) -> Event {
        let id = event_id(source_key, rec, &rule.id);
        // `_…` fields only build correlation keys.
        let data: BTreeMap<String, String> = hit
            .data
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .cloned()
            .collect();
        let message = rule.message.as_ref().map(|t| {
            t.render(|k| match k {
                "rule" => Some(rule.id.as_str()),
                "event" => Some(rule.event.as_str()),
                _ => data.get(k).map(String::as_str),
            })
        });
        let timestamp = rec
            .ts
            .or_else(|| log_time(&rec.text))
            .unwrap_or_else(Utc::now);
        let payload = Payload {
            id: id.clone(),
            event: rule.event.clone(),
            timestamp: timestamp.to_rfc3339_opts(SecondsFormat::Millis, true),
            source: Origin {
                stream: rec.stream.as_str().to_string(),
                ..origin.clone()
            },
            data,
            log: cut(&rec.text, MAX_LOG_BYTES).to_string(),
        };
        Event {
            id,
            event: rule.event.clone(),
            rule: rule.id.clone(),
            severity: rule.severity,
            message,
            body: serde_json::to_string(&payload).unwrap_or_default(),
        }
    }

    /// A synthetic event that did not come from a log record (`send-test`).
    pub fn synthetic(
        event: &str,
        data: BTreeMap<String, String>,
        origin: &Origin,
        message: &str,
    ) -> Event {
        let now = Utc::now();
        let mut h = Sha256::new();
        h.update(event.as_bytes());
        h.update(now.timestamp_nanos_opt().unwrap_or_default().to_le_bytes());
        let id = format!("evt_{}", &hex::encode(h.finalize())[..24]);
        let payload = Payload {
            id: id.clone(),
            event: event.to_string(),
            timestamp: now.to_rfc3339_opts(SecondsFormat::Millis, true),
            source: origin.clone(),
            data,
            log: String::new(),
        };
        Event {
            id,
            event: event.into(),
            rule: "bridge".into(),
            severity: Severity::Info,
            message: Some(message.into()),
            body: serde_json::to_string(&payload).unwrap_or_default(),
        }
    }
}

/// `evt_` + 96 bits of SHA-256 over the source, the record's place and text, and
/// the rule. No '.' in it, as Standard Webhooks asks of ids.
pub fn event_id(source_key: &str, rec: &Record, rule_id: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        source_key.as_bytes(),
        rec.stream.as_str().as_bytes(),
        rule_id.as_bytes(),
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    match rec.ts {
        Some(ts) => h.update(ts.timestamp_nanos_opt().unwrap_or_default().to_le_bytes()),
        None => h.update(serde_json::to_vec(&rec.start).unwrap_or_default()),
    }
    h.update(rec.text.as_bytes());
    format!("evt_{}", &hex::encode(h.finalize())[..24])
}

/// When the record was logged: the source's time (Docker), else the time at its
/// start, else now.
pub fn record_time(rec: &Record) -> DateTime<Utc> {
    rec.ts
        .or_else(|| log_time(&rec.text))
        .unwrap_or_else(Utc::now)
}

/// The loguru time at the start of a record (`2026-11-27 08:01:50.392 | …`),
/// read as UTC (the official image's zone).
fn log_time(text: &str) -> Option<DateTime<Utc>> {
    // Open WebUI's JSON logs (`LOG_FORMAT=json`): {"ts": "2026-07-28T09:15:02.481+00:00", …}
    if let Some(rest) = text.strip_prefix("{\"ts\": \"") {
        let end = rest.find('"')?;
        let ts = &rest[..end];
        return DateTime::parse_from_rfc3339(ts)
            .map(|t| t.with_timezone(&Utc))
            .or_else(|_| {
                chrono::NaiveDateTime::parse_from_str(
                    ts.trim_end_matches('Z'),
                    "%Y-%m-%dT%H:%M:%S%.f",
                )
                .map(|t| t.and_utc())
            })
            .ok();
    }
    let head = text.get(..23)?;
    chrono::NaiveDateTime::parse_from_str(head, "%Y-%m-%d %H:%M:%S%.3f")
        .ok()
        .map(|t| t.and_utc())
}

/// At most `max` bytes, cut on a character boundary.
pub fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut i = max;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    &s[..i]
}

/// This machine's name, for `source.host`.
pub fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Cursor, Stream};

    fn rec(text: &str, offset: u64) -> Record {
        Record {
            stream: Stream::File,
            ts: None,
            first_line: 1,
            text: text.into(),
            truncated_lines: 0,
            start: Cursor::Offset(offset),
            end: Cursor::Offset(offset + 10),
        }
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = event_id("file:/x", &rec("line", 0), "r1");
        assert_eq!(a, event_id("file:/x", &rec("line", 0), "r1"));
        assert_eq!(a.len(), 4 + 24);
        assert!(!a.contains('.'));
        assert_ne!(a, event_id("file:/x", &rec("line", 5), "r1"));
        assert_ne!(a, event_id("file:/x", &rec("line", 0), "r2"));
        assert_ne!(a, event_id("file:/y", &rec("line", 0), "r1"));
        assert_ne!(a, event_id("file:/x", &rec("lime", 0), "r1"));
    }

    #[test]
    fn log_time_and_cut() {
        let t = log_time("2026-11-27 08:01:50.392 | INFO | x").unwrap();
        assert_eq!(
            t.to_rfc3339_opts(SecondsFormat::Millis, true),
            "2026-11-27T08:01:50.392Z"
        );
        assert!(log_time("INFO  [alembic]").is_none());
        let json = log_time(r#"{"ts": "2026-07-28T09:15:02.481+00:00", "level": "info"}"#).unwrap();
        assert_eq!(
            json.to_rfc3339_opts(SecondsFormat::Millis, true),
            "2026-07-28T09:15:02.481Z"
        );
        let local_z = log_time(r#"{"ts": "2026-07-28T09:15:02.481Z", "level": "info"}"#).unwrap();
        assert_eq!(local_z, json);
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("abc", 8), "abc");
    }
}
