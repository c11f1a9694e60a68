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

/// Discord's length: characters, after trimming white space at both ends.
fn dlen(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.trim().chars().count())
}

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

/// Discord's checks; problems are `path: message`.
pub fn discord_problems(json: &Value) -> Vec<String> {
    let mut p = Vec::new();
    let mut max = |path: String, v: &Value, n: usize| {
        if dlen(v) > n {
            p.push(format!("{path}: Must be {n} or fewer in length."));
        }
    };
    max("content".into(), &json["content"], 2000);
    let embeds = json["embeds"].as_array().cloned().unwrap_or_default();
    if embeds.len() > 10 {
        p.push("embeds: Must be 10 or fewer in length.".into());
    }
    let mut total = 0;
    for (i, e) in embeds.iter().enumerate() {
        let mut max = |f: &str, v: &Value, n: usize| {
            if dlen(v) > n {
                p.push(format!("embeds.{i}.{f}: Must be {n} or fewer in length."));
            }
        };
        max("title", &e["title"], 256);
        max("description", &e["description"], 4096);
        max("footer.text", &e["footer"]["text"], 2048);
        max("author.name", &e["author"]["name"], 256);
        total += dlen(&e["title"])
            + dlen(&e["description"])
            + dlen(&e["footer"]["text"])
            + dlen(&e["author"]["name"]);
        let fields = e["fields"].as_array().cloned().unwrap_or_default();
        if fields.len() > 25 {
            p.push(format!("embeds.{i}.fields: Must be 25 or fewer in length."));
        }
        for (j, f) in fields.iter().enumerate() {
            for (k, n) in [("name", 256), ("value", 1024)] {
                let l = dlen(&f[k]);
                if l == 0 {
                    p.push(format!("embeds.{i}.fields.{j}.{k}: This field is required"));
                } else if l > n {
                    p.push(format!(
                        "embeds.{i}.fields.{j}.{k}: Must be {n} or fewer in length."
                    ));
                }
            }
            total += dlen(&f["name"]) + dlen(&f["value"]);
        }
        if let Some(c) = e.get("color") {
            if !c.as_u64().is_some_and(|c| c <= 0xFFFFFF) {
                p.push(format!(
                    "embeds.{i}.color: Value must be an integer in 0..=16777215."
                ));
            }
        }
        if let Some(t) = e.get("timestamp") {
            if !t
                .as_str()
                .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
            {
                p.push(format!(
                    "embeds.{i}.timestamp: Could not parse {t}. Should be ISO8601."
                ));
            }
        }
    }
    if total > 6000 {
        p.push(format!(
            "embeds: Embed size exceeds maximum size of 6000 ({total})"
        ));
    }
    if dlen(&json["content"]) == 0 && embeds.is_empty() {
        p.push("content: Cannot send an empty message".into());
    }
    if json["allowed_mentions"]["parse"] != json!([]) {
        p.push(
            "allowed_mentions.parse: must be [] (owui-bridge never lets log text mention anyone)"
                .into(),
        );
    }
    p
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

/// Markdown escapes removed: `\*` shows as `*`; zero-width spaces are invisible.
fn discord_unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(|n| n.is_ascii_punctuation()) => {
                out.push(chars.next().unwrap_or('\\'))
            }
            '\u{200B}' => {}
            _ => out.push(c),
        }
    }
    out
}

/// The embed roughly as Discord shows it.
pub fn discord_view(json: &Value) -> String {
    let mut out = String::new();
    for e in json["embeds"].as_array().into_iter().flatten() {
        let bar = format!("▌ (colour #{:06X}) ", e["color"].as_u64().unwrap_or(0));
        out.push_str(&format!(
            "{bar}\n▌ {}\n",
            discord_unescape(e["title"].as_str().unwrap_or(""))
        ));
        for line in discord_unescape(e["description"].as_str().unwrap_or("")).lines() {
            out.push_str(&format!("▌ {line}\n"));
        }
        let mut row = Vec::new();
        let flush = |row: &mut Vec<String>, out: &mut String| {
            if !row.is_empty() {
                out.push_str(&format!("▌ {}\n", row.join("   |   ")));
                row.clear();
            }
        };
        for f in e["fields"].as_array().into_iter().flatten() {
            let cell = format!(
                "[{}] {}",
                discord_unescape(f["name"].as_str().unwrap_or("")),
                discord_unescape(f["value"].as_str().unwrap_or(""))
            );
            if f["inline"] == json!(true) {
                row.push(cell);
                if row.len() == 3 {
                    flush(&mut row, &mut out);
                }
            } else {
                flush(&mut row, &mut out);
                out.push_str(&format!("▌ {cell}\n"));
            }
        }
        flush(&mut row, &mut out);
        out.push_str(&format!(
            "▌ {} • {}\n",
            e["footer"]["text"].as_str().unwrap_or(""),
            e["timestamp"].as_str().unwrap_or("")
        ));
    }
    out
}

