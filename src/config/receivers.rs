//! Where events go: the generic webhooks of `WEBHOOK_URL` and the Discord,
//! Slack and Telegram chats, read from their variables and validated here, so
//! that the sinks get URLs they can use as they are (the Telegram endpoint
//! with its token included) and never a string to check at delivery time.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use reqwest::Url;

use super::env::Env;
use super::filter::EventFilter;
use super::{event_filter, single_url, url_list, Collector, ConfigError};
use crate::secret::{mask_url, SecretKey, SecretText};

/// One generic webhook receiver (one per URL in `WEBHOOK_URL`).
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Stable sink name: `webhook`, or `webhook-1`, `webhook-2`… when several URLs are given.
    pub name: String,
    pub url: Url,
    pub key: Option<SecretKey>,
    pub events: EventFilter,
}

impl WebhookConfig {
    /// The variable its event filter comes from.
    pub const EVENTS_VAR: &'static str = "WEBHOOK_EVENTS";
}

/// Which chat platform, with what it needs.
#[derive(Debug, Clone)]
pub enum ChatKind {
    Discord(Url),
    Slack(Url),
    Telegram(TelegramConfig),
}

/// A chat sink: Discord, Slack or Telegram, with its own event filter.
#[derive(Debug, Clone)]
pub struct ChatConfig {
    pub name: &'static str,
    pub kind: ChatKind,
    pub events: EventFilter,
    /// The variable its event filter comes from: its own (`DISCORD_EVENTS`),
    /// or `WEBHOOK_EVENTS` when that is not set.
    pub events_var: &'static str,
}

/// Where and as whom to send on Telegram. `api_base` is `TELEGRAM_API_URL`
/// (`https://api.telegram.org`), `chat_id` is `TELEGRAM_CHAT_ID` (a number
/// such as `-1001234567890`, or `@channelname`), `thread_id` is
/// `TELEGRAM_THREAD_ID` (a forum topic). The token (`TELEGRAM_BOT_TOKEN`) is
/// kept only inside `endpoint` and for scrubbing it out of error texts.
#[derive(Clone)]
pub struct TelegramConfig {
    pub api_base: Url,
    token: String,
    pub chat_id: String,
    pub thread_id: Option<i64>,
    /// `{api_base}/bot{token}/sendMessage`.
    endpoint: Url,
}

impl fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelegramConfig")
            .field("api_base", &mask_url(&self.api_base))
            .field("token", &"****")
            .field("chat_id", &self.chat_id)
            .field("thread_id", &self.thread_id)
            .finish()
    }
}

impl TelegramConfig {
    /// Builds the `sendMessage` endpoint once; a token that cannot be part of a
    /// URL is a configuration error (the reason never holds the token).
    pub fn new(
        api_base: Url,
        token: &str,
        chat_id: &str,
        thread_id: Option<i64>,
    ) -> Result<TelegramConfig, String> {
        let token = token.trim();
        let bad = || {
            "it cannot be part of a URL (it looks like 123456789:AA…, letters, digits, ':' '-' '_' only); copy it again from @BotFather".to_string()
        };
        if token.is_empty()
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b":-_".contains(&b))
        {
            return Err(bad());
        }
        let endpoint = Url::parse(&format!(
            "{}/bot{token}/sendMessage",
            api_base.as_str().trim_end_matches('/')
        ))
        .map_err(|_| bad())?;
        Ok(TelegramConfig {
            api_base,
            token: token.to_string(),
            chat_id: chat_id.trim().to_string(),
            thread_id,
            endpoint,
        })
    }

    /// The `sendMessage` URL. It holds the token: never print it.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// `text` with the token and the endpoint replaced, for logs and dead letters.
    pub fn scrub(&self, text: String) -> String {
        text.replace(self.endpoint.as_str(), "<telegram api>")
            .replace(&self.token, "****")
    }

    /// Telegram's own guidance (Bot FAQ): at most one message a second in a
    /// chat, and 20 a minute in a group or channel (ids `-100…` and `@name`).
    pub fn pace(&self) -> std::time::Duration {
        if self.chat_id.starts_with('-') || self.chat_id.starts_with('@') {
            std::time::Duration::from_secs(3)
        } else {
            std::time::Duration::from_secs(1)
        }
    }

    /// Where it posts, safe to print.
    pub fn describe(&self) -> String {
        let topic = self
            .thread_id
            .map(|t| format!(", topic {t}"))
            .unwrap_or_default();
        format!(
            "{} bot **** → chat {}{topic}",
            mask_url(&self.api_base),
            self.chat_id
        )
    }
}

