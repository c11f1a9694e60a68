//! The process environment plus the optional `.env` file, and strict parsing of
//! the value kinds spec §1 uses (booleans, durations, secrets with `*_FILE`).
//!
//! Owns *reading* variables; what they mean is decided in `config/mod.rs`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{dotenv, ConfigError};

/// A snapshot of the variables the bridge may read: `.env` first, then the
/// real environment on top (as docker-compose does: the environment wins).
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
    /// The `.env` file read, if there was one.
    dotenv: Option<PathBuf>,
}

impl Env {
    /// Reads `.env` in the working directory (when present) and the process environment.
    pub fn load() -> Result<Env, ConfigError> {
        let mut env = Env::default();
        let dotenv =
            std::env::current_dir().map_or_else(|_| PathBuf::from(".env"), |d| d.join(".env"));
        if dotenv.is_file() {
            env.merge_dotenv(&dotenv)?;
            env.dotenv = Some(dotenv);
        }
        for (k, v) in std::env::vars_os() {
            if let (Ok(k), Ok(v)) = (k.into_string(), v.into_string()) {
                env.vars.insert(k, v);
            }
        }
        Ok(env)
    }

    /// The `.env` file that was read (`check` says which).
    pub fn dotenv_path(&self) -> Option<&Path> {
        self.dotenv.as_deref()
    }

    /// An environment made of exactly these pairs (tests, `check`).
    pub fn from_pairs<I, K, V>(pairs: I) -> Env
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            dotenv: None,
        }
    }

    fn merge_dotenv(&mut self, path: &Path) -> Result<(), ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read(path).map_err(|e| ConfigError::DotEnv {
            path: shown.clone(),
            line: 0,
            var: None,
            reason: format!("cannot read it: {e}; check its permissions"),
        })?;
        let text = String::from_utf8(text).map_err(|e| {
            let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            ConfigError::DotEnv {
                path: shown.clone(),
                line,
                var: None,
                reason: "this line is not UTF-8 text; save the file as UTF-8 (most editors: File, Save with encoding, UTF-8)".into(),
            }
        })?;
        let vars = dotenv::parse(&text, &|name| std::env::var(name).ok()).map_err(|e| {
            ConfigError::DotEnv {
                path: shown.clone(),
                line: e.line,
                var: e.var,
                reason: e.reason,
            }
        })?;
        self.vars.extend(vars);
        Ok(())
    }

    /// The value, with an empty string treated as unset (compose writes `X=` for "nothing").
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => parse_bool(v).map(Some).ok_or_else(|| ConfigError::Invalid {
                var: name.to_string(),
                reason: format!(
                    "'{v}' is not a boolean (expected one of true, false, 1, 0, yes, no, on, off)"
                ),
            }),
        }
    }

    pub fn duration(&self, name: &str, default: Duration) -> Result<Duration, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => parse_duration(v).map_err(|reason| ConfigError::Invalid {
                var: name.to_string(),
                reason,
            }),
        }
    }

    /// A secret given either directly (`NAME`) or as a file (`NAME_FILE`, Docker secrets).
    /// Setting both is an error; the file's trailing newline is not part of the secret.
    pub fn secret(&self, name: &str) -> Result<Option<String>, ConfigError> {
        let file_var = format!("{name}_FILE");
        match (self.get(name), self.get(&file_var)) {
            (Some(_), Some(_)) => Err(ConfigError::Invalid {
                var: name.to_string(),
                reason: format!("both {name} and {file_var} are set; keep only one of them"),
            }),
            (Some(v), None) => Ok(Some(v.to_string())),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
                    var: file_var.clone(),
                    reason: format!(
                        "cannot read the secret file '{path}': {e}; check the path and that the file is mounted into the container"
                    ),
                })?;
                let secret = text.trim_end_matches(['\r', '\n']).to_string();
                if secret.is_empty() {
                    return Err(ConfigError::Invalid {
                        var: file_var,
                        reason: format!("the secret file '{path}' is empty"),
                    });
                }
                Ok(Some(secret))
            }
            (None, None) => Ok(None),
        }
    }
}

/// Spec §1 booleans: `true/True/TRUE/1/yes/on` and `false/False/0/no/off`.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// `250ms`, `30s`, `5m`, `2h`, `1d`; a bare number means seconds.
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    let v = v.trim();
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().map_err(|_| {
        format!("'{v}' is not a duration (write a number and a unit, e.g. 250ms, 30s, 5m, 2h, 1d)")
    })?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "ms" => n / 1000.0,
        "m" | "min" | "mins" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        other => {
            return Err(format!(
                "'{v}' has an unknown unit '{other}' (use ms, s, m, h or d, e.g. 30s)"
            ))
        }
    };
    if !secs.is_finite() || !(0.0..=10.0 * 365.0 * 86400.0).contains(&secs) {
        return Err(format!("'{v}' is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_follow_the_spec_table() {
        for t in ["true", "True", "TRUE", "1", "yes", "on"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["false", "False", "0", "no", "off"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        for bad in ["ture", "2", "y", ""] {
            assert_eq!(parse_bool(bad), None, "{bad}");
        }
    }

    #[test]
    fn invalid_boolean_names_the_variable() {
        let env = Env::from_pairs([("ENABLE_WEBHOOKS", "ture")]);
        let err = env.bool("ENABLE_WEBHOOKS").unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid value for ENABLE_WEBHOOKS: 'ture' is not a boolean (expected one of true, false, 1, 0, yes, no, on, off)"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86400));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn secret_and_file_form() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, "hunter2\n").unwrap();
        let env = Env::from_pairs([("WEBHOOK_SECRET_FILE", p.to_str().unwrap())]);
        assert_eq!(
            env.secret("WEBHOOK_SECRET").unwrap().as_deref(),
            Some("hunter2")
        );
        let both = Env::from_pairs([
            ("WEBHOOK_SECRET", "x"),
            ("WEBHOOK_SECRET_FILE", p.to_str().unwrap()),
        ]);
        assert!(both.secret("WEBHOOK_SECRET").is_err());
        let missing = Env::from_pairs([("WEBHOOK_SECRET_FILE", "/nonexistent/secret")]);
        let err = missing.secret("WEBHOOK_SECRET").unwrap_err().to_string();
        assert!(err.starts_with("invalid value for WEBHOOK_SECRET_FILE: cannot read the secret file '/nonexistent/secret'"), "{err}");
    }
}
