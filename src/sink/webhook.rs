//! The generic signed webhook (spec §3): POST of the event body, signed twice —
//! `X-Webhook-Signature` (hex HMAC of the body, what the seed's
//! `verify_webhook` checks) and Standard Webhooks (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature: v1,<base64>`).

use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::Url;
use sha2::Sha256;

use super::retry::{classify, parse_retry_after, Delivery};
use crate::config::{mask_url, SecretKey, WebhookConfig};
use crate::event::Event;

pub struct Webhook {
    pub name: String,
    url: Url,
    key: Option<SecretKey>,
    client: reqwest::Client,
}

/// Lowercase hex HMAC-SHA256 of the body.
pub fn seed_signature(key: &SecretKey, body: &[u8]) -> String {
    hex::encode(hmac(key, &[body]))
}

/// `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`.
pub fn standard_signature(key: &SecretKey, id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let mac = hmac(key, &[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac)
    )
}

fn hmac(key: &SecretKey, parts: &[&[u8]]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key.bytes()).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// The client every sink shares; `extra_roots` are trusted besides the
/// built-in public roots (`SSL_CERT_FILE`). No fallback on failure: a default
/// client would follow redirects, wait forever and drop the extra roots.
pub fn http_client(
    timeout: Duration,
    extra_roots: &[reqwest::Certificate],
) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("owui-bridge/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none());
    for cert in extra_roots {
        builder = builder.add_root_certificate(cert.clone());
    }
    builder
        .build()
        .map_err(|e| format!("cannot set up HTTPS for the receivers: {e}"))
}

impl Webhook {
    pub fn new(cfg: &WebhookConfig, client: reqwest::Client) -> Webhook {
        Webhook {
            name: cfg.name.clone(),
            url: cfg.url.clone(),
            key: cfg.key.clone(),
            client,
        }
    }

    pub fn describe(&self) -> String {
        mask_url(&self.url)
    }

    pub async fn deliver(&self, ev: &Event) -> Delivery {
        let ts = chrono::Utc::now().timestamp();
        let body = ev.body.as_bytes();
        let mut req = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Webhook-Event", &ev.event)
            .header("webhook-id", &ev.id)
            .header("webhook-timestamp", ts.to_string());
        if let Some(key) = &self.key {
            req = req
                .header("X-Webhook-Signature", seed_signature(key, body))
                .header(
                    "webhook-signature",
                    standard_signature(key, &ev.id, ts, body),
                );
        }
        match req.body(ev.body.clone()).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                let detail = if resp.status().is_success() {
                    String::new()
                } else {
                    answer_excerpt(resp).await
                };
                classify(status, retry_after, &detail)
            }
            Err(e) => Delivery::RetryLater {
                after: None,
                reason: describe_transport_error(&e),
            },
        }
    }
}

/// The first line of the receiver's answer, short, for logs and dead letters.
async fn answer_excerpt(resp: reqwest::Response) -> String {
    let text = resp.text().await.unwrap_or_default();
    let line = text.lines().next().unwrap_or("").trim();
    crate::event::cut(line, 200).to_string()
}

/// A transport failure in words, without the URL (it may hold a token).
pub fn describe_transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer in time (WEBHOOK_TIMEOUT); is the receiver overloaded or unreachable?".into()
    } else if e.is_connect() {
        let cause = root_cause(e);
        if cause.contains("UnknownIssuer") {
            return format!("the receiver's TLS certificate is not trusted ({cause}); if it comes from your own CA, set SSL_CERT_FILE to that CA's certificate (PEM)");
        }
        if cause.contains("no records found")
            || cause.contains("failed to lookup")
            || cause.contains("Name or service not known")
            || cause.contains("NXDomain")
        {
            return "cannot resolve the receiver's host name; check the URL, and that the name exists in the bridge's network (in compose: the service name)".into();
        }
        format!("cannot connect: {cause}; is the receiver running and reachable from the bridge?")
    } else {
        let mut s = e.to_string();
        if let Some(url) = e.url() {
            s = s.replace(url.as_str(), "<url>");
        }
        s
    }
}

/// The innermost cause of an error, where TLS says what it did not like.
/// (Not the error itself: its text holds the URL, which may hold a token.)
fn root_cause(e: &reqwest::Error) -> String {
    let mut cause = String::new();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        cause = s.to_string();
        src = s.source();
    }
    cause
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_known_answer() {
        let key = SecretKey::from_secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let sig = standard_signature(
            &key,
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(sig, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn seed_signature_is_hex_hmac_of_body() {
        // python3 -c 'import hmac,hashlib;print(hmac.new(b"my-secret",b"{\"id\":\"evt_1\",\"event\":\"chat.completed\"}",hashlib.sha256).hexdigest())'
        let key = SecretKey::from_secret("my-secret").unwrap();
        let sig = seed_signature(&key, br#"{"id":"evt_1","event":"chat.completed"}"#);
        assert_eq!(sig.len(), 64);
        assert_eq!(
            sig,
            "db7ed9878e26f2992da6065481ce2f3b06ec75e32c2eab7193347577d46836a4"
        );
    }
}
