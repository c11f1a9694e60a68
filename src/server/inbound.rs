//! `POST /api/v1/webhook`: an event from outside — the seed's curl test, or
//! Open WebUI's own 0.10+ event webhooks — into the same outbox as log
//! events, answered 202 only once it is on disk, with where it goes.
//!
//! Owns: who may post (`X-Webhook-Secret` or a valid `X-Webhook-Signature`),
//! reading the JSON into an event's parts, and two guards against a
//! `WEBHOOK_URL` that points back at this endpoint: an event that is the
//! bridge's own delivery coming back is refused (not queued again), and a
//! flood of events is cut and said once.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::event::{Event, Identity, Parts, Severity};
use crate::outbox::Outbox;
use crate::record::Origin;
use crate::secret::SecretKey;
use crate::sink::{signature, Routes};

/// Events accepted per second, sustained, before a flood is cut…
const FLOOD_RATE: f64 = 200.0;
/// …and the burst allowed on top (a restart of Open WebUI with a backlog).
const FLOOD_BURST: f64 = 2000.0;

/// The answer: status and JSON body.
pub type Answer = (StatusCode, Value);

/// A token bucket over accepted events; says a flood once when it starts
/// and once when it is over.
pub struct FloodGuard {
    state: Mutex<Bucket>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
    cut: u64,
}

impl Default for FloodGuard {
    fn default() -> Self {
        FloodGuard {
            state: Mutex::new(Bucket {
                tokens: FLOOD_BURST,
                at: Instant::now(),
                cut: 0,
            }),
        }
    }
}

impl FloodGuard {
    /// Whether one more event may be accepted now.
    fn admit(&self) -> bool {
        let mut b = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let refill = now.duration_since(b.at).as_secs_f64() * FLOOD_RATE;
        b.tokens = (b.tokens + refill).min(FLOOD_BURST);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            if b.cut > 0 && b.tokens >= FLOOD_BURST / 2.0 {
                info!(
                    refused = b.cut,
                    "inbound webhook: the flood is over; accepting events again"
                );
                b.cut = 0;
            }
            return true;
        }
        if b.cut == 0 {
            warn!("inbound webhook: more than {FLOOD_RATE} events a second arrive on POST /api/v1/webhook; refusing the excess with 429 until it slows down (if WEBHOOK_URL points at this bridge, events go round in a loop: set it to your receiver)");
        }
        b.cut += 1;
        false
    }
}

/// Everything the endpoint needs.
pub struct Inbound<'a> {
    pub outbox: Option<&'a Outbox>,
    pub routes: &'a Routes,
    /// The raw `WEBHOOK_SECRET` (for `X-Webhook-Secret`) and its HMAC key.
    pub secret: Option<&'a (String, SecretKey)>,
    pub flood: &'a FloodGuard,
}

