//! What the bridge is doing right now, for `GET /readyz`: the source's state
//! (following, waiting for the container, Docker unreachable) as the source
//! reports it. Process-wide, like the metrics.

use std::sync::{LazyLock, Mutex};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceState {
    Starting,
    /// Reading: following the container or the file.
    Following(String),
    /// The container exists but is not running; the bridge attaches when it starts.
    WaitingForStart(String),
    /// Not ready, with the reason a person can act on.
    Trouble(String),
}

pub static SOURCE: LazyLock<Mutex<SourceState>> =
    LazyLock::new(|| Mutex::new(SourceState::Starting));

pub fn set(state: SourceState) {
    *SOURCE.lock().unwrap_or_else(|p| p.into_inner()) = state;
}

pub fn get() -> SourceState {
    SOURCE.lock().unwrap_or_else(|p| p.into_inner()).clone()
}
