//! Configuration: the environment of spec §1 turned into a validated, typed
//! [`Config`]. The only place that reads variables; every other module gets
//! typed values (URLs, durations, filters), never raw strings.

mod env;
pub mod filter;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use reqwest::Url;

pub use env::{parse_bool, parse_duration, Env};
pub use filter::EventFilter;

/// One problem with the configuration, phrased for the person who wrote the `.env`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid value for {var}: {reason}")]
    Invalid { var: String, reason: String },
    #[error("cannot read {path}: {reason}")]
    DotEnv { path: String, reason: String },
}

/// An HMAC key. Never printed: `Debug` shows only that it is set.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(Vec<u8>);

impl SecretKey {
    /// Spec §3: the bytes of the secret; with a `whsec_` prefix, the base64 decoding of the rest.
    pub fn from_secret(secret: &str) -> Result<SecretKey, String> {
        match secret.strip_prefix("whsec_") {
            Some(b64) => {
                let key = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|e| format!("starts with whsec_ but the rest is not valid base64 ({e}); use the secret exactly as your receiver shows it"))?;
                if key.is_empty() {
                    return Err("starts with whsec_ but holds no key bytes".into());
                }
                Ok(SecretKey(key))
            }
            None => Ok(SecretKey(secret.as_bytes().to_vec())),
        }
    }
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(****)")
    }
}

/// A secret's text (the inbound webhook compares it). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(pub String);

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText(****)")
    }
}

