//! The per-sink delivery loop over the outbox: the oldest event first,
//! transient failures retried with backoff until `WEBHOOK_MAX_AGE`,
//! permanent ones made dead letters. Each sink has its own loop, so a slow
//! or dead receiver never delays another. It logs once per change of state
//! (failing / delivering again), never once per retry.
//!
//! Events are read from the outbox a batch at a time and handed out in
//! order; acks, retry times and dead letters go back to the outbox as
//! bookkeeping that rides along with its next commit.
//!
//! Retry schedule (spec §3): 1 s doubling to 10 min, half fixed and half
//! random, or exactly `Retry-After` when the receiver sends one. While a
//! failed receiver's next attempt is more than [`PROBE_EVERY`] away, the loop
//! asks the receiver every [`PROBE_EVERY`] (± a fifth) with a bodiless `HEAD`
//! whether it answers again (any answer but 408, 425, 429 or 5xx); when it
//! does, the waiting event is sent at once. So a receiver that comes back is
//! used within about 12 s, while one that stays down sees one light request
//! every 10 s. A 429 or `Retry-After` is never probed through.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use super::retry::{self, Delivery};
use super::Sink;
use crate::metrics::METRICS;
use crate::outbox::{now_ms, Change, Outbox, OutboxError, Queued};
use crate::shutdown::sleep_or_shutdown;

/// How often a receiver that failed is asked whether it answers again.
pub const PROBE_EVERY: Duration = Duration::from_secs(10);
/// Events read from the outbox at a time.
const BATCH: usize = 64;

