//! Loopback webhook receiver for integration tests.
//!
//! This file owns a real HTTP/1.1 server on 127.0.0.1 that stands in for a
//! user's webhook endpoint, plus the signature checks such an endpoint would
//! run:
//!
//! * the "seed" check: `X-Webhook-Signature` is the lowercase hex
//!   HMAC-SHA256 of the body ([`seed_verify_webhook`]);
//! * Standard Webhooks: `webhook-id`, `webhook-timestamp` and
//!   `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<ts>.<body>">`
//!   ([`standard_verify`], [`standard_sign`]).
//!
//! The signing key is the secret's bytes, or, for a `whsec_` secret, the
//! standard base64 decoding of the rest.
//!
//! Every POST (any path) is recorded with its signature verdicts, whatever it
//! is answered. Replies can be scripted ([`Receiver::script`]); once the
//! script is used up every request gets 200. A `HEAD` (the bridge asking
//! whether a failed receiver answers again) is counted apart and never takes
//! a scripted reply. [`Receiver::set_down`] answers everything 503 meanwhile.
//! The server runs on its own thread and runtime, so [`Receiver::stop`] can
//! drop every in-flight connection at once and free the port.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::oneshot;

/// Maximum allowed distance between `webhook-timestamp` and now, in seconds.
const TOLERANCE_SECS: i64 = 300;
/// How long a [`Reply::Hang`] holds the request before giving up.
const HANG_CAP: Duration = Duration::from_secs(60);

/// The HMAC key for `secret`; `None` if a `whsec_` secret is not valid base64.
fn signing_key(secret: &str) -> Option<Vec<u8>> {
    match secret.strip_prefix("whsec_") {
        Some(rest) => B64.decode(rest).ok(),
        None => Some(secret.as_bytes().to_vec()),
    }
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Constant-time equality (the length itself is not secret).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The seed receiver's `verify_webhook(payload, signature, secret)`: the
/// signature must be the lowercase hex HMAC-SHA256 of the payload.
pub fn seed_verify_webhook(payload: &[u8], signature: &str, secret: &str) -> bool {
    match signing_key(secret) {
        Some(key) => ct_eq(
            hex::encode(hmac_sha256(&key, &[payload])).as_bytes(),
            signature.as_bytes(),
        ),
        None => false,
    }
}

/// `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`.
pub fn standard_sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = signing_key(secret).expect("whsec_ secret must be valid base64");
    let ts = timestamp.to_string();
    let mac = hmac_sha256(&key, &[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
    format!("v1,{}", B64.encode(mac))
}

/// Standard Webhooks verification: timestamp within 300 s of `now_unix`
/// (either way) and at least one `v1,` entry of the space-separated
/// `signature_header` matching.
pub fn standard_verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    body: &[u8],
    signature_header: &str,
    now_unix: i64,
) -> Result<(), String> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| format!("invalid webhook-timestamp {timestamp:?}"))?;
    if (now_unix - ts).abs() > TOLERANCE_SECS {
        return Err(format!(
            "webhook-timestamp {ts} is more than {TOLERANCE_SECS}s from now ({now_unix})"
        ));
    }
    if signing_key(secret).is_none() {
        return Err("whsec_ secret is not valid base64".into());
    }
    let expected = standard_sign(secret, id, ts, body);
    let matched = signature_header
        .split(' ')
        .filter(|s| s.starts_with("v1,"))
        .any(|s| ct_eq(s.as_bytes(), expected.as_bytes()));
    if matched {
        Ok(())
    } else {
        Err(format!("no v1 signature matches in {signature_header:?}"))
    }
}

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Received {
    /// Header names are lowercase; repeated headers appear repeatedly.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body parsed as JSON, or `Null` if it is not JSON.
    pub json: serde_json::Value,
    /// `X-Webhook-Signature` present and valid.
    pub seed_signature_ok: bool,
    /// Standard Webhooks headers present and valid.
    pub standard_signature_ok: bool,
    /// Why the Standard Webhooks check failed, if it did.
    pub standard_error: Option<String>,
}

impl Received {
    /// First value of the header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `json["id"]`, or `""`.
    pub fn id(&self) -> &str {
        self.json["id"].as_str().unwrap_or("")
    }

    /// The `X-Webhook-Event` header, else `json["event"]`, else `""`.
    pub fn event(&self) -> &str {
        self.header("x-webhook-event")
            .or_else(|| self.json["event"].as_str())
            .unwrap_or("")
    }