// ---- Slack -----------------------------------------------------------------

fn slen(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

/// Block Kit checks for a message.
pub fn slack_problems(json: &Value) -> Vec<String> {
    let mut p = Vec::new();
    let blocks = json["blocks"].as_array().cloned().unwrap_or_default();
    if slen(&json["text"]) == 0 && blocks.is_empty() {
        p.push("no_text".into());
    }
    if blocks.len() > 50 {
        p.push(format!("{} blocks (at most 50)", blocks.len()));
    }
    let text_ok = |t: &Value, max: usize, what: &str, p: &mut Vec<String>| {
        let kind = t["type"].as_str().unwrap_or("");
        if kind != "plain_text" && kind != "mrkdwn" {
            p.push(format!("{what}: text type {kind:?}"));
        }
        let n = slen(&t["text"]);
        if n == 0 || n > max {
            p.push(format!("{what}: text length {n} (1..={max})"));
        }
    };
    for (i, b) in blocks.iter().enumerate() {
        match b["type"].as_str().unwrap_or("") {
            "header" => {
                if b["text"]["type"] != "plain_text" {
                    p.push(format!("blocks[{i}]: header text must be plain_text"));
                }
                text_ok(&b["text"], 150, &format!("blocks[{i}] header"), &mut p);
            }
            "section" => {
                let fields = b["fields"].as_array().cloned().unwrap_or_default();
                if b.get("text").is_none() && fields.is_empty() {
                    p.push(format!("blocks[{i}]: section needs text or fields"));
                }
                if b.get("text").is_some() {
                    text_ok(&b["text"], 3000, &format!("blocks[{i}] section"), &mut p);
                }
                if fields.len() > 10 {
                    p.push(format!("blocks[{i}]: {} fields (at most 10)", fields.len()));
                }
                for (j, f) in fields.iter().enumerate() {
                    text_ok(f, 2000, &format!("blocks[{i}].fields[{j}]"), &mut p);
                }
            }
            "context" => {
                let el = b["elements"].as_array().cloned().unwrap_or_default();
                if el.is_empty() || el.len() > 10 {
                    p.push(format!(
                        "blocks[{i}]: {} context elements (1..=10)",
                        el.len()
                    ));
                }
                for (j, e) in el.iter().enumerate() {
                    text_ok(e, 3000, &format!("blocks[{i}].elements[{j}]"), &mut p);
                }
            }
            "divider" => {}
            other => p.push(format!("blocks[{i}]: unknown block type {other:?}")),
        }
    }
    p
}

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

/// Slack's escapes decoded and `<!date^…|fallback>` shown as its fallback.
fn slack_unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("<!date^") {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let end = after.find('>').unwrap_or(after.len() - 1);
        let fallback = after[..end].rsplit('|').next().unwrap_or("");
        out.push_str(&format!("[{fallback}, local time]"));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
        .replace('\u{200B}', "")
}

/// The message roughly as Slack shows it.
pub fn slack_view(json: &Value) -> String {
    let mut out = format!(
        "(notification: {})\n",
        slack_unescape(json["text"].as_str().unwrap_or(""))
    );
    for b in json["blocks"].as_array().into_iter().flatten() {
        let t = |v: &Value| slack_unescape(v.as_str().unwrap_or(""));
        match b["type"].as_str().unwrap_or("") {
            "header" => out.push_str(&format!("## {}\n", t(&b["text"]["text"]))),
            "section" => {
                if b.get("text").is_some() {
                    out.push_str(&format!("{}\n", t(&b["text"]["text"])));
                }
                let cells: Vec<String> = b["fields"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|f| t(&f["text"]).replacen('\n', " ", 1))
                    .collect();
                for pair in cells.chunks(2) {
                    out.push_str(&format!("{}\n", pair.join("        ")));
                }
            }
            "context" => {
                for e in b["elements"].as_array().into_iter().flatten() {
                    out.push_str(&format!("(small grey) {}\n", t(&e["text"])));
                }
            }
            _ => {}
        }
    }
    out
}

// ---- Telegram --------------------------------------------------------------

fn tg_error(status: u16, description: &str) -> Canned {
    Canned::json(
        status,
        &json!({"ok": false, "error_code": status, "description": description}).to_string(),
    )
}

/// The text left after Telegram's HTML parsing, or the parse error. Only the
/// tags Telegram supports, properly nested and closed; only `&lt;`, `&gt;`,
/// `&amp;`, `&quot;` and numeric entities; `<` and `>` never bare.
pub fn telegram_parse_html(html: &str) -> Result<String, String> {
    const TAGS: &[&str] = &[
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    ];
    let mut out = String::new();
    let mut stack: Vec<String> = Vec::new();
    let mut i = 0;
    let bytes = html.as_bytes();
    while i < html.len() {
        match bytes[i] {
            b'<' => {
                let end = html[i..]
                    .find('>')
                    .ok_or_else(|| format!("Unclosed start tag at byte offset {i}"))?;
                let inner = &html[i + 1..i + end];
                if let Some(name) = inner.strip_prefix('/') {
                    let name = name.trim().to_ascii_lowercase();
                    match stack.pop() {
                        Some(open) if open == name => {}
                        _ => {
                            return Err(format!(
                                "Unmatched end tag at byte offset {i}, expected \"</{}>\", found \"</{name}>\"",
                                stack.last().map_or("", String::as_str)
                            ))
                        }
                    }
                } else {
                    let name = inner
                        .split(|c: char| c.is_whitespace())
                        .next()
                        .unwrap_or("")
                        .to_ascii_lowercase();
                    if !TAGS.contains(&name.as_str()) {
                        return Err(format!(
                            "Unsupported start tag \"{name}\" at byte offset {i}"
                        ));
                    }
                    if name == "span" && !inner.contains("class=\"tg-spoiler\"") {
                        return Err(format!(
                            "Tag \"span\" must have class \"tg-spoiler\" at byte offset {i}"
                        ));
                    }
                    stack.push(name);
                }
                i += end + 1;
            }
            b'>' => return Err(format!("Unexpected \">\" at byte offset {i}")),
            b'&' => {
                let end = html[i..]
                    .find(';')
                    .filter(|e| *e <= 10)
                    .ok_or_else(|| format!("Unescaped \"&\" at byte offset {i}"))?;
                let name = &html[i + 1..i + end];
                let c = match name {
                    "lt" => '<',
                    "gt" => '>',
                    "amp" => '&',
                    "quot" => '"',
                    n if n.starts_with("#x") => u32::from_str_radix(&n[2..], 16)
                        .ok()
                        .and_then(char::from_u32)
                        .ok_or_else(|| format!("Bad entity at byte offset {i}"))?,
                    n if n.starts_with('#') => n[1..]
                        .parse::<u32>()
                        .ok()
                        .and_then(char::from_u32)
                        .ok_or_else(|| format!("Bad entity at byte offset {i}"))?,
                    n => {
                        return Err(format!(
                            "Unsupported HTML entity \"&{n};\" at byte offset {i}"
                        ))
                    }
                };
                out.push(c);
                i += end + 1;
            }
            _ => {
                let c = html[i..].chars().next().expect("char");
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    if let Some(open) = stack.pop() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{open}\""
        ));
    }
    Ok(out)
}

/// Telegram's length unit for the 4096 limit, read conservatively: UTF-16.
pub fn telegram_len(visible: &str) -> usize {
    visible.chars().map(char::len_utf16).sum()
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

/// The message as a Telegram reader sees it (formatting dropped).
pub fn telegram_view(json: &Value) -> String {
    let text = json["text"].as_str().unwrap_or("");
    telegram_parse_html(text).unwrap_or_else(|e| format!("(Telegram would refuse it: {e})"))
}
