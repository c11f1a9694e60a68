//! Sinks: where events go. [`Sink`] is the closed set of receivers (the
//! generic signed webhook, Discord, Slack, Telegram), each in its own module;
//! `deliver` runs one loop per sink over its queue in the outbox; `route`
//! says which sinks take an event; `signature`, `http`, `retry`, `chat` and
//! `text` are what the sinks share.

pub mod chat;
mod deliver;
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

use crate::event::Event;
pub use deliver::{deliver_forever, PROBE_EVERY};
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

    /// Whether the receiver answers again after failing: a bodiless `HEAD`
    /// (to the API's root for Telegram, so the token is not sent), up when
    /// the answer is anything but 408, 425, 429 or 5xx.
    pub async fn probe(&self) -> bool {
        let (client, url) = match self {
            Sink::Webhook(w) => w.probe_target(),
            Sink::Discord(d) => d.probe_target(),
            Sink::Slack(s) => s.probe_target(),
            Sink::Telegram(t) => t.probe_target(),
        };
        http::answers_again(client, url).await
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
    let words = chat::words(cfg.language);
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
                Sink::Discord(discord::Discord::new(url.clone(), client.clone(), words))
            }
            ChatKind::Slack(url) => {
                Sink::Slack(slack::Slack::new(url.clone(), client.clone(), words))
            }
            ChatKind::Telegram(t) => {
                Sink::Telegram(telegram::Telegram::new(t.clone(), client.clone(), words))
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
