//! The HTTP endpoint (spec §6, `BRIDGE_LISTEN`): `/healthz`, `/readyz`,
//! `/metrics`, and `POST /api/v1/webhook`, which takes an event from outside
//! (the seed's curl test, or Open WebUI's own 0.10+ event webhooks) into the
//! same outbox as log events. Read-only towards the other stages, except that
//! inbound events are stored like any other.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::SecretKey;
use crate::event::{hostname, Event, Origin, Payload};
use crate::health::{self, SourceState};
use crate::metrics::{Metrics, METRICS};
use crate::outbox::Outbox;
use crate::rules::Severity;
use crate::sink::Route;

/// Largest inbound body (spec §6).
pub const MAX_BODY: usize = 1 << 20;

pub struct ServerState {
    pub outbox: Option<Outbox>,
    pub routes: Vec<Route>,
    /// The raw `WEBHOOK_SECRET` (for `X-Webhook-Secret`) and its HMAC key.
    pub secret: Option<(String, SecretKey)>,
    pub state_dir: PathBuf,
}

pub async fn serve(
    addr: SocketAddr,
    state: ServerState,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    info!(addr = %listener.local_addr()?, "HTTP endpoint listening (/healthz, /readyz, /metrics, POST /api/v1/webhook)");
    axum::serve(listener, router(Arc::new(state)))
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}

pub fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/webhook", post(inbound))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn readyz(State(st): State<Arc<ServerState>>) -> Response {
    if let Err(e) = crate::outbox::probe_writable(&st.state_dir) {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"ready": false, "reason": format!("the state directory {} is not writable: {e}", st.state_dir.display())}),
        );
    }
    match health::get() {
        SourceState::Following(what) => json(
            StatusCode::OK,
            serde_json::json!({"ready": true, "source": what}),
        ),
        SourceState::WaitingForStart(what) => json(
            StatusCode::OK,
            serde_json::json!({"ready": true, "source": what}),
        ),
        SourceState::Starting => json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"ready": false, "reason": "starting"}),
        ),
        SourceState::Trouble(reason) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"ready": false, "reason": reason}),
        ),
    }
}

async fn metrics(State(st): State<Arc<ServerState>>) -> Response {
    let (pending, dead) = match &st.outbox {
        Some(ob) => (
            ob.pending_by_sink()
                .unwrap_or_default()
                .into_iter()
                .collect::<BTreeMap<_, _>>(),
            ob.dead_by_sink()
                .unwrap_or_default()
                .into_iter()
                .collect::<BTreeMap<_, _>>(),
        ),
        None => Default::default(),
    };
    let mut pending = pending;
    let mut dead = dead;
    for r in &st.routes {
        pending.entry(r.sink.clone()).or_insert(0);
        dead.entry(r.sink.clone()).or_insert(0);
    }
    (
        StatusCode::OK,
        [("content-type", "text/plain; version=0.0.4")],
        METRICS.render(&pending, &dead),
    )
        .into_response()
}

async fn inbound(State(st): State<Arc<ServerState>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some((secret, key)) = &st.secret else {
        return json(
            StatusCode::FORBIDDEN,
            serde_json::json!({"error": "the inbound webhook is disabled because no secret is configured; set WEBHOOK_SECRET to enable POST /api/v1/webhook"}),
        );
    };
    if !authorized(&headers, &body, secret, key) {
        return json(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"error": "send X-Webhook-Secret with the bridge's WEBHOOK_SECRET, or X-Webhook-Signature with the hex HMAC-SHA256 of the body"}),
        );
    }
    let ev = match inbound_event(
        &body,
        headers.get("webhook-id").and_then(|v| v.to_str().ok()),
    ) {
        Ok(ev) => ev,
        Err(reason) => {
            return json(
                StatusCode::BAD_REQUEST,
                serde_json::json!({"error": reason}),
            )
        }
    };
    match &st.outbox {
        Some(ob) => {
            let sinks: Vec<String> = st
                .routes
                .iter()
                .filter(|r| r.events.allows(&ev.event))
                .map(|r| r.sink.clone())
                .collect();
            if let Err(e) = ob.commit(&[(ev.clone(), sinks)], None) {
                warn!(error = %e, "cannot store an inbound event");
                return json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    serde_json::json!({"error": "cannot store the event right now; try again"}),
                );
            }
        }
        None => println!("{}", ev.body),
    }
    METRICS.event(&ev.event);
    Metrics::add(&METRICS.inbound_webhooks, 1);
    json(StatusCode::ACCEPTED, serde_json::json!({"id": ev.id}))
}

