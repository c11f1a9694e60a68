//! Sinks: where events go, and the per-sink delivery loop over the outbox.
//!
//! Each sink has its own ordered queue in the outbox and its own task, so a
//! slow or dead receiver never delays another. The loop delivers the oldest
//! event, retries transient failures with backoff until `WEBHOOK_MAX_AGE`, and
//! turns permanent failures into dead letters. It logs once per change of
//! state (failing / delivering again), never once per retry.

pub mod chat;
pub mod discord;
pub mod http;
pub mod retry;
pub mod route;
pub mod signature;
pub mod slack;
pub mod telegram;
pub mod text;
pub mod webhook;

use std::time::Duration;

use tokio::sync::watch;

use crate::shutdown::sleep_or_shutdown;
use tracing::{error, info, warn};

use crate::event::Event;
use crate::metrics::METRICS;
use crate::outbox::{now_ms, Outbox};
pub use retry::Delivery;
pub use route::{Route, Routes};
pub use webhook::Webhook;

/// Every kind of sink; a closed set, so an enum rather than trait objects.
pub enum Sink {
    Webhook(Webhook),
    Discord(discord::Discord),
    Slack(slack::Slack),
    Telegram(telegram::Telegram),
}

impl Sink {
    pub fn name(&self) -> &str {
        match self {
            Sink::Webhook(w) => &w.name,
            Sink::Discord(d) => &d.name,
            Sink::Slack(s) => &s.name,
            Sink::Telegram(t) => &t.name,
        }
    }

    /// The least time between two requests, where the platform asks senders
    /// to keep under a rate instead of telling them (Slack: one message a
    /// second per webhook; Telegram: see [`crate::config::TelegramConfig::pace`]).
    /// Discord says its limits in headers, which its sink follows; a generic
    /// webhook has none.
    pub fn pace(&self) -> Option<Duration> {
        match self {
            Sink::Slack(_) => Some(Duration::from_secs(1)),
            Sink::Telegram(t) => Some(t.pace()),
            Sink::Webhook(_) | Sink::Discord(_) => None,
        }
    }

    /// Where it delivers, safe to print (tokens masked).
    pub fn describe(&self) -> String {
        match self {
            Sink::Webhook(w) => w.describe(),
            Sink::Discord(d) => d.describe(),
            Sink::Slack(s) => s.describe(),
            Sink::Telegram(t) => t.describe(),
        }
    }

    pub async fn deliver(&self, ev: &Event) -> Delivery {
        match self {
            Sink::Webhook(w) => w.deliver(ev).await,
            Sink::Discord(d) => d.deliver(ev).await,
            Sink::Slack(s) => s.deliver(ev).await,
            Sink::Telegram(t) => t.deliver(ev).await,
        }
    }
}

/// Every configured sink with its route (the events it takes).
pub fn build(cfg: &crate::config::Config) -> Result<Vec<(Sink, Route)>, String> {
    use crate::config::{ChatKind, WebhookConfig};
    let roots = cfg.extra_roots.as_ref().map(|(_, c)| c.as_slice());
    let client = http::client(cfg.webhook_timeout, roots.unwrap_or_default())?;
    let mut out: Vec<(Sink, Route)> = cfg
        .webhooks
        .iter()
        .map(|w| {
            let route = Route {
                sink: w.name.clone(),
                events: w.events.clone(),
                filter_var: WebhookConfig::EVENTS_VAR,
            };
            (Sink::Webhook(Webhook::new(w, client.clone())), route)
        })
        .collect();
    for c in &cfg.chats {
        let sink = match &c.kind {
            ChatKind::Discord(url) => {
                Sink::Discord(discord::Discord::new(url.clone(), client.clone()))
            }
            ChatKind::Slack(url) => Sink::Slack(slack::Slack::new(url.clone(), client.clone())),
            ChatKind::Telegram(t) => {
                Sink::Telegram(telegram::Telegram::new(t.clone(), client.clone()))
            }
        };
        let route = Route {
            sink: c.name.to_string(),
            events: c.events.clone(),
            filter_var: c.events_var,
        };
        out.push((sink, route));
    }
    Ok(out)
}