/// Every receiver the environment configures.
pub struct Receivers {
    pub webhooks: Vec<WebhookConfig>,
    pub chats: Vec<ChatConfig>,
    /// `WEBHOOK_SECRET` as text and key, for the inbound webhook.
    pub inbound_secret: Option<(SecretText, SecretKey)>,
}

pub(super) fn from_env(
    env: &Env,
    default_events: &EventFilter,
    listen: Option<SocketAddr>,
    c: &mut Collector,
    warnings: &mut Vec<String>,
) -> Receivers {
    let secret = c.take(env.secret("WEBHOOK_SECRET")).flatten();
    let key = secret.as_deref().and_then(|s| {
        c.take(
            SecretKey::from_secret(s).map_err(|reason| ConfigError::Invalid {
                var: "WEBHOOK_SECRET".into(),
                reason,
            }),
        )
    });
    let webhooks = webhooks(env, default_events, key.as_ref(), listen, c, warnings);
    let mut chats = Vec::new();
    for (name, url_var, enable_var, events_var) in [
        (
            "discord",
            "DISCORD_WEBHOOK_URL",
            "ENABLE_DISCORD_NOTIFICATIONS",
            "DISCORD_EVENTS",
        ),
        (
            "slack",
            "SLACK_WEBHOOK_URL",
            "ENABLE_SLACK_NOTIFICATIONS",
            "SLACK_EVENTS",
        ),
    ] {
        let url = c.take(single_url(env, url_var)).flatten();
        let enabled = c.take(env.bool(enable_var)).flatten();
        let events = c.take(event_filter(env, events_var, default_events));
        if enabled == Some(true) && url.is_none() {
            c.push(ConfigError::Invalid {
                var: url_var.into(),
                reason: format!("{enable_var} is true but {url_var} is empty; paste the webhook URL from the app, or set {enable_var}=false"),
            });
        }
        if let (Some(url), true) = (url, enabled != Some(false)) {
            let kind = if name == "discord" {
                ChatKind::Discord(url)
            } else {
                ChatKind::Slack(url)
            };
            chats.push(ChatConfig {
                name,
                kind,
                events: events.unwrap_or_else(EventFilter::all),
                events_var: filter_var(env, events_var),
            });
        }
    }
    chats.extend(telegram(env, default_events, c));
    Receivers {
        webhooks,
        chats,
        inbound_secret: secret.zip(key).map(|(t, k)| (SecretText(t), k)),
    }
}

