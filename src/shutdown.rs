//! The one shutdown signal every task listens to: a `watch` channel that turns
//! true on SIGTERM or Ctrl-C, and the sleep that every wait races against it.

use std::time::Duration;

use tokio::sync::watch;

/// Sleeps for `d`; returns true when shutdown came first (or had already begun).
pub async fn sleep_or_shutdown(d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    if *shutdown.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        r = shutdown.changed() => r.is_err() || *shutdown.borrow(),
    }
}
