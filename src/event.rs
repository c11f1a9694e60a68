//! Events: the unit every sink delivers, and the exact JSON body receivers
//! get (spec §3). Every event — from a log record, from the inbound endpoint,
//! or made up by `send-test` — is built here by [`Event::build`], from plain
//! parts: how loud it is, its data, its text for chat sinks, and what its id
//! is derived from. The id is stable: the same record and rule give the same
//! id after retries, restarts and on every agent reading the same source.
//!
//! Knows nothing of rules or sinks: the pipeline turns a rule's hit into
//! [`Parts`], the inbound endpoint turns a request into them.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::record::{Cursor, Origin, Stream};

/// `log` in the payload is cut to this many bytes (spec §3).
pub const MAX_LOG_BYTES: usize = 8 * 1024;

/// How loud an event is; chat sinks colour by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Notice,
    Warning,
    Error,
    Critical,
}

impl Severity {
    /// What an event is by default, by its name: `error` for `error.*` and
    /// failures, `warning` for `security.*` and deletions, else `info`.
    pub fn default_for(event: &str) -> Severity {
        if event.starts_with("error.")
            || event.ends_with(".failed")
            || event.ends_with("_failed")
            || event.starts_with("container.died")
            || event.starts_with("container.oom")
        {
            Severity::Error
        } else if event.starts_with("security.") || event.ends_with(".deleted") {
            Severity::Warning
        } else {
            Severity::Info
        }
    }
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

/// What an event says, before it has an id and a body.
#[derive(Debug, Clone)]
pub struct Parts<'a> {
    pub event: String,
    /// The rule id (`inbound`, `bridge` for events that come from no rule).
    pub rule: String,
    pub severity: Severity,
    pub message: Option<String>,
    pub timestamp: DateTime<Utc>,
    pub source: Origin,
    pub data: BTreeMap<String, String>,
    /// The raw record; cut to [`MAX_LOG_BYTES`] here.
    pub log: &'a str,
}

/// What an event's id is derived from.
pub enum Identity<'a> {
    /// A log record and the rule that matched it: read again, the same id.
    Record {
        /// The followed source (`docker:open-webui`, `file:/path`, `stdin`).
        source_key: &'a str,
        stream: Stream,
        rule: &'a str,
        /// The source's time of the record, else its position.
        ts: Option<DateTime<Utc>>,
        start: &'a Cursor,
        text: &'a str,
    },
    /// An event sent to the inbound endpoint: the sender's id when it gave one
    /// (Open WebUI's own events carry one), so a resend is the same event;
    /// else the body and the time, so each request is its own event.
    Inbound {
        sender_id: Option<&'a str>,
        body: &'a [u8],
    },
    /// An event made up now (`send-test`).
    Now { event: &'a str },
}

impl Identity<'_> {
    /// `evt_` + 96 bits of SHA-256. No '.' in it, as Standard Webhooks asks of ids.
    fn id(&self) -> String {
        let mut h = Sha256::new();
        match self {
            Identity::Record {
                source_key,
                stream,
                rule,
                ts,
                start,
                text,
            } => {
                for part in [
                    source_key.as_bytes(),
                    stream.as_str().as_bytes(),
                    rule.as_bytes(),
                ] {
                    h.update((part.len() as u64).to_le_bytes());
                    h.update(part);
                }
                match ts {
                    Some(ts) => {
                        h.update(ts.timestamp_nanos_opt().unwrap_or_default().to_le_bytes())
                    }
                    None => h.update(serde_json::to_vec(start).expect("a cursor serialises")),
                }
                h.update(text.as_bytes());
            }
            Identity::Inbound { sender_id, body } => {
                h.update(b"inbound\0");
                match sender_id {
                    Some(id) => h.update(id.as_bytes()),
                    None => {
                        h.update(body);
                        h.update(now_nanos().to_le_bytes());
                    }
                }
            }
            Identity::Now { event } => {
                h.update(event.as_bytes());
                h.update(now_nanos().to_le_bytes());
            }
        }
        format!("evt_{}", &hex::encode(h.finalize())[..24])
    }
}

fn now_nanos() -> i64 {
    Utc::now().timestamp_nanos_opt().unwrap_or_default()
}

impl Event {
    /// The event with its id and its body, serialised once.
    pub fn build(identity: Identity<'_>, parts: Parts<'_>) -> Event {
        let id = identity.id();
        let payload = Payload {
            id: id.clone(),
            event: parts.event.clone(),
            timestamp: parts.timestamp.to_rfc3339_opts(SecondsFormat::Millis, true),
            source: parts.source,
            data: parts.data,
            log: cut(parts.log, MAX_LOG_BYTES).to_string(),
        };
        Event {
            id,
            event: parts.event,
            rule: parts.rule,
            severity: parts.severity,
            message: parts.message,
            body: serde_json::to_string(&payload).expect("a payload serialises"),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record_id(source: &str, text: &str, offset: u64, rule: &str) -> String {
        Identity::Record {
            source_key: source,
            stream: Stream::File,
            rule,
            ts: None,
            start: &Cursor::Offset(offset),
            text,
        }
        .id()
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = record_id("file:/x", "line", 0, "r1");
        assert_eq!(a, record_id("file:/x", "line", 0, "r1"));
        assert_eq!(a.len(), 4 + 24);
        assert!(!a.contains('.'));
        assert_ne!(a, record_id("file:/x", "line", 5, "r1"));
        assert_ne!(a, record_id("file:/x", "line", 0, "r2"));
        assert_ne!(a, record_id("file:/y", "line", 0, "r1"));
        assert_ne!(a, record_id("file:/x", "lime", 0, "r1"));
    }

    /// Ids of earlier versions: receivers de-duplicate across an upgrade too.
    #[test]
    fn ids_are_those_of_earlier_versions() {
        assert_eq!(
            record_id("file:/x", "line", 0, "r1"),
            "evt_bbeab7044c6dcab3be602716"
        );
        let docker = Identity::Record {
            source_key: "docker:open-webui",
            stream: Stream::Stdout,
            rule: "owui.file.uploaded",
            ts: DateTime::from_timestamp(1_795_766_510, 392_000_000),
            start: &Cursor::Docker { ts_ns: 0, seq: 0 },
            text: "x",
        };
        assert_eq!(docker.id(), "evt_dea559d0e43db68fa240902b");
        let inbound = Identity::Inbound {
            sender_id: Some("6c0e"),
            body: b"{}",
        };
        assert_eq!(inbound.id(), "evt_943bbac85649761491560880");
    }

    #[test]
    fn cut_keeps_whole_characters() {
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("abc", 8), "abc");
    }

    #[test]
    fn default_severities() {
        assert_eq!(Severity::default_for("error.occurred"), Severity::Error);
        assert_eq!(Severity::default_for("user.login_failed"), Severity::Error);
        assert_eq!(Severity::default_for("chat.deleted"), Severity::Warning);
        assert_eq!(Severity::default_for("file.uploaded"), Severity::Info);
    }
}
