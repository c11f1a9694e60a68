//! The generic signed webhook (spec §3): POST of the event body, signed twice —
//! `X-Webhook-Signature` (hex HMAC of the body, what the seed's
//! `verify_webhook` checks) and Standard Webhooks (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature: v1,<base64>`).

use reqwest::Url;

use super::retry::{classify, parse_retry_after, Delivery};
use super::{http, signature};
use crate::config::{WebhookConfig, INBOUND_PATH, WEBHOOK_URL_IS};
use crate::event::Event;
use crate::secret::{mask_url, SecretKey};

pub struct Webhook {
    pub name: String,
    url: Url,
    key: Option<SecretKey>,
    client: reqwest::Client,
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

    /// Where [`super::Sink::probe`] asks whether the receiver answers again.
    pub(super) fn probe_target(&self) -> (&reqwest::Client, reqwest::Url) {
        (&self.client, self.url.clone())
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
                .header("X-Webhook-Signature", signature::sign_hex(key, body))
                .header(
                    "webhook-signature",
                    signature::sign_standard(key, &ev.id, ts, body),
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
                    http::answer_excerpt(resp).await
                };
                let outcome = classify(status, retry_after, &detail);
                if matches!(status, 404 | 405)
                    && self.url.path().trim_end_matches('/') == INBOUND_PATH
                {
                    // The old webhook guide's WEBHOOK_URL: Open WebUI's own address.
                    return outcome.map_reason(|r| {
                        format!("{r}; this address looks like Open WebUI's own (the old webhook guide's {INBOUND_PATH}), which takes no events. {WEBHOOK_URL_IS}")
                    });
                }
                outcome
            }
            Err(e) => Delivery::RetryLater {
                after: None,
                reason: http::describe_transport_error(&e),
            },
        }
    }
}
