//! Docker's container events → lifecycle records (`docker container.died
//! name=… id=… exit_code=…`) that go through the rules and the outbox like any
//! log record, so users hear when Open WebUI stops, crashes, runs out of
//! memory or turns unhealthy. Built-in rules for them: `rules/docker.toml`.

use std::collections::HashMap;

use bollard::models::EventMessage;
use chrono::{DateTime, Utc};

use crate::record::{Cursor, Record, Stream};

/// The actions the bridge subscribes to.
pub const ACTIONS: &[&str] = &[
    "start",
    "restart",
    "die",
    "kill",
    "stop",
    "oom",
    "health_status",
    "destroy",
    "rename",
];

/// A container event, reduced to what the bridge uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifecycle {
    pub action: String,
    pub id: String,
    pub name: String,
    pub attributes: HashMap<String, String>,
    pub time_ns: i64,
}

impl Lifecycle {
    pub fn from_message(m: &EventMessage) -> Option<Lifecycle> {
        let actor = m.actor.as_ref()?;
        let attributes = actor.attributes.clone().unwrap_or_default();
        Some(Lifecycle {
            action: m.action.clone()?,
            id: actor.id.clone()?,
            name: attributes.get("name").cloned().unwrap_or_default(),
            time_ns: m
                .time_nano
                .or(m.time.map(|t| t * 1_000_000_000))
                .unwrap_or_default(),
            attributes,
        })
    }
}

/// Turns events into records; remembers recent kills so a `die` after
/// `docker stop` reads as "stopped", not "died".
#[derive(Default)]
pub struct Translator {
    killed_at: HashMap<String, i64>,
}

impl Translator {
    pub fn record(&mut self, ev: &Lifecycle) -> Option<Record> {
        let short: String = ev.id.chars().take(12).collect();
        let image = ev.attributes.get("image").map(String::as_str).unwrap_or("");
        let (event, extra) = match ev.action.as_str() {
            "start" => ("container.started", String::new()),
            "kill" => {
                self.killed_at.insert(ev.id.clone(), ev.time_ns);
                return None;
            }
            "die" => {
                let code = ev
                    .attributes
                    .get("exitCode")
                    .map(String::as_str)
                    .unwrap_or("?");
                let asked = self
                    .killed_at
                    .remove(&ev.id)
                    .is_some_and(|t| ev.time_ns - t < 60_000_000_000);
                let event = if asked || code == "0" {
                    "container.stopped"
                } else {
                    "container.died"
                };
                (event, format!(" exit_code={code}"))
            }
            "oom" => ("container.oom", String::new()),
            a if a.starts_with("health_status") && a.ends_with("unhealthy") => {
                ("container.unhealthy", String::new())
            }
            _ => return None,
        };
        let text = format!(
            "docker {event} name={} id={short} image={image}{extra}",
            ev.name
        );
        let ts = DateTime::<Utc>::from_timestamp_nanos(ev.time_ns);
        Some(Record {
            stream: Stream::Docker,
            ts: Some(ts),
            first_line: 0,
            text,
            truncated_lines: 0,
            start: Cursor::Docker {
                ts_ns: ev.time_ns,
                seq: 0,
            },
            end: Cursor::Docker {
                ts_ns: ev.time_ns,
                seq: 0,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(action: &str, t: i64, attrs: &[(&str, &str)]) -> Lifecycle {
        let mut attributes: HashMap<String, String> = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        attributes.insert("name".into(), "open-webui".into());
        attributes.insert("image".into(), "owui:1".into());
        Lifecycle {
            action: action.into(),
            id: "53b13864c575aaaa".into(),
            name: "open-webui".into(),
            attributes,
            time_ns: t,
        }
    }

    #[test]
    fn stop_crash_oom_and_health() {
        let mut t = Translator::default();
        assert_eq!(
            t.record(&ev("start", 1, &[])).unwrap().text,
            "docker container.started name=open-webui id=53b13864c575 image=owui:1"
        );
        assert!(t.record(&ev("kill", 2, &[("signal", "15")])).is_none());
        assert_eq!(
            t.record(&ev("die", 3, &[("exitCode", "143")]))
                .unwrap()
                .text,
            "docker container.stopped name=open-webui id=53b13864c575 image=owui:1 exit_code=143"
        );
        assert_eq!(
            t.record(&ev("die", 4, &[("exitCode", "1")])).unwrap().text,
            "docker container.died name=open-webui id=53b13864c575 image=owui:1 exit_code=1"
        );
        assert_eq!(
            t.record(&ev("oom", 5, &[])).unwrap().text,
            "docker container.oom name=open-webui id=53b13864c575 image=owui:1"
        );
        assert!(t.record(&ev("health_status: healthy", 6, &[])).is_none());
        assert!(t
            .record(&ev("health_status: unhealthy", 7, &[]))
            .unwrap()
            .text
            .starts_with("docker container.unhealthy"));
        assert!(t.record(&ev("destroy", 8, &[])).is_none());
    }
}
