//! Loopback stand-ins for Discord, Slack and Telegram.
//!
//! Each fake is a real HTTP/1.1 server on 127.0.0.1 that checks what the real
//! platform checks and answers the way it does:
//!
//! * Discord (Execute Webhook): the path `/api/webhooks/<id>/<token>` (unknown
//!   id → 404 `Unknown Webhook` 10015, wrong token → 401 `Invalid Webhook
//!   Token` 50027), a JSON body, at least one of `content`/`embeds`, and every
//!   embed limit (title 256, description 4096, 25 fields, field name 256 and
//!   value 1024, non-empty names and values, footer 2048, 6000 in total, counted
//!   in characters after trimming) → 400 `Invalid Form Body` 50035. It also
//!   insists on `allowed_mentions: {"parse": []}` (owui-bridge's own rule; the
//!   real Discord would accept a message without it and might ping). Success:
//!   200 with the message and `X-RateLimit-*` headers.
//! * Slack (incoming webhook): the path (else 404 `no_service`), JSON content
//!   type and body (else 400 `invalid_payload`), `text` or `blocks` (else
//!   `no_text`), ≤ 50 blocks, header ≤ 150, section text ≤ 3000, ≤ 10 fields of ≤
//!   2000, context ≤ 10 elements (else 400 `invalid_blocks`). Success: 200 `ok`.
//! * Telegram (`sendMessage`): the path `/bot<token>/sendMessage` (other token →
//!   401 `Unauthorized`, other path → 404 `Not Found`), `chat_id`, non-empty
//!   `text`, HTML that Telegram can parse (only its tags, properly nested and
//!   closed, only its entities) → 400 `can't parse entities`, and ≤ 4096
//!   after entities parsing, counted in UTF-16 code units → 400 `message is too
//!   long`. Success: `{"ok":true,"result":{…}}`.
//!
//! Replies can be scripted ([`Platform::script`]): a scripted reply answers a
//! request that passed the checks; a request that fails them always gets the
//! platform's error. Every request is recorded ([`Platform::seen`]) with the
//! problems found. The `*_view` functions show a message roughly as a person
//! would see it in the app.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

pub use super::platform_rules::*;

pub const DISCORD_ID: &str = "112233445566778899";
pub const DISCORD_TOKEN: &str = "dIsCoRd-ToKeN_0123456789abcdefABCDEF";
pub const SLACK_PATH: &str = "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX";
pub const TELEGRAM_TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Discord,
    Slack,
    Telegram,
}

