//! The HTTP side every sink shares: the one client (timeouts, no redirects,
//! the extra CA roots of `SSL_CERT_FILE`), a JSON POST and the answer read
//! back, transport failures in words, and keeping the credential in a webhook
//! URL out of the reasons that end up in logs and dead letters.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Url;

use super::retry::parse_retry_after;

/// A platform's answer to one POST.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `Retry-After`, as seconds or an HTTP date.
    pub fn retry_after(&self) -> Option<Duration> {
        self.header("retry-after").and_then(parse_retry_after)
    }
}

/// Whether the receiver at `url` answers (see [`super::Sink::probe`]).
pub async fn answers_again(client: &reqwest::Client, url: Url) -> bool {
    match client
        .head(url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
    {
        Ok(r) => !matches!(r.status().as_u16(), 408 | 425 | 429 | 500..=599),
        Err(_) => false,
    }
}

/// POSTs `body` as JSON. A transport failure (no answer at all) is `Err` with
/// a description that holds no URL.
pub async fn post_json(
    client: &reqwest::Client,
    url: Url,
    body: &serde_json::Value,
) -> Result<Answer, String> {
    let resp = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(body).expect("a JSON value serialises"))
        .send()
        .await
        .map_err(|e| describe_transport_error(&e))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    Ok(Answer {
        status,
        headers,
        text,
    })
}

/// `reason` without the webhook URL (shown as `label`) or its last path segment,
/// which is the secret in Discord's and Slack's webhook URLs.
pub fn scrub_url(reason: String, url: &Url, label: &str) -> String {
    let mut r = reason.replace(url.as_str(), label);
    if let Some(secret) = url.path_segments().and_then(|mut s| s.next_back()) {
        if secret.len() >= 8 {
            r = r.replace(secret, "****");
        }
    }
    r
}

/// The client every sink shares; `extra_roots` are trusted besides the
/// built-in public roots (`SSL_CERT_FILE`). No fallback on failure: a default
/// client would follow redirects, wait forever and drop the extra roots.
pub fn client(
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

/// The first line of the receiver's answer, short, for logs and dead letters.
pub(super) async fn answer_excerpt(resp: reqwest::Response) -> String {
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
