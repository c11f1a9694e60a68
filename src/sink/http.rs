//! The HTTP side the chat sinks share: one JSON POST and the answer read back
//! (status, headers, body), and keeping the credential in a webhook URL out
//! of the reasons that end up in logs and dead letters.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Url;

use super::retry::parse_retry_after;
use super::webhook::describe_transport_error;

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
        .body(serde_json::to_vec(body).unwrap_or_default())
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
