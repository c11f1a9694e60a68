//! The durable outbox: the only state that must survive a crash.
//!
//! One embedded redb database in `BRIDGE_STATE_DIR` (`store`) holds, per
//! sink, the queue of events still to deliver (in order), the dead letters,
//! and the source checkpoints. Events and the checkpoint that covers their
//! record are written in one transaction, so a crash at any point either
//! keeps both or neither: nothing is lost, and a record read again yields the
//! same event ids (and is not queued twice).
//!
//! All writes go through one writer thread, which groups them: events that
//! arrive within [`GROUP_WINDOW`] share one durable commit (one fsync), and
//! bookkeeping that may wait rides along with the next commit: a sink's
//! acks, retry times and dead letters within [`ACK_WINDOW`], a checkpoint
//! that moved without events or the `wait_for` families within
//! [`LAZY_WINDOW`]. A sink delivers an event only once it is on disk. An ack
//! not yet on disk when the bridge is killed means that event is delivered
//! again after the restart, with the same id: at-least-once, as spec §3
//! promises.
//!
//! When a commit fails (a full disk), the writer keeps what it was given,
//! says so once, retries with backoff and reopens the database (redb refuses
//! further writes after an I/O error) until it works; meanwhile its queue
//! fills and the sources stop reading, so nothing that was not stored is
//! acknowledged. A caller waiting for its commit (the inbound endpoint) gets
//! the error at once instead.

mod store;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, Notify, Semaphore};
use tracing::{error, info};

pub use store::Change;

use self::store::Store;
use crate::event::Event;
use crate::record::Cursor;

/// Events that arrive within this long of the first share one commit.
pub const GROUP_WINDOW: Duration = Duration::from_millis(20);
/// Acks, retry times and dead letters wait at most this long for a commit
/// to join (while events flow, they always find one).
pub const ACK_WINDOW: Duration = Duration::from_millis(100);
/// A checkpoint without events, or `wait_for` families, wait at most this long.
pub const LAZY_WINDOW: Duration = Duration::from_secs(1);
/// Writes waiting for the writer, at most; then writers wait (backpressure).
/// Also the most writes one transaction holds.
const QUEUE_CAPACITY: usize = 1024;
const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, thiserror::Error)]
pub enum OutboxError {
    #[error("cannot use the state directory {dir}: {reason}; set BRIDGE_STATE_DIR to a writable folder (in Docker, mount a volume there)")]
    Dir { dir: String, reason: String },
    #[error("the state directory {dir} is in use by another owui-bridge; run one bridge per state directory")]
    Locked { dir: String },
    #[error("outbox store error: {0}")]
    Store(String),
    #[error("the outbox is not available right now (it is being reopened after a write error)")]
    Unavailable,
    #[error("the outbox has stopped")]
    Closed,
}

macro_rules! store_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for OutboxError {
            fn from(e: $t) -> Self { OutboxError::Store(e.to_string()) }
        }
    )*};
}
store_errors!(
    redb::Error,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    serde_json::Error
);

/// An event waiting for one sink, with its delivery history.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Queued {
    pub event: Event,
    /// When it entered the outbox (ms since the epoch); `WEBHOOK_MAX_AGE` counts from here.
    pub enqueued_ms: i64,
    pub attempts: u32,
    /// Do not try before this time (ms since the epoch).
    pub not_before_ms: i64,
    pub last_error: Option<String>,
}

/// An event a sink gave up on, kept for inspection and counting.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeadLetter {
    pub queued: Queued,
    pub reason: String,
    pub died_ms: i64,
}

/// Creates `dir` if needed and proves a file can be written there (`check`, `/readyz`).
pub fn probe_writable(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(format!(".owui-bridge-probe-{}", std::process::id()));
    std::fs::write(&probe, b"ok")?;
    std::fs::remove_file(probe)
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Cheap to clone; all clones share the database, the writer and the wake-ups.
#[derive(Clone)]
pub struct Outbox {
    shared: Arc<Shared>,
    /// Dropped with the last clone: then the writer commits what is left and stops.
    _open: Arc<Closer>,
}

/// Tells the writer, when the last [`Outbox`] goes, that nothing more comes.
struct Closer(Arc<Shared>);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0.queue().closed = true;
        self.0.ready.notify_one();
    }
}

/// Writes handed to the writer and not taken yet.
#[derive(Default)]
struct Queue {
    requests: Vec<Request>,
    /// When the writer should commit them: the soonest any of them asks for.
    due: Option<Instant>,
    closed: bool,
}