/// Where to start reading when there is no checkpoint yet (`BRIDGE_SINCE`).
#[derive(Debug, Clone, PartialEq)]
pub enum Since {
    Now,
    Ago(Duration),
    At(DateTime<Utc>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// One generic webhook receiver (one per URL in `WEBHOOK_URL`).
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Stable sink name: `webhook`, or `webhook-1`, `webhook-2`… when several URLs are given.
    pub name: String,
    pub url: Url,
    pub key: Option<SecretKey>,
    pub events: EventFilter,
}

/// Which chat platform, with what it needs.
#[derive(Debug, Clone)]
pub enum ChatKind {
    Discord(Url),
    Slack(Url),
    Telegram(crate::sink::telegram::TelegramConfig),
}

/// A chat sink: Discord, Slack or Telegram, with its own event filter.
#[derive(Debug, Clone)]
pub struct ChatConfig {
    pub name: &'static str,
    pub kind: ChatKind,
    pub events: EventFilter,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub webhooks: Vec<WebhookConfig>,
    pub chats: Vec<ChatConfig>,
    /// `WEBHOOK_SECRET` as text and key, for the inbound webhook.
    pub inbound_secret: Option<(SecretText, SecretKey)>,
    pub webhook_timeout: Duration,
    pub webhook_max_age: Duration,
    pub container: String,
    pub docker_host: Option<String>,
    pub since: Since,
    pub rules: Vec<PathBuf>,
    pub default_rules: bool,
    pub state_dir: PathBuf,
    pub listen: Option<SocketAddr>,
    pub log_level: String,
    pub log_format: LogFormat,
    /// `SSL_CERT_FILE`: extra CA certificates trusted for receivers (a private
    /// CA), on top of the built-in public roots; with the file they came from.
    pub extra_roots: Option<(PathBuf, Vec<reqwest::Certificate>)>,
    /// Things that work but that a user probably wants to know (e.g. unsigned webhooks).
    pub warnings: Vec<String>,
}

/// Collects every problem instead of stopping at the first, so `check` can list them all.
struct Collector(Vec<ConfigError>);

impl Collector {
    fn take<T>(&mut self, r: Result<T, ConfigError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Config, Vec<ConfigError>> {
        let mut c = Collector(Vec::new());
        let mut warnings = Vec::new();

        let default_events = c
            .take(event_filter(env, "WEBHOOK_EVENTS", &EventFilter::all()))
            .unwrap_or_else(EventFilter::all);

        let webhook_urls = c.take(url_list(env, "WEBHOOK_URL")).unwrap_or_default();
        let enable_webhooks = c.take(env.bool("ENABLE_WEBHOOKS")).flatten();
        let secret = c.take(env.secret("WEBHOOK_SECRET")).flatten();
        let secret_text = secret.clone();
        let key = secret.and_then(|s| {
            c.take(
                SecretKey::from_secret(&s).map_err(|reason| ConfigError::Invalid {
                    var: "WEBHOOK_SECRET".into(),
                    reason,
                }),
            )
        });
        let mut webhooks = Vec::new();
        match enable_webhooks {
            Some(true) if webhook_urls.is_empty() => c.0.push(ConfigError::Invalid {
                var: "WEBHOOK_URL".into(),
                reason: "ENABLE_WEBHOOKS is true but WEBHOOK_URL is empty; set WEBHOOK_URL to your receiver's address, or set ENABLE_WEBHOOKS=false".into(),
            }),
            Some(false) => {}
            _ => {
                let many = webhook_urls.len() > 1;
                for (i, url) in webhook_urls.into_iter().enumerate() {
                    webhooks.push(WebhookConfig {
                        name: if many { format!("webhook-{}", i + 1) } else { "webhook".into() },
                        url,
                        key: key.clone(),
                        events: default_events.clone(),
                    });
                }
                if !webhooks.is_empty() && key.is_none() {
                    warnings.push("WEBHOOK_SECRET is not set: webhooks are sent unsigned and receivers cannot verify them; set WEBHOOK_SECRET (or WEBHOOK_SECRET_FILE)".into());
                }
            }
        }

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
            let events = c.take(event_filter(env, events_var, &default_events));
            if enabled == Some(true) && url.is_none() {
                c.0.push(ConfigError::Invalid {
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
                });
            }
        }
        let tg_token = c.take(env.secret("TELEGRAM_BOT_TOKEN")).flatten();
        let tg_chat = env.get("TELEGRAM_CHAT_ID").map(str::to_string);
        let tg_enabled = c.take(env.bool("ENABLE_TELEGRAM_NOTIFICATIONS")).flatten();
        let tg_events = c.take(event_filter(env, "TELEGRAM_EVENTS", &default_events));
        let tg_api = c.take(single_url(env, "TELEGRAM_API_URL")).flatten();
        let mut tg_thread = None;
        if let Some(thread) = env.get("TELEGRAM_THREAD_ID") {
            match thread.parse::<i64>() {
                Ok(t) => tg_thread = Some(t),
                Err(_) => c.0.push(ConfigError::Invalid {
                    var: "TELEGRAM_THREAD_ID".into(),
                    reason: format!(
                        "'{thread}' is not a number; it is the topic id of a forum group"
                    ),
                }),
            }
        }
        if let Some(chat) = &tg_chat {
            let ok = chat.parse::<i64>().is_ok() || (chat.starts_with('@') && chat.len() > 1);
            if !ok {
                c.0.push(ConfigError::Invalid { var: "TELEGRAM_CHAT_ID".into(), reason: format!("'{chat}' is not a chat id (a number such as -1001234567890) or a @channelname") });
            }
        }
        match (tg_token, tg_chat) {
            (Some(_), None) if tg_enabled != Some(false) => c.0.push(ConfigError::Invalid {
                var: "TELEGRAM_CHAT_ID".into(),
                reason: "TELEGRAM_BOT_TOKEN is set but TELEGRAM_CHAT_ID is empty; set it to the chat's id (send /start to the bot, then read it from getUpdates)".into(),
            }),
            (None, Some(_)) if tg_enabled != Some(false) => c.0.push(ConfigError::Invalid {
                var: "TELEGRAM_BOT_TOKEN".into(),
                reason: "TELEGRAM_CHAT_ID is set but TELEGRAM_BOT_TOKEN is empty; set the token @BotFather gave you (or TELEGRAM_BOT_TOKEN_FILE)".into(),
            }),
            (Some(token), Some(chat_id)) if tg_enabled != Some(false) => {
                let api_base = tg_api.unwrap_or_else(|| Url::parse("https://api.telegram.org").expect("a valid URL"));
                let kind = ChatKind::Telegram(crate::sink::telegram::TelegramConfig { api_base, token, chat_id, thread_id: tg_thread });
                chats.push(ChatConfig { name: "telegram", kind, events: tg_events.unwrap_or_else(EventFilter::all) });
            }
            (None, None) if tg_enabled == Some(true) => c.0.push(ConfigError::Invalid {
                var: "TELEGRAM_BOT_TOKEN".into(),
                reason: "ENABLE_TELEGRAM_NOTIFICATIONS is true but TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are empty".into(),
            }),
            _ => {}
        }

        let webhook_timeout = c
            .take(env.duration("WEBHOOK_TIMEOUT", Duration::from_secs(10)))
            .unwrap_or(Duration::from_secs(10));
        if webhook_timeout.is_zero() {
            c.0.push(ConfigError::Invalid {
                var: "WEBHOOK_TIMEOUT".into(),
                reason: "must be more than 0 seconds".into(),
            });
        }
        let webhook_max_age = c
            .take(env.duration("WEBHOOK_MAX_AGE", Duration::from_secs(24 * 3600)))
            .unwrap_or(Duration::from_secs(86400));

        let since = c
            .take(parse_since(env.get("BRIDGE_SINCE")))
            .unwrap_or(Since::Now);
        let rules = env
            .get("BRIDGE_RULES")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default();
        let default_rules = c
            .take(env.bool("BRIDGE_DEFAULT_RULES"))
            .flatten()
            .unwrap_or(true);
        let state_dir = env
            .get("BRIDGE_STATE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("state"));
        let listen = c.take(parse_listen(env.get("BRIDGE_LISTEN"))).flatten();
        let log_level = env.get("LOG_LEVEL").unwrap_or("info").to_ascii_lowercase();
        if !["trace", "debug", "info", "warn", "warning", "error"].contains(&log_level.as_str()) {
            c.0.push(ConfigError::Invalid {
                var: "LOG_LEVEL".into(),
                reason: format!(
                    "'{log_level}' is not a level (use error, warn, info, debug or trace)"
                ),
            });
        }
        let log_format = match env
            .get("LOG_FORMAT")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                c.0.push(ConfigError::Invalid {
                    var: "LOG_FORMAT".into(),
                    reason: format!("'{other}' is not a log format (use text or json)"),
                });
                LogFormat::Text
            }
        };

