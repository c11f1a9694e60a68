//! The HTTP endpoint (spec §6, `BRIDGE_LISTEN`): `/healthz`, `/readyz`,
//! `/metrics`, and `POST /api/v1/webhook` (`inbound`), which takes an event
//! from outside into the same outbox as log events. Read-only towards the
//! other stages, except that inbound events are stored like any other.

mod inbound;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::watch;
use tracing::info;

pub use inbound::{inbound_event, FloodGuard};

use self::inbound::Inbound;
use crate::metrics::METRICS;
use crate::outbox::Outbox;
use crate::secret::SecretKey;
use crate::sink::Routes;

/// Largest inbound body (spec §6).
pub const MAX_BODY: usize = 1 << 20;

pub struct ServerState {
    pub outbox: Option<Outbox>,
    pub routes: Routes,
    /// The raw `WEBHOOK_SECRET` (for `X-Webhook-Secret`) and its HMAC key.
    pub secret: Option<(String, SecretKey)>,
    pub state_dir: PathBuf,
    pub flood: FloodGuard,
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
    match crate::health::readiness() {
        Ok(source) => json(
            StatusCode::OK,
            serde_json::json!({"ready": true, "source": source}),
        ),
        Err(reason) => json(
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
    for r in st.routes.iter() {
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
    let inbound = Inbound {
        outbox: st.outbox.as_ref(),
        routes: &st.routes,
        secret: st.secret.as_ref(),
        flood: &st.flood,
    };
    let (status, answer) = inbound.handle(&headers, &body).await;
    json(status, answer)
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
            crate::sink::http::describe_transport_error(&e)
        )),
    }
}