struct Shared {
    /// `None` while the writer reopens the database after a write error.
    store: RwLock<Option<Arc<Store>>>,
    dir: PathBuf,
    wake: Mutex<HashMap<String, Arc<Notify>>>,
    /// Per sink, events delivered or buried whose removal is not on disk yet:
    /// not pending any more for the metrics and for draining.
    leaving: Mutex<HashMap<String, u64>>,
    pending: Mutex<Queue>,
    /// The writer waits here for writes or for their commit to be due. It is
    /// woken only when a write makes the commit due sooner: writes that
    /// arrive within the window of the first cost no wake-up.
    ready: Condvar,
    /// Room for [`QUEUE_CAPACITY`] writes; the writer gives it back as it
    /// commits them, so a writer that cannot write (a full disk) stops the
    /// sources instead of filling memory.
    room: Semaphore,
}

/// One write for the writer; `write: None` only asks for a commit (a flush).
struct Request {
    write: Option<Change>,
    /// How long it may wait for others to share its commit.
    within: Duration,
    done: Option<oneshot::Sender<Result<(), OutboxError>>>,
}

impl Outbox {
    /// Opens (or creates) the outbox in `dir` and starts its writer thread.
    pub fn open(dir: &Path) -> Result<Outbox, OutboxError> {
        let store = Store::open(dir)?;
        let shared = Arc::new(Shared {
            store: RwLock::new(Some(Arc::new(store))),
            dir: dir.to_path_buf(),
            wake: Mutex::default(),
            leaving: Mutex::default(),
            pending: Mutex::default(),
            ready: Condvar::new(),
            room: Semaphore::new(QUEUE_CAPACITY),
        });
        let writer = shared.clone();
        std::thread::Builder::new()
            .name("outbox-writer".into())
            .spawn(move || write_loop(&writer))
            .map_err(|e| OutboxError::Store(format!("cannot start the outbox writer: {e}")))?;
        Ok(Outbox {
            _open: Arc::new(Closer(shared.clone())),
            shared,
        })
    }

    fn store(&self) -> Result<Arc<Store>, OutboxError> {
        self.shared
            .store
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(OutboxError::Unavailable)
    }

    /// The wake-up a sink waits on for new events.
    pub fn waker(&self, sink: &str) -> Arc<Notify> {
        self.shared.waker(sink)
    }

    /// Hands one write to the writer, waiting for room when it is behind.
    async fn send(&self, request: Request) -> Result<(), OutboxError> {
        let permit = self
            .shared
            .room
            .acquire()
            .await
            .map_err(|_| OutboxError::Closed)?;
        // Given back by the writer once the write is committed (or answered).
        permit.forget();
        let due = Instant::now() + request.within;
        let mut q = self.shared.queue();
        let sooner = q.due.map_or(true, |d| due < d);
        if sooner {
            q.due = Some(due);
        }
        q.requests.push(request);
        drop(q);
        if sooner {
            self.shared.ready.notify_one();
        }
        Ok(())
    }

    /// Queues `events` (each for the sinks listed) with the source position
    /// they cover, to be committed together within [`GROUP_WINDOW`]. Without
    /// events, the position alone waits up to [`LAZY_WINDOW`].
    pub async fn submit(
        &self,
        events: Vec<(Event, Vec<String>)>,
        checkpoint: Option<(String, Cursor)>,
    ) -> Result<(), OutboxError> {
        let within = if events.is_empty() {
            LAZY_WINDOW
        } else {
            GROUP_WINDOW
        };
        self.send(Request {
            write: Some(Change::Events { events, checkpoint }),
            within,
            done: None,
        })
        .await
    }

    /// Stores `events` and returns once they are on disk (the inbound
    /// endpoint answers 202 only then).
    pub async fn store_now(&self, events: Vec<(Event, Vec<String>)>) -> Result<(), OutboxError> {
        let (done, wait) = oneshot::channel();
        self.send(Request {
            write: Some(Change::Events {
                events,
                checkpoint: None,
            }),
            within: GROUP_WINDOW,
            done: Some(done),
        })
        .await?;
        wait.await.map_err(|_| OutboxError::Closed)?
    }

    /// Bookkeeping that may wait for the next commit: acks, retry times,
    /// dead letters, `wait_for` families.
    pub async fn note(&self, write: Change) -> Result<(), OutboxError> {
        let within = match write {
            Change::Families { .. } => LAZY_WINDOW,
            _ => ACK_WINDOW,
        };
        if let Change::Ack { sink, .. } | Change::Bury { sink, .. } = &write {
            self.shared.leaving(sink, 1);
        }
        self.send(Request {
            write: Some(write),
            within,
            done: None,
        })
        .await
    }

    /// Commits everything given so far and waits for it (shutdown).
    pub async fn flush(&self) -> Result<(), OutboxError> {
        let (done, wait) = oneshot::channel();
        self.send(Request {
            write: None,
            within: Duration::ZERO,
            done: Some(done),
        })
        .await?;
        wait.await.map_err(|_| OutboxError::Closed)?
    }