        let extra_roots = c.take(extra_roots(env)).flatten();

        if !c.0.is_empty() {
            return Err(c.0);
        }
        let inbound_secret = secret_text
            .zip(key.clone())
            .map(|(t, k)| (SecretText(t), k));
        Ok(Config {
            webhooks,
            chats,
            inbound_secret,
            webhook_timeout,
            webhook_max_age,
            container: env
                .get("OPENWEBUI_CONTAINER")
                .unwrap_or("open-webui")
                .to_string(),
            docker_host: env.get("DOCKER_HOST").map(str::to_string),
            since,
            rules,
            default_rules,
            state_dir,
            listen,
            log_level: if log_level == "warning" {
                "warn".into()
            } else {
                log_level
            },
            log_format,
            extra_roots,
            warnings,
        })
    }

    /// The configuration as `check` prints it: one `NAME = value` line each, secrets masked.
    pub fn describe(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for w in &self.webhooks {
            out.push((
                format!("sink {}", w.name),
                format!(
                    "{} (events: {}, {})",
                    mask_url(&w.url),
                    w.events,
                    if w.key.is_some() {
                        "signed"
                    } else {
                        "unsigned"
                    }
                ),
            ));
        }
        for c in &self.chats {
            let to = match &c.kind {
                ChatKind::Discord(u) | ChatKind::Slack(u) => mask_url(u),
                ChatKind::Telegram(t) => {
                    let topic = t
                        .thread_id
                        .map(|t| format!(", topic {t}"))
                        .unwrap_or_default();
                    format!(
                        "{} bot **** → chat {}{topic}",
                        mask_url(&t.api_base),
                        t.chat_id
                    )
                }
            };
            out.push((
                format!("sink {}", c.name),
                format!("{to} (events: {})", c.events),
            ));
        }
        out.push((
            "WEBHOOK_TIMEOUT".into(),
            format!("{:?}", self.webhook_timeout),
        ));
        out.push((
            "WEBHOOK_MAX_AGE".into(),
            format!("{:?}", self.webhook_max_age),
        ));
        out.push(("OPENWEBUI_CONTAINER".into(), self.container.clone()));
        out.push((
            "DOCKER_HOST".into(),
            self.docker_host
                .clone()
                .unwrap_or_else(|| "unix:///var/run/docker.sock".into()),
        ));
        out.push(("BRIDGE_SINCE".into(), format!("{:?}", self.since)));
        out.push((
            "BRIDGE_DEFAULT_RULES".into(),
            self.default_rules.to_string(),
        ));
        out.push((
            "BRIDGE_RULES".into(),
            self.rules
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(","),
        ));
        out.push((
            "BRIDGE_STATE_DIR".into(),
            self.state_dir.display().to_string(),
        ));
        out.push((
            "BRIDGE_LISTEN".into(),
            self.listen
                .map(|a| a.to_string())
                .unwrap_or_else(|| "off".into()),
        ));
        out.push(("LOG_LEVEL".into(), self.log_level.clone()));
        if let Some((path, certs)) = &self.extra_roots {
            out.push((
                "SSL_CERT_FILE".into(),
                format!(
                    "{} ({} CA certificate(s) trusted besides the public roots)",
                    path.display(),
                    certs.len()
                ),
            ));
        }
        out
    }
}