impl Inbound<'_> {
    pub async fn handle(&self, headers: &HeaderMap, body: &[u8]) -> Answer {
        let Some((secret, key)) = self.secret else {
            return (
                StatusCode::FORBIDDEN,
                json!({"error": "the inbound webhook is disabled because no secret is configured; set WEBHOOK_SECRET to enable POST /api/v1/webhook"}),
            );
        };
        if !authorized(headers, body, secret, key) {
            return (
                StatusCode::UNAUTHORIZED,
                json!({"error": "send X-Webhook-Secret with the bridge's WEBHOOK_SECRET, or X-Webhook-Signature with the hex HMAC-SHA256 of the body"}),
            );
        }
        let webhook_id = header(headers, "webhook-id");
        if let (Some(id), Some(ob)) = (webhook_id, self.outbox) {
            if ob.seen(id).unwrap_or(false) {
                return (
                    StatusCode::MISDIRECTED_REQUEST,
                    json!({"error": format!("event {id} is this bridge's own delivery coming back: WEBHOOK_URL points at owui-bridge's inbound endpoint; set WEBHOOK_URL to your receiver's address (where events should go)")}),
                );
            }
        }
        let ev = match inbound_event(body, webhook_id) {
            Ok(ev) => ev,
            Err(reason) => return (StatusCode::BAD_REQUEST, json!({"error": reason})),
        };
        if !self.flood.admit() {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                json!({"error": "too many events a second on POST /api/v1/webhook; try again shortly"}),
            );
        }
        let routing = self.routes.route(&ev.event);
        let sinks: Vec<String> = routing.to.iter().map(|s| s.to_string()).collect();
        match self.outbox {
            Some(ob) => {
                if let Err(e) = ob.store_now(vec![(ev.clone(), sinks.clone())]).await {
                    warn!(error = %e, "cannot store an inbound event");
                    return (
                        StatusCode::SERVICE_UNAVAILABLE,
                        json!({"error": "cannot store the event right now; try again"}),
                    );
                }
            }
            None => println!("{}", ev.body),
        }
        info!(event = %ev.event, id = %ev.id, "inbound event {}", routing.describe());
        crate::metrics::METRICS.event(&ev.event);
        crate::metrics::Metrics::add(&crate::metrics::METRICS.inbound_webhooks, 1);
        let mut answer = json!({"id": ev.id, "sinks": sinks});
        let filtered = routing.filtered_reasons();
        if !filtered.is_empty() {
            answer["filtered"] = json!(filtered);
        }
        if sinks.is_empty() {
            answer["warning"] = json!(format!(
                "no receiver takes event '{}': add it to the filter named above (or use *), or send an event the filter lists",
                ev.event
            ));
        }
        (StatusCode::ACCEPTED, answer)
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// `X-Webhook-Secret` equal to the secret (compared in constant time, by
/// digest so the length does not show either), or a valid `X-Webhook-Signature`.
fn authorized(headers: &HeaderMap, body: &[u8], secret: &str, key: &SecretKey) -> bool {
    let secret_ok = header(headers, "x-webhook-secret").is_some_and(|given| {
        let (a, b) = (
            Sha256::digest(given.as_bytes()),
            Sha256::digest(secret.as_bytes()),
        );
        a.iter()
            .zip(b.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    });
    secret_ok
        || header(headers, "x-webhook-signature")
            .is_some_and(|sig| signature::verify_hex(key, body, sig))
}

/// `{"event": "...", "data": {...}}` (the seed's test call), or Open WebUI's own
/// event payload (0.10+: `event`, `data`, `actor`, `subject`, `id`), or its
/// legacy `{"action": "signup", ...}` webhook.
pub fn inbound_event(body: &[u8], webhook_id: Option<&str>) -> Result<Event, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    let obj = v
        .as_object()
        .ok_or("the body must be a JSON object like {\"event\":\"test\",\"data\":{...}}")?;
    let event = match (obj.get("event").and_then(|e| e.as_str()), obj.get("action").and_then(|a| a.as_str())) {
        (Some(e), _) => e.trim().to_ascii_lowercase(),
        (None, Some("signup")) => "user.created".to_string(),
        (None, Some(a)) => format!("openwebui.{}", a.to_ascii_lowercase()),
        (None, None) => return Err("the body has no \"event\" field (e.g. {\"event\":\"test\",\"data\":{\"message\":\"hi\"}})".into()),
    };
    if event.is_empty()
        || event.len() > 100
        || !event
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(format!(
            "'{}' is not an event name (letters, digits, '.', '_' and '-')",
            crate::event::cut(&event, 100)
        ));
    }
    let mut data = BTreeMap::new();
    if let Some(d) = obj.get("data") {
        flatten("", d, &mut data);
    }
    if let Some(m) = obj.get("message").and_then(|m| m.as_str()) {
        data.entry("message".to_string())
            .or_insert_with(|| m.to_string());
    }
    for (field, prefix) in [("actor", "actor_"), ("subject", "subject_")] {
        if let Some(Value::Object(o)) = obj.get(field) {
            for k in ["id", "email", "name", "role", "type"] {
                if let Some(s) = o.get(k).and_then(|s| s.as_str()) {
                    data.insert(format!("{prefix}{k}"), s.to_string());
                }
            }
        }
    }
    let sender_id = webhook_id.or_else(|| obj.get("id").and_then(|i| i.as_str()));
    let message = data.get("message").cloned();
    let parts = Parts {
        event,
        rule: "inbound".into(),
        severity: Severity::Info,
        message,
        timestamp: Utc::now(),
        source: Origin::local("inbound", None),
        data,
        log: "",
    };
    Ok(Event::build(Identity::Inbound { sender_id, body }, parts))
}

/// Nested JSON becomes `a.b` keys; non-strings keep their JSON text.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    let key = || {
        if prefix.is_empty() {
            "value".to_string()
        } else {
            prefix.to_string()
        }
    };
    match v {
        Value::Object(o) => {
            for (k, v) in o {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        Value::String(s) => {
            out.insert(key(), s.clone());
        }
        other => {
            out.insert(key(), other.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Payload;

    #[test]
    fn seed_test_call_and_open_webui_payloads() {
        let ev = inbound_event(
            br#"{"event":"test","data":{"message":"Test webhook"}}"#,
            None,
        )
        .unwrap();
        assert_eq!(ev.event, "test");
        let p: Payload = serde_json::from_str(&ev.body).unwrap();
        assert_eq!(
            p.data.get("message").map(String::as_str),
            Some("Test webhook")
        );
        assert_eq!(p.source.stream, "inbound");

        let owui = br#"{"schema":"0.11.0","id":"6c0e","event":"message.created","actor":{"id":"u1","email":"alice@example.com"},"subject":{"type":"message","id":"m1"},"data":{"chat_id":"c1","role":"user","n":3}}"#;
        let a = inbound_event(owui, None).unwrap();
        let b = inbound_event(owui, None).unwrap();
        assert_eq!(a.id, b.id, "Open WebUI's own id makes ours stable");
        let p: Payload = serde_json::from_str(&a.body).unwrap();
        assert_eq!(p.data["actor_email"], "alice@example.com");
        assert_eq!(p.data["subject_id"], "m1");
        assert_eq!(p.data["n"], "3");

        assert!(inbound_event(b"{nope", None)
            .unwrap_err()
            .starts_with("the body is not valid JSON"));
        assert!(inbound_event(br#"{"data":{}}"#, None)
            .unwrap_err()
            .contains("no \"event\" field"));
        assert_eq!(
            inbound_event(br#"{"action":"signup","message":"New user"}"#, None)
                .unwrap()
                .event,
            "user.created"
        );
    }

    #[test]
    fn a_flood_is_cut_and_recovers() {
        let g = FloodGuard::default();
        let admitted = (0..(FLOOD_BURST as usize + 500))
            .filter(|_| g.admit())
            .count();
        assert!(
            admitted >= FLOOD_BURST as usize && admitted < FLOOD_BURST as usize + 100,
            "{admitted}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(g.admit(), "tokens come back with time");
    }
}