/// Delivers `sink`'s queue until `shutdown` turns true. The attempt in flight
/// finishes (bounded by the HTTP timeout); whatever is left stays in the outbox.
pub async fn deliver_forever(
    sink: Sink,
    outbox: Outbox,
    max_age: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let name = sink.name().to_string();
    let wake = outbox.waker(&name);
    let mut failing_since: Option<u32> = None;
    // The same refusal again (a deleted Discord webhook refuses every event) is
    // said once; each dead letter is still counted and kept.
    let mut last_refusal: Option<String> = None;
    let pace = sink.pace();
    let mut last_attempt: Option<std::time::Instant> = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let notified = wake.notified();
        let head = match outbox.head(&name) {
            Ok(h) => h,
            Err(e) => {
                error!(sink = %name, error = %e, "cannot read the outbox; retrying in 5s");
                if sleep_or_shutdown(Duration::from_secs(5), &mut shutdown).await {
                    return;
                }
                continue;
            }
        };
        let Some((seq, mut q)) = head else {
            tokio::select! {
                _ = notified => {}
                _ = shutdown.changed() => {}
            }
            continue;
        };
        let wait = q.not_before_ms - now_ms();
        if wait > 0 && sleep_or_shutdown(Duration::from_millis(wait as u64), &mut shutdown).await {
            return;
        }
        if let (Some(pace), Some(last)) = (pace, last_attempt) {
            let due = last + pace;
            let now = std::time::Instant::now();
            if due > now && sleep_or_shutdown(due - now, &mut shutdown).await {
                return;
            }
        }
        let started = std::time::Instant::now();
        last_attempt = Some(started);
        let outcome = sink.deliver(&q.event).await;
        let label = match &outcome {
            Delivery::Delivered => "delivered",
            Delivery::RetryLater { .. } => "retry",
            Delivery::Reject { .. } => "rejected",
        };
        METRICS.delivery(&name, label, started.elapsed());
        let result = match outcome {
            Delivery::Delivered => {
                last_refusal = None;
                if let Some(n) = failing_since.take() {
                    info!(sink = %name, failed_attempts = n, "delivering again");
                }
                outbox.ack(&name, seq)
            }
            Delivery::Reject { reason } => {
                if last_refusal.as_deref() != Some(reason.as_str()) {
                    error!(sink = %name, event = %q.event.event, id = %q.event.id, %reason, "receiver refused the event; kept as a dead letter (retrying cannot help: check the receiver and its URL)");
                    last_refusal = Some(reason.clone());
                } else {
                    tracing::debug!(sink = %name, id = %q.event.id, "refused again for the same reason; kept as a dead letter");
                }
                outbox.bury(&name, seq, q, &reason)
            }
            Delivery::RetryLater { after, reason } => {
                let age_ms = now_ms() - q.enqueued_ms;
                if age_ms >= max_age.as_millis() as i64 {
                    error!(sink = %name, event = %q.event.event, id = %q.event.id, %reason, attempts = q.attempts + 1, "gave up after WEBHOOK_MAX_AGE; kept as a dead letter");
                    outbox.bury(&name, seq, q, &reason)
                } else {
                    if failing_since.is_none() {
                        warn!(sink = %name, %reason, "delivery failing; events wait on disk and are retried with backoff");
                    }
                    *failing_since.get_or_insert(0) += 1;
                    let delay = retry::backoff(q.attempts, after);
                    q.attempts += 1;
                    q.not_before_ms = now_ms() + delay.as_millis() as i64;
                    q.last_error = Some(reason);
                    outbox.reschedule(&name, seq, &q)
                }
            }
        };
        if let Err(e) = result {
            error!(sink = %name, error = %e, "cannot update the outbox; retrying in 5s");
            if sleep_or_shutdown(Duration::from_secs(5), &mut shutdown).await {
                return;
            }
        }
    }
}