fn webhooks(
    env: &Env,
    default_events: &EventFilter,
    key: Option<&SecretKey>,
    listen: Option<SocketAddr>,
    c: &mut Collector,
    warnings: &mut Vec<String>,
) -> Vec<WebhookConfig> {
    let set = env.get("WEBHOOK_URL").is_some();
    let urls = c.take(url_list(env, "WEBHOOK_URL")).unwrap_or_default();
    let enabled = c.take(env.bool("ENABLE_WEBHOOKS")).flatten();
    if enabled == Some(false) {
        return Vec::new();
    }
    if enabled == Some(true) && !set {
        // Said, not refused: a set-up with only chats must start.
        warnings.push("ENABLE_WEBHOOKS is true but WEBHOOK_URL is empty, so no generic webhook is sent; set WEBHOOK_URL to your receiver's address, or remove ENABLE_WEBHOOKS".into());
    }
    let mut ok = Vec::new();
    for url in urls {
        match webhook_url_problem(&url, listen) {
            Some(UrlProblem::Refused(reason)) => c.push(ConfigError::Invalid {
                var: "WEBHOOK_URL".into(),
                reason,
            }),
            Some(UrlProblem::Doubtful(why)) => {
                warnings.push(format!("WEBHOOK_URL {}: {why}", mask_url(&url)));
                ok.push(url);
            }
            None => ok.push(url),
        }
    }
    let many = ok.len() > 1;
    let webhooks: Vec<WebhookConfig> = ok
        .into_iter()
        .enumerate()
        .map(|(i, url)| WebhookConfig {
            name: if many {
                format!("webhook-{}", i + 1)
            } else {
                "webhook".into()
            },
            url,
            key: key.cloned(),
            events: default_events.clone(),
        })
        .collect();
    if !webhooks.is_empty() && key.is_none() {
        warnings.push("WEBHOOK_SECRET is not set: webhooks are sent unsigned and receivers cannot verify them; set WEBHOOK_SECRET (or WEBHOOK_SECRET_FILE)".into());
    }
    webhooks
}

/// What WEBHOOK_URL means: where owui-bridge sends its events — the user's
/// receiver — said in every message about a wrong one.
pub const WEBHOOK_URL_IS: &str = "WEBHOOK_URL is where owui-bridge sends events: your own receiver's address (your server, n8n, Make, webhook.site…), not Open WebUI and not owui-bridge; to try things out, run 'owui-bridge listen' and use the URL it prints";

/// The path of the inbound endpoint — and of the old guide's WEBHOOK_URL.
pub const INBOUND_PATH: &str = "/api/v1/webhook";

/// Something wrong, or probably wrong, with a WEBHOOK_URL.
#[derive(Debug, PartialEq, Eq)]
pub enum UrlProblem {
    /// Certainly wrong: the bridge does not start.
    Refused(String),
    /// Probably wrong: said, and `check` looks closer.
    Doubtful(String),
}

/// A chat platform's address pasted into WEBHOOK_URL, the bridge's own
/// inbound endpoint (events would go round in a loop), or the path of the
/// old guide's Open WebUI address. Never says the URL itself: it may hold a
/// token.
pub fn webhook_url_problem(url: &Url, listen: Option<SocketAddr>) -> Option<UrlProblem> {
    let host = url
        .host_str()
        .unwrap_or("")
        .trim_matches(['[', ']'])
        .to_ascii_lowercase();
    let path = url.path().trim_end_matches('/');
    let refused = |s: String| Some(UrlProblem::Refused(s));
    if [
        "discord.com",
        "discordapp.com",
        "canary.discord.com",
        "ptb.discord.com",
    ]
    .contains(&host.as_str())
        && path.starts_with("/api/webhooks")
    {
        return refused("this is a Discord webhook; put it in DISCORD_WEBHOOK_URL instead (WEBHOOK_URL takes a receiver of owui-bridge's signed JSON)".into());
    }
    if host == "hooks.slack.com" {
        return refused("this is a Slack webhook; put it in SLACK_WEBHOOK_URL instead (WEBHOOK_URL takes a receiver of owui-bridge's signed JSON)".into());
    }
    if host == "api.telegram.org" || path.contains("/bot") && path.contains(':') {
        return refused("this is a Telegram Bot API address; set TELEGRAM_BOT_TOKEN (the part after /bot up to the next /) and TELEGRAM_CHAT_ID instead, and leave WEBHOOK_URL for a receiver of owui-bridge's signed JSON".into());
    }
    let own_host = is_own_host(&host);
    let port = url.port_or_known_default();
    let own_port = listen.is_some_and(|l| Some(l.port()) == port);
    if own_host && (own_port || path == INBOUND_PATH) {
        return refused(format!(
            "this is owui-bridge's own inbound endpoint (POST {INBOUND_PATH}, for the old guide's curl test), so every event would be sent back to the bridge in a loop; {WEBHOOK_URL_IS}"
        ));
    }
    if path == INBOUND_PATH {
        return Some(UrlProblem::Doubtful(format!(
            "ends in {INBOUND_PATH}, like the Open WebUI address of the old webhook guide (Open WebUI answers 405 there and every event would be refused); {WEBHOOK_URL_IS}. 'owui-bridge check' asks that address whether it is Open WebUI"
        )));
    }
    None
}