/// Reads `SSL_CERT_FILE`, the variable OpenSSL-based tools use for a CA bundle:
/// PEM certificates to trust for receivers behind a private CA.
fn extra_roots(env: &Env) -> Result<Option<(PathBuf, Vec<reqwest::Certificate>)>, ConfigError> {
    let Some(path) = env.get("SSL_CERT_FILE").filter(|p| !p.trim().is_empty()) else {
        return Ok(None);
    };
    let invalid = |reason: String| ConfigError::Invalid {
        var: "SSL_CERT_FILE".into(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| {
        invalid(format!(
            "cannot read '{path}': {e}; check the path and that the file is mounted into the container"
        ))
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .ok()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            invalid(format!(
                "'{path}' holds no PEM certificate; it must contain -----BEGIN CERTIFICATE----- blocks (your CA's certificate, not a key)"
            ))
        })?;
    // PEM framing around something that is no certificate passes the parse
    // above; building a client with each one is what tells.
    for (i, cert) in certs.iter().enumerate() {
        reqwest::Client::builder()
            .add_root_certificate(cert.clone())
            .build()
            .map_err(|_| {
                invalid(format!(
                    "certificate {} in '{path}' is not a valid X.509 certificate; export your CA's certificate again in PEM form",
                    i + 1
                ))
            })?;
    }
    Ok(Some((PathBuf::from(path), certs)))
}

fn event_filter(env: &Env, var: &str, default: &EventFilter) -> Result<EventFilter, ConfigError> {
    match env.get(var) {
        None => Ok(default.clone()),
        Some(v) => EventFilter::parse(v).map_err(|reason| ConfigError::Invalid {
            var: var.into(),
            reason,
        }),
    }
}

fn url_list(env: &Env, var: &str) -> Result<Vec<Url>, ConfigError> {
    let Some(v) = env.get(var) else {
        return Ok(Vec::new());
    };
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| parse_url(var, s))
        .collect()
}

fn single_url(env: &Env, var: &str) -> Result<Option<Url>, ConfigError> {
    env.get(var).map(|s| parse_url(var, s)).transpose()
}

fn parse_url(var: &str, s: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(s).map_err(|e| ConfigError::Invalid {
        var: var.into(),
        reason: format!("not a URL ({e}); write it in full, e.g. https://example.com/hook"),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::Invalid {
            var: var.into(),
            reason: "must start with http:// or https:// and name a host".into(),
        });
    }
    Ok(url)
}

fn parse_since(v: Option<&str>) -> Result<Since, ConfigError> {
    let Some(v) = v else { return Ok(Since::Now) };
    if v.eq_ignore_ascii_case("now") {
        return Ok(Since::Now);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(Since::At(t.with_timezone(&Utc)));
    }
    parse_duration(v).map(Since::Ago).map_err(|_| ConfigError::Invalid {
        var: "BRIDGE_SINCE".into(),
        reason: format!("'{v}' is not 'now', a duration (e.g. 2h) or an RFC 3339 time (e.g. 2026-11-27T08:00:00Z)"),
    })
}

