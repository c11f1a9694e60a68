//! What the bridge is doing right now, for `GET /readyz`: the state of each
//! followed source (each container, the file, standard input, the Docker
//! connection itself) as the sources report it. Process-wide, like the
//! metrics. Ready when every source is following or waiting for its
//! container to start, and at least one has said so.

use std::collections::BTreeMap;
use std::sync::{LazyLock, Mutex};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceState {
    /// Reading: following the container or the file.
    Following(String),
    /// The container exists but is not running; the bridge attaches when it starts.
    WaitingForStart(String),
    /// Not ready, with the reason a person can act on.
    Trouble(String),
}

static SOURCES: LazyLock<Mutex<BTreeMap<String, SourceState>>> = LazyLock::new(Default::default);

fn sources() -> std::sync::MutexGuard<'static, BTreeMap<String, SourceState>> {
    SOURCES.lock().unwrap_or_else(|p| p.into_inner())
}

/// The state of the source named `key` (`docker:open-webui`, `file:/x`, `docker`).
pub fn set(key: &str, state: SourceState) {
    sources().insert(key.to_string(), state);
}

/// The source named `key` has nothing to report any more.
pub fn clear(key: &str) {
    sources().remove(key);
}

/// `Ok(what is followed)` when ready, else `Err(why not)`.
pub fn readiness() -> Result<String, String> {
    let all = sources();
    if all.is_empty() {
        return Err("starting".into());
    }
    let trouble: Vec<&str> = all
        .values()
        .filter_map(|s| match s {
            SourceState::Trouble(why) => Some(why.as_str()),
            _ => None,
        })
        .collect();
    if !trouble.is_empty() {
        return Err(trouble.join("; "));
    }
    Ok(all
        .values()
        .map(|s| match s {
            SourceState::Following(w) | SourceState::WaitingForStart(w) => w.as_str(),
            SourceState::Trouble(_) => unreachable!("no trouble here"),
        })
        .collect::<Vec<_>>()
        .join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_followed_source_counts() {
        // Process-wide state: this test owns these keys.
        set("test:a", SourceState::Following("following a".into()));
        set("test:b", SourceState::Trouble("b is gone".into()));
        let why = readiness().unwrap_err();
        assert!(why.contains("b is gone"), "{why}");
        set(
            "test:b",
            SourceState::WaitingForStart("b is stopped".into()),
        );
        let ok = readiness().unwrap();
        assert!(
            ok.contains("following a") && ok.contains("b is stopped"),
            "{ok}"
        );
        clear("test:a");
        clear("test:b");
    }
}
