//! Configuration: the environment of spec §1 (and `.env`) turned into a
//! validated, typed [`Config`]. Every setting is read and checked here, once;
//! the stages get typed values (URLs, durations, filters, the Docker endpoint),
//! never raw strings. The machine's name ([`hostname`]) is read here too;
//! only `NO_COLOR` (the bridge's own log colours) is read where it is used.

mod docker;
pub mod dotenv;
mod env;
pub mod filter;
mod receivers;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Url;

pub use docker::{DockerHost, Target, DEFAULT_SOCKET};
pub use env::{parse_bool, parse_duration, Env};
pub use filter::EventFilter;
pub use receivers::{
    webhook_url_problem, ChatConfig, ChatKind, TelegramConfig, UrlProblem, WebhookConfig,
    INBOUND_PATH, WEBHOOK_URL_IS,
};

use crate::secret::{mask_url, SecretKey, SecretText};

/// One problem with the configuration, phrased for the person who wrote the `.env`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid value for {var}: {reason}")]
    Invalid { var: String, reason: String },
    #[error("{path}{}: {}{reason}", line_of(*.line), var_of(.var))]
    DotEnv {
        path: String,
        line: usize,
        var: Option<String>,
        reason: String,
    },
}

/// Which rule files to load: the built-in packs (`BRIDGE_DEFAULT_RULES`),
/// then the files and folders of `BRIDGE_RULES` in order. Read once, the
/// same way, for `run`, `check`, `events` and `test-rules`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSources {
    pub builtin: bool,
    pub paths: Vec<PathBuf>,
}

impl Default for RuleSources {
    fn default() -> Self {
        RuleSources {
            builtin: true,
            paths: Vec::new(),
        }
    }
}

impl RuleSources {
    /// `BRIDGE_DEFAULT_RULES` and `BRIDGE_RULES` alone: the rule commands work
    /// even while another variable is wrong.
    pub fn from_env(env: &Env) -> Result<RuleSources, ConfigError> {
        let builtin = env.bool("BRIDGE_DEFAULT_RULES")?.unwrap_or(true);
        let paths = env
            .get("BRIDGE_RULES")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default();
        Ok(RuleSources { builtin, paths })
    }

    /// Exactly these files and folders (`test-rules --rules`).
    pub fn only(paths: &[PathBuf]) -> RuleSources {
        RuleSources {
            builtin: false,
            paths: paths.to_vec(),
        }
    }
}

/// Where to start reading when there is no checkpoint yet (`BRIDGE_SINCE`).
#[derive(Debug, Clone, PartialEq)]
pub enum Since {
    Now,
    Ago(Duration),
    At(DateTime<Utc>),
}

impl fmt::Display for Since {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Since::Now => f.write_str("now"),
            Since::Ago(d) => write!(f, "{} ago", show_duration(*d)),
            Since::At(t) => f.write_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        }
    }
}

/// A duration as a person writes it: `1500ms`, `10s`, `5m`, `24h`, `2d`.
pub fn show_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, per) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms >= per && ms % per == 0 {
            return format!("{}{unit}", ms / per);
        }
    }
    format!("{ms}ms")
}

/// The language of the chat messages (`BRIDGE_LANGUAGE`): the rules'
/// messages and the words around them on Discord, Slack and Telegram. The
/// generic webhook's JSON is the same in every language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    #[default]
    En,
    Vi,
}