/// What the loop last said about the sink, so each state is said once.
#[derive(Default)]
struct Said {
    /// Failed attempts since the last delivery (`Some` while failing).
    failing: Option<u32>,
    /// The last refusal (a deleted Discord webhook refuses every event).
    refusal: Option<String>,
    /// The outbox could not be read.
    unreadable: bool,
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
    let mut queue: VecDeque<(u64, Queued)> = VecDeque::new();
    // The last position handed out: later reads start after it, whether or
    // not its ack is on disk yet.
    let mut after = 0u64;
    let mut said = Said::default();
    let pace = sink.pace();
    let mut last_attempt: Option<Instant> = None;
    // Probing is for receivers that are down or failing, never for a 429.
    let mut may_probe = false;
    loop {
        if *shutdown.borrow() {
            return;
        }
        if queue.is_empty() {
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match outbox.read_after(&name, after, BATCH) {
                Ok(batch) => {
                    if std::mem::take(&mut said.unreadable) {
                        info!(sink = %name, "the outbox can be read again");
                    }
                    queue.extend(batch);
                }
                Err(e) => {
                    if !std::mem::replace(&mut said.unreadable, true) {
                        error!(sink = %name, error = %e, "cannot read the outbox; trying again every 5 s");
                    }
                    if sleep_or_shutdown(Duration::from_secs(5), &mut shutdown).await {
                        return;
                    }
                    continue;
                }
            }
            if queue.is_empty() {
                tokio::select! {
                    _ = notified => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
        }
        let Some((seq, q)) = queue.front_mut() else {
            continue;
        };
        let seq = *seq;
        if wait_for_retry(&sink, q.not_before_ms, may_probe, &mut shutdown).await {
            return;
        }
        if let (Some(pace), Some(last)) = (pace, last_attempt) {
            let due = last + pace;
            let now = Instant::now();
            if due > now && sleep_or_shutdown(due - now, &mut shutdown).await {
                return;
            }
        }
        let started = Instant::now();
        last_attempt = Some(started);
        let outcome = sink.deliver(&q.event).await;
        let label = match &outcome {
            Delivery::Delivered => "delivered",
            Delivery::RetryLater { .. } => "retry",
            Delivery::Reject { .. } => "rejected",
        };
        METRICS.delivery(&name, label, started.elapsed());
        let write = match outcome {
            Delivery::Delivered => {
                said.refusal = None;
                if let Some(n) = said.failing.take() {
                    info!(sink = %name, failed_attempts = n, "delivering again");
                }
                may_probe = false;
                Change::Ack {
                    sink: name.clone(),
                    seq,
                }
            }
            Delivery::Reject { reason } => {
                if said.refusal.as_deref() != Some(reason.as_str()) {
                    error!(sink = %name, event = %q.event.event, id = %q.event.id, %reason, "receiver refused the event; kept as a dead letter (retrying cannot help: check the receiver and its URL)");
                    said.refusal = Some(reason.clone());
                } else {
                    debug!(sink = %name, id = %q.event.id, "refused again for the same reason; kept as a dead letter");
                }
                bury(&name, seq, q.clone(), reason)
            }
            Delivery::RetryLater {
                after: hint,
                reason,
            } => {
                if now_ms() - q.enqueued_ms >= max_age.as_millis() as i64 {
                    error!(sink = %name, event = %q.event.event, id = %q.event.id, %reason, attempts = q.attempts + 1, "gave up after WEBHOOK_MAX_AGE; kept as a dead letter");
                    bury(&name, seq, q.clone(), reason)
                } else {
                    if said.failing.is_none() {
                        warn!(sink = %name, %reason, "delivery failing; events wait on disk and are retried with backoff");
                    }
                    *said.failing.get_or_insert(0) += 1;
                    may_probe = probing_helps(hint, &reason);
                    let delay = retry::backoff(q.attempts, hint);
                    q.attempts += 1;
                    q.not_before_ms = now_ms() + delay.as_millis() as i64;
                    q.last_error = Some(reason);
                    let write = Change::Reschedule {
                        sink: name.clone(),
                        seq,
                        queued: Box::new(q.clone()),
                    };
                    if note(&outbox, write, &name).await.is_err() {
                        return;
                    }
                    continue;
                }
            }
        };
        queue.pop_front();
        after = seq;
        if note(&outbox, write, &name).await.is_err() {
            return;
        }
    }
}

fn bury(sink: &str, seq: u64, queued: Queued, reason: String) -> Change {
    Change::Bury {
        sink: sink.to_string(),
        seq,
        queued: Box::new(queued),
        reason,
    }
}

/// Hands bookkeeping to the outbox; an error means it has stopped (shutdown).
async fn note(outbox: &Outbox, write: Change, sink: &str) -> Result<(), OutboxError> {
    outbox.note(write).await.inspect_err(|e| {
        debug!(sink, error = %e, "the outbox has stopped; the delivery is recorded at the next start")
    })
}

/// Waits until `not_before_ms`, or less when a probe finds the receiver back.
/// True when shutdown came first.
async fn wait_for_retry(
    sink: &Sink,
    not_before_ms: i64,
    may_probe: bool,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    loop {
        let left = not_before_ms - now_ms();
        if left <= 0 {
            return false;
        }
        let left = Duration::from_millis(left as u64);
        let next_probe = jittered(PROBE_EVERY);
        if !may_probe || left <= next_probe {
            return sleep_or_shutdown(left, shutdown).await;
        }
        if sleep_or_shutdown(next_probe, shutdown).await {
            return true;
        }
        if sink.probe().await {
            debug!(
                sink = sink.name(),
                "the receiver answers again; retrying now"
            );
            return false;
        }
    }
}

/// A receiver that said when to come back (`Retry-After`), or that asks to
/// slow down (429), is not probed: that would be more requests, not fewer.
fn probing_helps(retry_after: Option<Duration>, reason: &str) -> bool {
    retry_after.is_none() && !reason.contains("429")
}

/// `d` ± a fifth, so many bridges do not probe in step.
fn jittered(d: Duration) -> Duration {
    let fifth = d / 5;
    d - fifth + rand::thread_rng().gen_range(Duration::ZERO..=fifth * 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_come_every_eight_to_twelve_seconds() {
        for _ in 0..1000 {
            let d = jittered(PROBE_EVERY);
            assert!(
                d >= Duration::from_secs(8) && d <= Duration::from_secs(12),
                "{d:?}"
            );
        }
    }
}