fn parse_listen(v: Option<&str>) -> Result<Option<SocketAddr>, ConfigError> {
    match v {
        Some(v) if v.eq_ignore_ascii_case("off") => Ok(None),
        None => Ok(Some(SocketAddr::from(([0, 0, 0, 0], 8787)))),
        Some(v) => v.parse().map(Some).map_err(|_| ConfigError::Invalid {
            var: "BRIDGE_LISTEN".into(),
            reason: format!("'{v}' is not an address:port (e.g. 0.0.0.0:8787) or 'off'"),
        }),
    }
}

/// A URL safe to print: scheme, host and port, the first path segment, and `****` for
/// the rest (webhook paths and query strings are credentials).
pub fn mask_url(url: &Url) -> String {
    let mut out = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    let mut segs = url
        .path_segments()
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty());
    if let Some(first) = segs.next() {
        out.push('/');
        out.push_str(first);
    }
    if segs.next().is_some() || url.query().is_some() {
        out.push_str("/****");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, Vec<ConfigError>> {
        Config::from_env(&Env::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn seed_env_works_unchanged() {
        let c = cfg(&[
            ("ENABLE_WEBHOOKS", "true"),
            ("WEBHOOK_URL", "http://127.0.0.1:9000/hook"),
            ("WEBHOOK_SECRET", "s3cret"),
            ("WEBHOOK_EVENTS", "user.*,file.uploaded"),
        ])
        .unwrap();
        assert_eq!(c.webhooks.len(), 1);
        assert_eq!(c.webhooks[0].name, "webhook");
        assert_eq!(c.webhooks[0].key.as_ref().unwrap().bytes(), b"s3cret");
        assert!(c.webhooks[0].events.allows("user.created"));
        assert!(!c.webhooks[0].events.allows("chat.created"));
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn every_problem_is_reported_once() {
        let errs = cfg(&[
            ("ENABLE_WEBHOOKS", "ture"),
            ("WEBHOOK_TIMEOUT", "soon"),
            ("BRIDGE_SINCE", "yesterday"),
        ])
        .unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(text.len(), 3, "{text:?}");
        assert!(text[0].starts_with("invalid value for ENABLE_WEBHOOKS"));
        assert!(text
            .iter()
            .any(|t| t.starts_with("invalid value for WEBHOOK_TIMEOUT")));
        assert!(text
            .iter()
            .any(|t| t.starts_with("invalid value for BRIDGE_SINCE")));
    }

    #[test]
    fn whsec_secret_is_base64_decoded() {
        let k = SecretKey::from_secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        assert_eq!(k.bytes().len(), 24);
        assert!(SecretKey::from_secret("whsec_***").is_err());
        assert_eq!(format!("{k:?}"), "SecretKey(****)");
    }

    #[test]
    fn unsigned_webhook_warns_and_several_urls_get_numbered_names() {
        let c = cfg(&[("WEBHOOK_URL", "http://a.example/x, https://b.example/y")]).unwrap();
        assert_eq!(
            c.webhooks
                .iter()
                .map(|w| w.name.as_str())
                .collect::<Vec<_>>(),
            ["webhook-1", "webhook-2"]
        );
        assert_eq!(c.warnings.len(), 1);
        assert!(c.warnings[0].contains("WEBHOOK_SECRET is not set"));
    }

    #[test]
    fn masked_urls_hide_tokens() {
        let u = Url::parse("https://discord.com/api/webhooks/123/abcdefTOKEN?wait=true").unwrap();
        assert_eq!(mask_url(&u), "https://discord.com/api/****");
        let u = Url::parse("http://127.0.0.1:9000/").unwrap();
        assert_eq!(mask_url(&u), "http://127.0.0.1:9000");
    }

    #[test]
    fn since_forms() {
        assert_eq!(parse_since(Some("now")).unwrap(), Since::Now);
        assert_eq!(
            parse_since(Some("2h")).unwrap(),
            Since::Ago(Duration::from_secs(7200))
        );
        assert!(matches!(
            parse_since(Some("2026-11-27T08:00:00Z")).unwrap(),
            Since::At(_)
        ));
    }
}