impl Language {
    /// `en` or `vi`, in any case, with or without a region (`vi-VN`).
    pub fn parse(v: &str) -> Result<Language, String> {
        let code = v.trim().to_ascii_lowercase();
        let code = code.split(['-', '_']).next().unwrap_or("");
        match code {
            "en" => Ok(Language::En),
            "vi" => Ok(Language::Vi),
            _ => Err(format!(
                "'{v}' is not a language owui-bridge speaks; use en (English) or vi (Tiếng Việt)"
            )),
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Vi => "vi",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub webhooks: Vec<WebhookConfig>,
    pub chats: Vec<ChatConfig>,
    /// `WEBHOOK_SECRET` as text and key, for the inbound webhook.
    pub inbound_secret: Option<(SecretText, SecretKey)>,
    pub webhook_timeout: Duration,
    pub webhook_max_age: Duration,
    pub container: Target,
    pub docker_host: DockerHost,
    pub since: Since,
    pub rules: RuleSources,
    pub state_dir: PathBuf,
    pub listen: Option<SocketAddr>,
    pub log_level: String,
    pub log_format: LogFormat,
    /// `BRIDGE_LANGUAGE`: the chat messages' language.
    pub language: Language,
    /// `SSL_CERT_FILE`: extra CA certificates trusted for receivers (a private
    /// CA), on top of the built-in public roots; with the file they came from.
    pub extra_roots: Option<(PathBuf, Vec<reqwest::Certificate>)>,
    /// Things that work but that a user probably wants to know (e.g. unsigned webhooks).
    pub warnings: Vec<String>,
}

fn line_of(line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(" line {line}")
    }
}

fn var_of(var: &Option<String>) -> String {
    var.as_ref().map(|v| format!("{v}: ")).unwrap_or_default()
}

/// Collects every problem instead of stopping at the first, so `check` can list them all.
struct Collector(Vec<ConfigError>);

impl Collector {
    fn push(&mut self, e: ConfigError) {
        self.0.push(e);
    }
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
        let listen = c.take(parse_listen(env.get("BRIDGE_LISTEN"))).flatten();
        let receivers = receivers::from_env(env, &default_events, listen, &mut c, &mut warnings);

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
        let rules = c.take(RuleSources::from_env(env)).unwrap_or_default();
        let state_dir = env
            .get("BRIDGE_STATE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("state"));
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
        let language = c
            .take(parse_with(env, "BRIDGE_LANGUAGE", Language::parse))
            .flatten()
            .unwrap_or_default();
        let container = c
            .take(parse_with(env, "OPENWEBUI_CONTAINER", Target::parse))
            .flatten()
            .unwrap_or_else(|| Target::Name("open-webui".into()));
        let docker_host = c
            .take(parse_with(env, "DOCKER_HOST", DockerHost::parse))
            .flatten()
            .unwrap_or_default();

        if !c.0.is_empty() {
            return Err(c.0);
        }
        Ok(Config {
            webhooks: receivers.webhooks,
            chats: receivers.chats,
            inbound_secret: receivers.inbound_secret,
            webhook_timeout,
            webhook_max_age,
            container,
            docker_host,
            since,
            rules,
            state_dir,
            listen,
            log_level: if log_level == "warning" {
                "warn".into()
            } else {
                log_level
            },
            log_format,
            language,
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
                ChatKind::Telegram(t) => t.describe(),
            };
            out.push((
                format!("sink {}", c.name),
                format!("{to} (events: {})", c.events),
            ));
        }
        out.push((
            "WEBHOOK_TIMEOUT".into(),
            show_duration(self.webhook_timeout),
        ));
        out.push((
            "WEBHOOK_MAX_AGE".into(),
            show_duration(self.webhook_max_age),
        ));
        out.push(("OPENWEBUI_CONTAINER".into(), self.container.to_string()));
        out.push(("DOCKER_HOST".into(), self.docker_host.to_string()));
        out.push(("BRIDGE_SINCE".into(), self.since.to_string()));
        out.push((
            "BRIDGE_DEFAULT_RULES".into(),
            self.rules.builtin.to_string(),
        ));
        out.push((
            "BRIDGE_RULES".into(),
            self.rules
                .paths
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
        out.push(("BRIDGE_LANGUAGE".into(), self.language.code().into()));
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

/// A variable read with `parse`, its error naming the variable.
fn parse_with<T>(
    env: &Env,
    var: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, ConfigError> {
    env.get(var)
        .map(|v| {
            parse(v).map_err(|reason| ConfigError::Invalid {
                var: var.into(),
                reason,
            })
        })
        .transpose()
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
    let invalid = |reason: String| ConfigError::Invalid {
        var: var.into(),
        reason,
    };
    // The value is never echoed: webhook URLs hold their credentials.
    if !s.contains("://") {
        return Err(invalid("has no http:// or https:// in front; write the whole address, e.g. https://hooks.example.com/owui or http://192.168.1.10:9000/hook".into()));
    }
    let url = Url::parse(s).map_err(|e| {
        invalid(format!(
            "not a URL ({e}); write it in full, e.g. https://example.com/hook"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid(
            "must start with http:// or https:// and name a host".into(),
        ));
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

/// This machine's name (`HOSTNAME`, else the kernel's), for `source.host`
/// and to know a URL that points back here.
pub fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
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
    fn shown_as_written() {
        assert_eq!(show_duration(Duration::from_secs(86400)), "1d");
        assert_eq!(show_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(show_duration(Duration::from_secs(10)), "10s");
        assert_eq!(show_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(Since::Now.to_string(), "now");
        assert_eq!(Since::Ago(Duration::from_secs(7200)).to_string(), "2h ago");
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