    fn from_request(secret: &str, headers: &HeaderMap, body: &[u8], now_unix: i64) -> Received {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| {
                let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (k.as_str().to_ascii_lowercase(), v)
            })
            .collect();
        let mut r = Received {
            headers,
            body: body.to_vec(),
            json: serde_json::from_slice(body).unwrap_or(serde_json::Value::Null),
            seed_signature_ok: false,
            standard_signature_ok: false,
            standard_error: None,
        };
        r.seed_signature_ok = r
            .header("x-webhook-signature")
            .is_some_and(|sig| seed_verify_webhook(body, sig, secret));
        let standard = match (
            r.header("webhook-id"),
            r.header("webhook-timestamp"),
            r.header("webhook-signature"),
        ) {
            (Some(id), Some(ts), Some(sig)) => standard_verify(secret, id, ts, body, sig, now_unix),
            _ => Err("missing webhook-id, webhook-timestamp or webhook-signature".into()),
        };
        r.standard_signature_ok = standard.is_ok();
        r.standard_error = standard.err();
        r
    }
}

/// How to answer one request.
#[derive(Clone, Debug)]
pub enum Reply {
    Status(u16),
    /// Status plus `Retry-After: <seconds>`.
    StatusWithRetryAfter(u16, u64),
    /// Never answer (to provoke client timeouts); gives up with 503 after 60 s.
    Hang,
}

#[derive(Default)]
struct Log {
    script: VecDeque<Reply>,
    /// Every POST in arrival order, with whether it was answered 2xx.
    requests: Vec<(Received, bool)>,
    /// When each `HEAD` came.
    probes: Vec<std::time::Instant>,
    /// Everything is answered 503 (a receiver behind a proxy, down).
    down: bool,
}

struct Shared {
    secret: String,
    log: Mutex<Log>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method == axum::http::Method::HEAD {
        let mut log = shared.lock();
        log.probes.push(std::time::Instant::now());
        return if log.down {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::METHOD_NOT_ALLOWED
        }
        .into_response();
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let received = Received::from_request(&shared.secret, &headers, &body, now);
    let reply = {
        let mut log = shared.lock();
        let reply = if log.down {
            Reply::Status(503)
        } else {
            log.script.pop_front().unwrap_or(Reply::Status(200))
        };
        let accepted = matches!(reply, Reply::Status(s) | Reply::StatusWithRetryAfter(s, _)
            if (200..300).contains(&s));
        log.requests.push((received, accepted));
        reply
    };
    let status =
        |code: u16| StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match reply {
        Reply::Status(code) => status(code).into_response(),
        Reply::StatusWithRetryAfter(code, secs) => {
            let mut resp = status(code).into_response();
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from(secs));
            resp
        }
        Reply::Hang => {
            tokio::time::sleep(HANG_CAP).await;
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// A running loopback receiver. Dropping it also shuts the server down, but
/// [`Receiver::stop`] waits until the port is actually released.
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop_tx: Option<oneshot::Sender<()>>,
    done_rx: Option<oneshot::Receiver<()>>,
}

impl Receiver {
    /// Start on an ephemeral loopback port.
    pub async fn start(secret: &str) -> Receiver {
        Receiver::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), secret)
            .await
            .expect("bind 127.0.0.1:0")
    }