/// Names that lead back to this bridge: loopback, any-address, this host's
/// name, and `owui-bridge` (the service and container name in its compose file).
fn is_own_host(host: &str) -> bool {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return ip.is_loopback() || ip.is_unspecified();
    }
    host == "localhost"
        || host.ends_with(".localhost")
        || host == "owui-bridge"
        || host.eq_ignore_ascii_case(&super::hostname())
}

fn telegram(env: &Env, default_events: &EventFilter, c: &mut Collector) -> Option<ChatConfig> {
    let token = c.take(env.secret("TELEGRAM_BOT_TOKEN")).flatten();
    let chat = env.get("TELEGRAM_CHAT_ID").map(str::to_string);
    let enabled = c.take(env.bool("ENABLE_TELEGRAM_NOTIFICATIONS")).flatten();
    let events = c.take(event_filter(env, "TELEGRAM_EVENTS", default_events));
    let api = c.take(single_url(env, "TELEGRAM_API_URL")).flatten();
    let mut thread = None;
    if let Some(t) = env.get("TELEGRAM_THREAD_ID") {
        match t.parse::<i64>() {
            Ok(t) => thread = Some(t),
            Err(_) => c.push(ConfigError::Invalid {
                var: "TELEGRAM_THREAD_ID".into(),
                reason: format!("'{t}' is not a number; it is the topic id of a forum group"),
            }),
        }
    }
    if let Some(chat) = &chat {
        let ok = chat.parse::<i64>().is_ok() || (chat.starts_with('@') && chat.len() > 1);
        if !ok {
            c.push(ConfigError::Invalid {
                var: "TELEGRAM_CHAT_ID".into(),
                reason: format!(
                    "'{chat}' is not a chat id (a number such as -1001234567890) or a @channelname"
                ),
            });
        }
    }
    let invalid = |var: &str, reason: &str| ConfigError::Invalid {
        var: var.into(),
        reason: reason.into(),
    };
    match (token, chat) {
        (Some(_), None) if enabled != Some(false) => c.push(invalid("TELEGRAM_CHAT_ID", "TELEGRAM_BOT_TOKEN is set but TELEGRAM_CHAT_ID is empty; set it to the chat's id (send /start to the bot, then read it from getUpdates)")),
        (None, Some(_)) if enabled != Some(false) => c.push(invalid("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID is set but TELEGRAM_BOT_TOKEN is empty; set the token @BotFather gave you (or TELEGRAM_BOT_TOKEN_FILE)")),
        (Some(token), Some(chat_id)) if enabled != Some(false) => {
            let api_base = api.unwrap_or_else(|| {
                Url::parse("https://api.telegram.org").expect("a valid URL")
            });
            let cfg = TelegramConfig::new(api_base, &token, &chat_id, thread).map_err(|reason| {
                ConfigError::Invalid {
                    var: "TELEGRAM_BOT_TOKEN".into(),
                    reason,
                }
            });
            return c.take(cfg).map(|cfg| ChatConfig {
                name: "telegram",
                kind: ChatKind::Telegram(cfg),
                events: events.unwrap_or_else(EventFilter::all),
                events_var: filter_var(env, "TELEGRAM_EVENTS"),
            });
        }
        (None, None) if enabled == Some(true) => c.push(invalid("TELEGRAM_BOT_TOKEN", "ENABLE_TELEGRAM_NOTIFICATIONS is true but TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are empty")),
        _ => {}
    }
    None
}

/// A chat's own filter variable when set, else the default's.
fn filter_var(env: &Env, own: &'static str) -> &'static str {
    if env.get(own).is_some() {
        own
    } else {
        WebhookConfig::EVENTS_VAR
    }
}