    /// Up to `limit` events waiting for `sink` after position `after`, oldest first.
    pub fn read_after(
        &self,
        sink: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Queued)>, OutboxError> {
        self.store()?.read_after(sink, after, limit)
    }

    /// Whether an event with this id was queued in the last week (its own
    /// deliveries coming back to the inbound endpoint are recognised by it).
    pub fn seen(&self, id: &str) -> Result<bool, OutboxError> {
        self.store()?.seen(id)
    }

    /// The correlation key families `source` was waiting for when last stored.
    pub fn families(&self, source: &str) -> Result<Vec<String>, OutboxError> {
        self.store()?.families(source)
    }

    pub fn checkpoint(&self, key: &str) -> Result<Option<Cursor>, OutboxError> {
        self.store()?.checkpoint(key)
    }

    /// Events waiting, per sink (every sink that has any).
    pub fn pending_by_sink(&self) -> Result<HashMap<String, u64>, OutboxError> {
        let mut pending = self.store()?.pending_by_sink()?;
        let leaving = self
            .shared
            .leaving
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for (sink, n) in pending.iter_mut() {
            *n = n.saturating_sub(leaving.get(sink).copied().unwrap_or(0));
        }
        pending.retain(|_, n| *n > 0);
        Ok(pending)
    }

    pub fn dead_by_sink(&self) -> Result<HashMap<String, u64>, OutboxError> {
        self.store()?.dead_by_sink()
    }

    pub fn dead_letters(&self, sink: &str) -> Result<Vec<DeadLetter>, OutboxError> {
        self.store()?.dead_letters(sink)
    }
}

impl Shared {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `n` more (or, negative, fewer) events of `sink` leave the queue.
    fn leaving(&self, sink: &str, n: i64) {
        let mut map = self.leaving.lock().unwrap_or_else(|p| p.into_inner());
        let v = map.entry(sink.to_string()).or_default();
        *v = v.saturating_add_signed(n);
    }

    fn waker(&self, sink: &str) -> Arc<Notify> {
        let mut map = self.wake.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(sink.to_string()).or_default().clone()
    }

    /// After a write error redb refuses every later write: drop the database
    /// (once no reader holds it) and open it again, which repairs the file.
    fn reopen(&self) -> Result<(), OutboxError> {
        let old = self.store.write().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut old) = old {
            // Readers hold it only for one read; wait for them to let go.
            for _ in 0..500 {
                match Arc::try_unwrap(old) {
                    Ok(store) => {
                        drop(store);
                        break;
                    }
                    Err(still) => {
                        old = still;
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
            }
        }
        let store = Store::open(&self.dir)?;
        *self.store.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(store));
        Ok(())
    }
}

/// The writer: takes the writes when their commit is due, commits them in
/// one transaction, wakes the sinks that got events and answers those who
/// wait; on a failure keeps the writes, says so once and tries again.
fn write_loop(shared: &Shared) {
    let mut batch: Vec<Request> = Vec::new();
    let mut failing = false;
    let mut backoff = Duration::from_secs(1);
    loop {
        if !take_due(shared, &mut batch) {
            return;
        }
        let store = shared
            .store
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let result = match store {
            Some(store) => store.apply(batch.iter().filter_map(|r| r.write.as_ref())),
            None => Err(OutboxError::Unavailable),
        };
        match result {
            Ok(woken) => {
                if std::mem::take(&mut failing) {
                    info!(dir = %shared.dir.display(), "writing to the state directory again");
                }
                backoff = Duration::from_secs(1);
                shared.room.add_permits(batch.len());
                for r in batch.drain(..) {
                    if let Some(Change::Ack { sink, .. } | Change::Bury { sink, .. }) = &r.write {
                        shared.leaving(sink, -1);
                    }
                    if let Some(done) = r.done {
                        let _ = done.send(Ok(()));
                    }
                }
                wake(shared, woken);
            }
            Err(e) => {
                if !failing {
                    error!(dir = %shared.dir.display(), error = %e, "cannot write to the state directory (is the disk full?); events wait in memory, reading pauses, and writing is retried until it works");
                    failing = true;
                }
                // Who waits is told now (the inbound endpoint answers 503 and
                // its sender tries again); the rest is kept and retried.
                let before = batch.len();
                batch.retain_mut(|r| match r.done.take() {
                    Some(done) => {
                        let _ = done.send(Err(e.clone()));
                        false
                    }
                    None => true,
                });
                shared.room.add_permits(before - batch.len());
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
                if let Err(e) = shared.reopen() {
                    tracing::debug!(error = %e, "the outbox cannot be reopened yet");
                }
            }
        }
    }
}