fn authorized(headers: &HeaderMap, body: &[u8], secret: &str, key: &SecretKey) -> bool {
    if let Some(given) = headers
        .get("x-webhook-secret")
        .and_then(|v| v.to_str().ok())
    {
        if ct_eq(
            Sha256::digest(given.as_bytes()).as_slice(),
            Sha256::digest(secret.as_bytes()).as_slice(),
        ) {
            return true;
        }
    }
    if let Some(sig) = headers
        .get("x-webhook-signature")
        .and_then(|v| v.to_str().ok())
    {
        let sig = sig.trim().strip_prefix("sha256=").unwrap_or(sig.trim());
        if let Ok(raw) = hex::decode(sig) {
            if let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key.bytes()) {
                mac.update(body);
                return mac.verify_slice(&raw).is_ok();
            }
        }
    }
    false
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `{"event": "...", "data": {...}}` (the seed's test call), or Open WebUI's own
/// event payload (0.10+: `event`, `data`, `actor`, `subject`, `id`), or its
/// legacy `{"action": "signup", ...}` webhook.
pub fn inbound_event(body: &[u8], webhook_id: Option<&str>) -> Result<Event, String> {
    let v: serde_json::Value =
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
            "'{event}' is not an event name (letters, digits, '.', '_' and '-')"
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
        if let Some(serde_json::Value::Object(o)) = obj.get(field) {
            for k in ["id", "email", "name", "role", "type"] {
                if let Some(s) = o.get(k).and_then(|s| s.as_str()) {
                    data.insert(format!("{prefix}{k}"), s.to_string());
                }
            }
        }
    }
    let origin_id = webhook_id
        .map(str::to_string)
        .or_else(|| obj.get("id").and_then(|i| i.as_str()).map(str::to_string));
    let mut h = Sha256::new();
    h.update(b"inbound\0");
    match &origin_id {
        Some(id) => h.update(id.as_bytes()),
        None => {
            h.update(body);
            h.update(
                Utc::now()
                    .timestamp_nanos_opt()
                    .unwrap_or_default()
                    .to_le_bytes(),
            );
        }
    }
    let id = format!("evt_{}", &hex::encode(h.finalize())[..24]);
    let payload = Payload {
        id: id.clone(),
        event: event.clone(),
        timestamp: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        source: Origin {
            container: None,
            container_id: None,
            stream: "inbound".into(),
            host: hostname(),
            file: None,
        },
        data,
        log: String::new(),
    };
    let message = payload.data.get("message").cloned();
    Ok(Event {
        id,
        event,
        rule: "inbound".into(),
        severity: Severity::Info,
        message,
        body: serde_json::to_string(&payload).unwrap_or_default(),
    })
}

/// Nested JSON becomes `a.b` keys; non-strings keep their JSON text.
fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    match v {
        serde_json::Value::Object(o) => {
            for (k, v) in o {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        serde_json::Value::String(s) => {
            out.insert(
                if prefix.is_empty() {
                    "value".into()
                } else {
                    prefix.to_string()
                },
                s.clone(),
            );
        }
        other => {
            out.insert(
                if prefix.is_empty() {
                    "value".into()
                } else {
                    prefix.to_string()
                },
                other.to_string(),
            );
        }
    }
}

/// `owui-bridge healthcheck`: asks the running bridge's `/healthz` (for Docker's HEALTHCHECK).
pub async fn probe(listen: SocketAddr) -> Result<(), String> {
    let port = listen.port();
    let url = format!("http://127.0.0.1:{port}/healthz");
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .map_err(|e| e.to_string())?;
    match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("{url} answered {}", r.status())),
        Err(e) => Err(format!(
            "{url}: {}",
            crate::sink::webhook::describe_transport_error(&e)
        )),
    }
}

/// Counts for `/metrics` that come from elsewhere.
pub fn set_rules_loaded(n: usize) {
    METRICS.rules_loaded.store(n as u64, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