/// A scripted answer.
#[derive(Clone, Debug)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Canned {
    pub fn json(status: u16, body: &str) -> Canned {
        Canned {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
        }
    }
    pub fn text(status: u16, body: &str) -> Canned {
        Canned {
            status,
            headers: vec![("content-type".into(), "text/html".into())],
            body: body.into(),
        }
    }
    pub fn header(mut self, name: &str, value: &str) -> Canned {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// One request as the platform saw it, and how it was answered.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub json: Value,
    /// What the platform's checks found wrong (empty: the request was valid).
    pub problems: Vec<String>,
    pub status: u16,
    pub at: Instant,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

struct Shared {
    kind: Kind,
    script: Mutex<VecDeque<Canned>>,
    seen: Mutex<Vec<Seen>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Platform {
    addr: SocketAddr,
    kind: Kind,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Platform {
    pub async fn discord() -> Platform {
        Platform::start(Kind::Discord).await
    }
    pub async fn slack() -> Platform {
        Platform::start(Kind::Slack).await
    }
    pub async fn telegram() -> Platform {
        Platform::start(Kind::Telegram).await
    }
    /// Telegram on another address of this machine (a Docker network's
    /// gateway, for a bridge in a container), on a free port.
    #[cfg_attr(not(feature = "image-tests"), allow(dead_code))]
    pub async fn telegram_on(ip: std::net::IpAddr) -> Platform {
        Platform::start_on(Kind::Telegram, SocketAddr::new(ip, 0)).await
    }

    async fn start(kind: Kind) -> Platform {
        Platform::start_on(kind, ([127, 0, 0, 1], 0).into()).await
    }

    async fn start_on(kind: Kind, at: SocketAddr) -> Platform {
        let listener = tokio::net::TcpListener::bind(at)
            .await
            .unwrap_or_else(|e| panic!("bind {at}: {e}"));
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            kind,
            script: Mutex::new(VecDeque::new()),
            seen: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Platform {
            addr,
            kind,
            shared,
            task,
        }
    }

    /// What to configure: the Discord or Slack webhook URL, or Telegram's API base.
    pub fn url(&self) -> String {
        match self.kind {
            Kind::Discord => format!(
                "http://{}/api/webhooks/{DISCORD_ID}/{DISCORD_TOKEN}",
                self.addr
            ),
            Kind::Slack => format!("http://{}{SLACK_PATH}", self.addr),
            Kind::Telegram => format!("http://{}", self.addr),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queue answers for the next valid requests, in order.
    pub fn script(&self, replies: Vec<Canned>) {
        lock(&self.shared.script).extend(replies);
    }

    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.shared.seen).clone()
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = uri.path().to_string();
    let (problems, error) = match shared.kind {
        Kind::Discord => discord_check(&path, &content_type, &json),
        Kind::Slack => slack_check(&path, &content_type, &json),
        Kind::Telegram => telegram_check(&path, &content_type, &json),
    };
    let n = lock(&shared.seen).len();
    let reply = match error {
        Some(e) => e,
        None => lock(&shared.script)
            .pop_front()
            .unwrap_or_else(|| success(shared.kind, &json, n)),
    };
    lock(&shared.seen).push(Seen {
        path,
        query: uri.query().map(str::to_string),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
        json,
        problems,
        status: reply.status,
        at: Instant::now(),
    });
    let mut resp = (
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        reply.body,
    )
        .into_response();
    for (k, v) in reply.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::try_from(k.as_str()),
            HeaderValue::try_from(v.as_str()),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

fn success(kind: Kind, json: &Value, n: usize) -> Canned {
    match kind {
        Kind::Discord => Canned::json(
            200,
            &json!({
                "id": format!("13000000000000000{n:02}"),
                "type": 0,
                "content": json["content"].as_str().unwrap_or(""),
                "channel_id": "1200000000000000000",
                "embeds": json["embeds"],
                "webhook_id": DISCORD_ID,
                "timestamp": "2026-11-27T08:01:51.000000+00:00",
            })
            .to_string(),
        )
        .header("x-ratelimit-limit", "5")
        .header("x-ratelimit-remaining", "4")
        .header("x-ratelimit-reset-after", "0.4")
        .header("x-ratelimit-bucket", "0a1b2c3d4e5f"),
        Kind::Slack => Canned::text(200, "ok"),
        Kind::Telegram => {
            let text = json["text"]
                .as_str()
                .and_then(|t| telegram_parse_html(t).ok())
                .unwrap_or_default();
            Canned::json(
                200,
                &json!({"ok": true, "result": {
                    "message_id": 100 + n,
                    "from": {"id": 123456789, "is_bot": true, "first_name": "owui", "username": "owui_bot"},
                    "chat": {"id": json["chat_id"], "title": "ops", "type": "supergroup"},
                    "date": 1795766511,
                    "text": text,
                }})
                .to_string(),
            )
        }
    }
}

// ---- Discord ---------------------------------------------------------------

fn discord_form_error(problems: &[String]) -> Canned {
    // Discord nests errors by path: {"embeds": {"0": {"title": {"_errors": [...]}}}}.
    let mut errors = json!({});
    for p in problems {
        let (path, msg) = p.split_once(": ").unwrap_or(("body", p.as_str()));
        let mut node = &mut errors;
        for seg in path.split('.') {
            node = node
                .as_object_mut()
                .expect("object")
                .entry(seg.to_string())
                .or_insert_with(|| json!({}));
        }
        node["_errors"] = json!([{"code": "BASE_TYPE_MAX_LENGTH", "message": msg}]);
    }
    Canned::json(
        400,
        &json!({"message": "Invalid Form Body", "code": 50035, "errors": errors}).to_string(),
    )
}

fn discord_check(path: &str, content_type: &str, json: &Value) -> (Vec<String>, Option<Canned>) {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segs.as_slice() {
        ["api", "webhooks", id, token] if *id == DISCORD_ID => {
            if *token != DISCORD_TOKEN {
                let p = vec![format!("wrong token for webhook {id}")];
                return (
                    p,
                    Some(Canned::json(
                        401,
                        r#"{"message": "Invalid Webhook Token", "code": 50027}"#,
                    )),
                );
            }
        }
        _ => {
            return (
                vec![format!("no webhook at {path}")],
                Some(Canned::json(
                    404,
                    r#"{"message": "Unknown Webhook", "code": 10015}"#,
                )),
            )
        }
    }
    if !content_type.starts_with("application/json") || !json.is_object() {
        return (
            vec![format!("not a JSON body (content-type {content_type:?})")],
            Some(Canned::json(
                400,
                r#"{"message": "Cannot send an empty message", "code": 50006}"#,
            )),
        );
    }
    let p = discord_problems(json);
    let err = (!p.is_empty()).then(|| discord_form_error(&p));
    (p, err)
}

// ---- Slack -----------------------------------------------------------------

fn slack_check(path: &str, content_type: &str, json: &Value) -> (Vec<String>, Option<Canned>) {
    if path != SLACK_PATH {
        return (
            vec![format!("no webhook at {path}")],
            Some(Canned::text(404, "no_service")),
        );
    }
    if !content_type.starts_with("application/json") || !json.is_object() {
        return (
            vec![format!("not a JSON body (content-type {content_type:?})")],
            Some(Canned::text(400, "invalid_payload")),
        );
    }
    let p = slack_problems(json);
    let err = if p.iter().any(|p| p == "no_text") {
        Some(Canned::text(400, "no_text"))
    } else if !p.is_empty() {
        Some(Canned::text(400, "invalid_blocks"))
    } else {
        None
    };
    (p, err)
}

// ---- Telegram --------------------------------------------------------------

fn tg_error(status: u16, description: &str) -> Canned {
    Canned::json(
        status,
        &json!({"ok": false, "error_code": status, "description": description}).to_string(),
    )
}

fn telegram_check(path: &str, content_type: &str, json: &Value) -> (Vec<String>, Option<Canned>) {
    let expected = format!("/bot{TELEGRAM_TOKEN}/");
    match path.strip_prefix(&expected) {
        Some(m) if m.eq_ignore_ascii_case("sendMessage") => {}
        Some(_) => {
            return (
                vec![format!("no method at {path}")],
                Some(tg_error(404, "Not Found")),
            )
        }
        None if path.starts_with("/bot") => {
            return (
                vec!["wrong token".into()],
                Some(tg_error(401, "Unauthorized")),
            )
        }
        None => {
            return (
                vec![format!("not the Bot API: {path}")],
                Some(tg_error(404, "Not Found")),
            )
        }
    }
    if !content_type.starts_with("application/json") || !json.is_object() {
        return (
            vec![format!("not a JSON body (content-type {content_type:?})")],
            Some(tg_error(400, "Bad Request: message text is empty")),
        );
    }
    let mut p = Vec::new();
    if !(json["chat_id"].is_i64() || json["chat_id"].as_str().is_some_and(|s| !s.is_empty())) {
        return (
            vec!["chat_id".into()],
            Some(tg_error(400, "Bad Request: chat_id is empty")),
        );
    }
    if json.get("message_thread_id").is_some() && !json["message_thread_id"].is_i64() {
        p.push("message_thread_id must be an integer".into());
    }
    if json.get("disable_web_page_preview").is_some() {
        p.push("disable_web_page_preview is legacy; use link_preview_options".into());
    }
    let text = json["text"].as_str().unwrap_or("");
    let visible = if json["parse_mode"] == "HTML" {
        match telegram_parse_html(text) {
            Ok(v) => v,
            Err(e) => {
                return (
                    vec![format!("can't parse entities: {e}")],
                    Some(tg_error(
                        400,
                        &format!("Bad Request: can't parse entities: {e}"),
                    )),
                )
            }
        }
    } else {
        text.to_string()
    };
    if visible.trim().is_empty() {
        return (
            vec!["empty text".into()],
            Some(tg_error(400, "Bad Request: message text is empty")),
        );
    }
    if telegram_len(&visible) > 4096 {
        return (
            vec![format!(
                "text is {} long after parsing",
                telegram_len(&visible)
            )],
            Some(tg_error(400, "Bad Request: message is too long")),
        );
    }
    let err = (!p.is_empty()).then(|| tg_error(400, &format!("Bad Request: {}", p[0])));
    (p, err)
}