    /// Start on `addr` (with `SO_REUSEADDR`, so a just-stopped port can be reused).
    pub async fn start_on(addr: SocketAddr, secret: &str) -> std::io::Result<Receiver> {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        let listener = socket.listen(1024)?;
        let addr = listener.local_addr()?;

        // The server gets its own runtime on its own thread: dropping that
        // runtime cancels every connection task, closing hung connections too.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = {
            let std_listener = listener.into_std()?;
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(std_listener)?
        };
        let shared = Arc::new(Shared {
            secret: secret.to_owned(),
            log: Mutex::new(Log::default()),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (done_tx, done_rx) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(format!("receiver-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        _ = async { axum::serve(listener, app).await } => {}
                        _ = stop_rx => {}
                    }
                });
                drop(runtime);
                let _ = done_tx.send(());
            })?;
        Ok(Receiver {
            addr,
            shared,
            stop_tx: Some(stop_tx),
            done_rx: Some(done_rx),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>/hook`
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Queue replies, consumed one per request in order (after any still queued).
    pub fn script(&self, replies: Vec<Reply>) {
        self.shared.lock().script.extend(replies);
    }

    /// While `down`, every request is answered 503 (scripts wait).
    pub fn set_down(&self, down: bool) {
        self.shared.lock().down = down;
    }

    /// When each `HEAD` probe came.
    pub fn probes(&self) -> Vec<std::time::Instant> {
        self.shared.lock().probes.clone()
    }

    /// Every POST, in arrival order, however it was answered.
    pub fn received(&self) -> Vec<Received> {
        self.shared
            .lock()
            .requests
            .iter()
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// Only the requests answered 2xx, in arrival order.
    pub fn accepted(&self) -> Vec<Received> {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|(_, ok)| *ok)
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// Wait until at least `n` requests were accepted, or `timeout` passes;
    /// returns the accepted requests either way.
    pub async fn wait_for_accepted(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let accepted = self.accepted();
            if accepted.len() >= n || tokio::time::Instant::now() >= deadline {
                return accepted;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Close the listener and all connections; returns once the port is free.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop_tx.take() {
            let _ = tx.send(());
        }
        if let Some(rx) = self.done_rx.take() {
            let _ = rx.await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(tx) = self.stop_tx.take() {
            let _ = tx.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const SW_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const SW_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const SW_TS: i64 = 1649367553;
    const SW_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SW_SIG: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn now() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    #[test]
    fn standard_webhooks_known_answer() {
        assert_eq!(standard_sign(SW_SECRET, SW_ID, SW_TS, SW_BODY), SW_SIG);
        let ts = SW_TS.to_string();
        let verify = |body: &[u8], header: &str, now: i64| {
            standard_verify(SW_SECRET, SW_ID, &ts, body, header, now)
        };
        assert_eq!(verify(SW_BODY, SW_SIG, SW_TS), Ok(()));
        assert_eq!(verify(SW_BODY, SW_SIG, SW_TS + 300), Ok(()));
        assert!(verify(SW_BODY, SW_SIG, SW_TS + 301).is_err());
        assert!(verify(SW_BODY, SW_SIG, SW_TS - 301).is_err());
        assert!(verify(SW_BODY, SW_SIG, SW_TS + 86_400).is_err());
        let mut flipped = SW_BODY.to_vec();
        flipped[3] ^= 1;
        assert!(verify(&flipped, SW_SIG, SW_TS).is_err());
        let two = format!("v1,Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eA== {SW_SIG}");
        assert_eq!(verify(SW_BODY, &two, SW_TS), Ok(()));
        assert!(verify(
            SW_BODY,
            "v2,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
            SW_TS
        )
        .is_err());
        assert!(standard_verify(SW_SECRET, SW_ID, "nope", SW_BODY, SW_SIG, SW_TS).is_err());
    }

    #[test]
    fn seed_known_answer() {
        // python3: hmac.new(b"my-secret", body, hashlib.sha256).hexdigest()
        let body = br#"{"id":"evt_1","event":"chat.completed"}"#;
        let sig = "db7ed9878e26f2992da6065481ce2f3b06ec75e32c2eab7193347577d46836a4";
        assert!(seed_verify_webhook(body, sig, "my-secret"));
        assert!(!seed_verify_webhook(body, &sig.to_uppercase(), "my-secret"));
        assert!(!seed_verify_webhook(body, sig, "other-secret"));
        assert!(!seed_verify_webhook(b"{}", sig, "my-secret"));
        // whsec_ secrets sign with the decoded key.
        let sig = "e50b75b71f7a0c9743e044c508b6ec0a0a4f718b62e0b18378794baf1c5ceca2";
        assert!(seed_verify_webhook(br#"{"id":"evt_1"}"#, sig, SW_SECRET));
    }

    fn signed_request(
        client: &reqwest::Client,
        url: &str,
        secret: &str,
        body: &str,
    ) -> reqwest::RequestBuilder {
        let ts = now();
        let key = signing_key(secret).unwrap();
        client
            .post(url)
            .header("content-type", "application/json")
            .header("user-agent", "owui-bridge/0.1.0")
            .header("x-webhook-event", "chat.completed")
            .header(
                "x-webhook-signature",
                hex::encode(hmac_sha256(&key, &[body.as_bytes()])),
            )
            .header("webhook-id", "msg_1")
            .header("webhook-timestamp", ts.to_string())
            .header(
                "webhook-signature",
                standard_sign(secret, "msg_1", ts, body.as_bytes()),
            )
            .body(body.to_owned())
    }

    #[tokio::test]
    async fn scripted_replies_and_recording() {
        let rx = Receiver::start("s3cret").await;
        rx.script(vec![
            Reply::Status(500),
            Reply::StatusWithRetryAfter(429, 7),
        ]);
        let client = reqwest::Client::new();
        let body = r#"{"id":"evt_1","event":"chat.completed"}"#;

        let r = signed_request(&client, &rx.url(), "s3cret", body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 500);
        let r = signed_request(&client, &rx.url(), "s3cret", body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 429);
        assert_eq!(r.headers()["retry-after"], "7");
        let r = signed_request(&client, &rx.url(), "s3cret", body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        // Wrong secret: recorded and accepted (200), but both flags false.
        let r = signed_request(
            &client,
            &format!("http://{}/other", rx.addr()),
            "wrong",
            body,
        )
        .send()
        .await
        .unwrap();
        assert_eq!(r.status().as_u16(), 200);

        let all = rx.received();
        assert_eq!(all.len(), 4);
        assert!(all[..3]
            .iter()
            .all(|r| r.seed_signature_ok && r.standard_signature_ok));
        assert!(!all[3].seed_signature_ok && !all[3].standard_signature_ok);
        assert!(all[3].standard_error.is_some());
        assert_eq!(all[0].id(), "evt_1");
        assert_eq!(all[0].event(), "chat.completed");
        assert_eq!(all[0].header("Content-Type"), Some("application/json"));
        assert_eq!(all[0].header("user-agent"), Some("owui-bridge/0.1.0"));
        assert_eq!(all[0].body, body.as_bytes());
        assert_eq!(rx.accepted().len(), 2);
        assert_eq!(
            rx.wait_for_accepted(2, Duration::from_secs(1)).await.len(),
            2
        );
        let t = std::time::Instant::now();
        assert_eq!(
            rx.wait_for_accepted(3, Duration::from_millis(100))
                .await
                .len(),
            2
        );
        assert!(t.elapsed() < Duration::from_secs(2));
        rx.stop().await;
    }

    #[tokio::test]
    async fn raw_and_malformed_requests() {
        let rx = Receiver::start("k").await;
        // Garbage must not take the receiver down.
        let mut s = tokio::net::TcpStream::connect(rx.addr()).await.unwrap();
        s.write_all(b"\x00\x01 not http at all\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut buf)).await;

        // A hand-written HTTP/1.1 request with no signature headers.
        let mut s = tokio::net::TcpStream::connect(rx.addr()).await.unwrap();
        let body = "not json";
        let req = format!(
            "POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).await.unwrap();
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");

        let got = rx.received();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].json, serde_json::Value::Null);
        assert_eq!(got[0].id(), "");
        assert!(!got[0].seed_signature_ok && !got[0].standard_signature_ok);
        rx.stop().await;
    }

    #[tokio::test]
    async fn hang_then_stop_and_restart_on_same_port() {
        let rx = Receiver::start("k").await;
        rx.script(vec![Reply::Hang]);
        let addr = rx.addr();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let err = client.post(rx.url()).body("{}").send().await.unwrap_err();
        assert!(err.is_timeout(), "{err}");
        assert_eq!(rx.received().len(), 1);
        assert!(rx.accepted().is_empty());

        // A hung connection still open must not keep the port or delay stop.
        let mut hung = tokio::net::TcpStream::connect(addr).await.unwrap();
        rx.script(vec![Reply::Hang]);
        hung.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let t = std::time::Instant::now();
        rx.stop().await;
        assert!(t.elapsed() < Duration::from_secs(2));
        let mut buf = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(2), hung.read_to_end(&mut buf)).await;
        assert!(
            matches!(n, Ok(Ok(0)) | Ok(Err(_))),
            "hung connection not closed: {n:?}"
        );
        assert!(client
            .post(format!("http://{addr}/hook"))
            .send()
            .await
            .is_err());

        let rx = Receiver::start_on(addr, "k").await.unwrap();
        assert_eq!(rx.addr(), addr);
        let r = reqwest::Client::new()
            .post(rx.url())
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(rx.accepted().len(), 1);
        rx.stop().await;
    }
}