/// Waits until writes are due (or, when `batch` holds writes to retry, takes
/// whatever else came) and moves them into `batch`. False when every
/// [`Outbox`] is gone and nothing is left to write.
fn take_due(shared: &Shared, batch: &mut Vec<Request>) -> bool {
    let mut q = shared.queue();
    loop {
        let now = Instant::now();
        let due = if q.closed || !batch.is_empty() {
            now
        } else if let Some(d) = q.due {
            d
        } else {
            q = shared.ready.wait(q).unwrap_or_else(|p| p.into_inner());
            continue;
        };
        if due <= now {
            break;
        }
        q = shared
            .ready
            .wait_timeout(q, due - now)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
    q.due = None;
    batch.append(&mut q.requests);
    !(batch.is_empty() && q.closed)
}

fn wake(shared: &Shared, sinks: BTreeSet<String>) {
    for s in sinks {
        shared.waker(&s).notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Severity;

    fn ev(id: &str) -> Event {
        Event {
            id: id.into(),
            event: "a.b".into(),
            rule: "r".into(),
            severity: Severity::Info,
            message: None,
            body: format!("{{\"id\":\"{id}\"}}"),
        }
    }

    fn ids(items: &[(u64, Queued)]) -> Vec<&str> {
        items.iter().map(|(_, q)| q.event.id.as_str()).collect()
    }

    #[tokio::test]
    async fn survives_reopen_in_order_per_sink() {
        let dir = tempfile::tempdir().unwrap();
        {
            let ob = Outbox::open(dir.path()).unwrap();
            let cp = Cursor::File { ino: 7, offset: 42 };
            ob.submit(
                vec![
                    (ev("e1"), vec!["webhook".into(), "other".into()]),
                    (ev("e2"), vec!["webhook".into()]),
                ],
                Some(("file:/x".into(), cp)),
            )
            .await
            .unwrap();
            ob.flush().await.unwrap();
        }
        // The writer thread lets go of the file once every handle is gone.
        let ob = loop {
            match Outbox::open(dir.path()) {
                Ok(ob) => break ob,
                Err(OutboxError::Locked { .. }) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(
            ob.checkpoint("file:/x").unwrap(),
            Some(Cursor::File { ino: 7, offset: 42 })
        );
        let queue = ob.read_after("webhook", 0, 10).unwrap();
        assert_eq!(ids(&queue), ["e1", "e2"]);
        let (s1, _) = &queue[0];
        let (s2, q2) = queue[1].clone();
        ob.note(Change::Ack {
            sink: "webhook".into(),
            seq: *s1,
        })
        .await
        .unwrap();
        ob.note(Change::Bury {
            sink: "webhook".into(),
            seq: s2,
            queued: Box::new(q2),
            reason: "410 Gone".into(),
        })
        .await
        .unwrap();
        ob.flush().await.unwrap();
        assert!(ob.read_after("webhook", 0, 10).unwrap().is_empty());
        assert_eq!(ids(&ob.read_after("other", 0, 10).unwrap()), ["e1"]);
        assert_eq!(ob.dead_by_sink().unwrap().get("webhook"), Some(&1));
        assert_eq!(ob.dead_letters("webhook").unwrap()[0].reason, "410 Gone");
        assert_eq!(ob.pending_by_sink().unwrap().get("other"), Some(&1));
        assert!(ob.seen("e2").unwrap() && !ob.seen("e3").unwrap());
    }

    #[tokio::test]
    async fn an_event_read_again_is_not_queued_twice() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(dir.path()).unwrap();
        ob.store_now(vec![(ev("e1"), vec!["webhook".into()])])
            .await
            .unwrap();
        let (seq, _) = ob.read_after("webhook", 0, 1).unwrap()[0].clone();
        ob.note(Change::Ack {
            sink: "webhook".into(),
            seq,
        })
        .await
        .unwrap();
        ob.store_now(vec![
            (ev("e1"), vec!["webhook".into()]),
            (ev("e2"), vec!["webhook".into()]),
        ])
        .await
        .unwrap();
        assert_eq!(ids(&ob.read_after("webhook", 0, 10).unwrap()), ["e2"]);
    }

    #[tokio::test]
    async fn events_wake_their_sink_once_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(dir.path()).unwrap();
        let wake = ob.waker("webhook");
        let woken = wake.notified();
        ob.submit(vec![(ev("e1"), vec!["webhook".into()])], None)
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), woken)
            .await
            .expect("woken");
        assert_eq!(ids(&ob.read_after("webhook", 0, 10).unwrap()), ["e1"]);
    }

    #[test]
    fn second_open_of_the_same_dir_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let _a = Outbox::open(dir.path()).unwrap();
        let err = Outbox::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("in use by another owui-bridge"), "{err}");
    }
}
