//! The durable outbox: the only state that must survive a crash.
//!
//! One embedded redb database in `BRIDGE_STATE_DIR` holds, per sink, the queue
//! of events still to deliver (in order), the dead letters, and the source
//! checkpoints. Events and the checkpoint that covers their record are written
//! in one transaction, so a crash at any point either keeps both or neither:
//! nothing is lost, and a record read again yields the same event ids.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::event::Event;
use crate::record::Cursor;

const QUEUE: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("queue");
const DEAD: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("dead");
const CHECKPOINTS: TableDefinition<&str, &[u8]> = TableDefinition::new("checkpoints");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Ids of events already queued (id → when), so a record read again after a
/// crash does not queue its event twice. Kept for [`RECENT_FOR_MS`].
const RECENT: TableDefinition<&str, i64> = TableDefinition::new("recent");
/// Per source: the `wait_for` key families seen in its log (JSON list), so a
/// restart keeps waiting for the audit records it knows are there.
const FAMILIES: TableDefinition<&str, &[u8]> = TableDefinition::new("families");
const RECENT_FOR_MS: i64 = 7 * 24 * 3600 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("cannot use the state directory {dir}: {reason}; set BRIDGE_STATE_DIR to a writable folder (in Docker, mount a volume there)")]
    Dir { dir: String, reason: String },
    #[error("the state directory {dir} is in use by another owui-bridge; run one bridge per state directory")]
    Locked { dir: String },
    #[error("outbox store error: {0}")]
    Store(String),
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

/// Cheap to clone; all clones share the database and the wake-ups.
#[derive(Clone)]
pub struct Outbox {
    db: Arc<Database>,
    wake: Arc<std::sync::Mutex<HashMap<String, Arc<Notify>>>>,
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

impl Outbox {
    pub fn open(dir: &Path) -> Result<Outbox, OutboxError> {
        let shown = dir.display().to_string();
        std::fs::create_dir_all(dir).map_err(|e| OutboxError::Dir {
            dir: shown.clone(),
            reason: e.to_string(),
        })?;
        let db = Database::create(dir.join("outbox.redb")).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => OutboxError::Locked { dir: shown.clone() },
            redb::DatabaseError::Storage(redb::StorageError::Io(io)) => OutboxError::Dir {
                dir: shown.clone(),
                reason: io.to_string(),
            },
            other => OutboxError::Store(other.to_string()),
        })?;
        let txn = db.begin_write()?;
        txn.open_table(QUEUE)?;
        txn.open_table(DEAD)?;
        txn.open_table(CHECKPOINTS)?;
        txn.open_table(META)?;
        txn.open_table(RECENT)?;
        txn.open_table(FAMILIES)?;
        txn.commit()?;
        prune_recent(&db)?;
        Ok(Outbox {
            db: Arc::new(db),
            wake: Default::default(),
        })
    }

    /// The wake-up a sink waits on for new events.
    pub fn waker(&self, sink: &str) -> Arc<Notify> {
        let mut map = self.wake.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(sink.to_string()).or_default().clone()
    }

    /// Stores `events` (each for the listed sinks) and the source checkpoint in one
    /// durable transaction, then wakes the sinks concerned.
    pub fn commit(
        &self,
        events: &[(Event, Vec<String>)],
        checkpoint: Option<(&str, &Cursor)>,
    ) -> Result<(), OutboxError> {
        let txn = self.db.begin_write()?;
        let now = now_ms();
        {
            let mut meta = txn.open_table(META)?;
            let mut seq = meta.get("next_seq")?.map(|v| v.value()).unwrap_or(1);
            let mut queue = txn.open_table(QUEUE)?;
            let mut recent = txn.open_table(RECENT)?;
            for (event, sinks) in events {
                if recent.get(event.id.as_str())?.is_some() {
                    continue;
                }
                recent.insert(event.id.as_str(), now)?;
                for sink in sinks {
                    let q = Queued {
                        event: event.clone(),
                        enqueued_ms: now,
                        attempts: 0,
                        not_before_ms: 0,
                        last_error: None,
                    };
                    queue.insert((sink.as_str(), seq), serde_json::to_vec(&q)?.as_slice())?;
                    seq += 1;
                }
            }
            meta.insert("next_seq", seq)?;
            if let Some((key, cursor)) = checkpoint {
                let mut cp = txn.open_table(CHECKPOINTS)?;
                cp.insert(key, serde_json::to_vec(cursor)?.as_slice())?;
            }
        }
        txn.commit()?;
        for (_, sinks) in events {
            for s in sinks {
                self.waker(s).notify_one();
            }
        }
        Ok(())
    }

    /// Whether an event with this id was queued in the last week (its own
    /// deliveries coming back to the inbound endpoint are recognised by it).
    pub fn seen(&self, id: &str) -> Result<bool, OutboxError> {
        let txn = self.db.begin_read()?;
        let recent = txn.open_table(RECENT)?;
        let found = recent.get(id)?.is_some();
        Ok(found)
    }

    /// The oldest event waiting for `sink`.
    pub fn head(&self, sink: &str) -> Result<Option<(u64, Queued)>, OutboxError> {
        let txn = self.db.begin_read()?;
        let queue = txn.open_table(QUEUE)?;
        let mut range = queue.range((sink, 0)..=(sink, u64::MAX))?;
        match range.next() {
            None => Ok(None),
            Some(entry) => {
                let (k, v) = entry?;
                Ok(Some((k.value().1, serde_json::from_slice(v.value())?)))
            }
        }
    }

    /// Delivered: forget it.
    pub fn ack(&self, sink: &str, seq: u64) -> Result<(), OutboxError> {
        let txn = self.db.begin_write()?;
        txn.open_table(QUEUE)?.remove((sink, seq))?;
        txn.commit()?;
        Ok(())
    }

    /// Failed for now: store the new attempt count and when to try again.
    pub fn reschedule(&self, sink: &str, seq: u64, q: &Queued) -> Result<(), OutboxError> {
        let txn = self.db.begin_write()?;
        txn.open_table(QUEUE)?
            .insert((sink, seq), serde_json::to_vec(q)?.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// Given up: move it to the dead letters.
    pub fn bury(&self, sink: &str, seq: u64, q: Queued, reason: &str) -> Result<(), OutboxError> {
        let txn = self.db.begin_write()?;
        {
            txn.open_table(QUEUE)?.remove((sink, seq))?;
            let dead = DeadLetter {
                queued: q,
                reason: reason.to_string(),
                died_ms: now_ms(),
            };
            txn.open_table(DEAD)?
                .insert((sink, seq), serde_json::to_vec(&dead)?.as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// The correlation key families `source` was waiting for when last stored.
    pub fn families(&self, source: &str) -> Result<Vec<String>, OutboxError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(FAMILIES)?;
        let v = t.get(source)?;
        Ok(match v {
            Some(v) => serde_json::from_slice(v.value())?,
            None => Vec::new(),
        })
    }

    pub fn set_families(&self, source: &str, families: &[String]) -> Result<(), OutboxError> {
        let txn = self.db.begin_write()?;
        txn.open_table(FAMILIES)?
            .insert(source, serde_json::to_vec(families)?.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    pub fn checkpoint(&self, key: &str) -> Result<Option<Cursor>, OutboxError> {
        let txn = self.db.begin_read()?;
        let cp = txn.open_table(CHECKPOINTS)?;
        let v = cp.get(key)?;
        Ok(match v {
            Some(v) => Some(serde_json::from_slice(v.value())?),
            None => None,
        })
    }

    /// Events waiting, per sink (every sink that has any).
    pub fn pending_by_sink(&self) -> Result<HashMap<String, u64>, OutboxError> {
        self.count(QUEUE)
    }

    pub fn dead_by_sink(&self) -> Result<HashMap<String, u64>, OutboxError> {
        self.count(DEAD)
    }

    pub fn dead_letters(&self, sink: &str) -> Result<Vec<DeadLetter>, OutboxError> {
        let txn = self.db.begin_read()?;
        let dead = txn.open_table(DEAD)?;
        let mut out = Vec::new();
        for entry in dead.range((sink, 0)..=(sink, u64::MAX))? {
            let (_, v) = entry?;
            out.push(serde_json::from_slice(v.value())?);
        }
        Ok(out)
    }

    fn count(
        &self,
        table: TableDefinition<(&str, u64), &[u8]>,
    ) -> Result<HashMap<String, u64>, OutboxError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(table)?;
        let mut out: HashMap<String, u64> = HashMap::new();
        if t.len()? == 0 {
            return Ok(out);
        }
        for entry in t.iter()? {
            let (k, _) = entry?;
            *out.entry(k.value().0.to_string()).or_default() += 1;
        }
        Ok(out)
    }
}

/// Forgets ids older than [`RECENT_FOR_MS`].
fn prune_recent(db: &Database) -> Result<(), OutboxError> {
    let cutoff = now_ms() - RECENT_FOR_MS;
    let txn = db.begin_write()?;
    {
        let mut recent = txn.open_table(RECENT)?;
        recent.retain(|_, at| at >= cutoff)?;
    }
    txn.commit()?;
    Ok(())
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

    #[test]
    fn survives_reopen_in_order_per_sink() {
        let dir = tempfile::tempdir().unwrap();
        {
            let ob = Outbox::open(dir.path()).unwrap();
            let cp = Cursor::File { ino: 7, offset: 42 };
            ob.commit(
                &[
                    (ev("e1"), vec!["webhook".into(), "other".into()]),
                    (ev("e2"), vec!["webhook".into()]),
                ],
                Some(("file:/x", &cp)),
            )
            .unwrap();
        }
        let ob = Outbox::open(dir.path()).unwrap();
        assert_eq!(
            ob.checkpoint("file:/x").unwrap(),
            Some(Cursor::File { ino: 7, offset: 42 })
        );
        let (s1, q1) = ob.head("webhook").unwrap().unwrap();
        assert_eq!(q1.event.id, "e1");
        ob.ack("webhook", s1).unwrap();
        let (s2, q2) = ob.head("webhook").unwrap().unwrap();
        assert_eq!(q2.event.id, "e2");
        ob.bury("webhook", s2, q2, "410 Gone").unwrap();
        assert_eq!(ob.head("webhook").unwrap(), None);
        assert_eq!(ob.head("other").unwrap().unwrap().1.event.id, "e1");
        assert_eq!(ob.dead_by_sink().unwrap().get("webhook"), Some(&1));
        assert_eq!(ob.dead_letters("webhook").unwrap()[0].reason, "410 Gone");
        assert_eq!(ob.pending_by_sink().unwrap().get("other"), Some(&1));
    }

    #[test]
    fn an_event_read_again_is_not_queued_twice() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(dir.path()).unwrap();
        ob.commit(&[(ev("e1"), vec!["webhook".into()])], None)
            .unwrap();
        let (seq, _) = ob.head("webhook").unwrap().unwrap();
        ob.ack("webhook", seq).unwrap();
        ob.commit(
            &[
                (ev("e1"), vec!["webhook".into()]),
                (ev("e2"), vec!["webhook".into()]),
            ],
            None,
        )
        .unwrap();
        assert_eq!(ob.head("webhook").unwrap().unwrap().1.event.id, "e2");
        assert_eq!(ob.pending_by_sink().unwrap().get("webhook"), Some(&1));
    }

    #[test]
    fn second_open_of_the_same_dir_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let _a = Outbox::open(dir.path()).unwrap();
        let err = Outbox::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("in use by another owui-bridge"), "{err}");
    }
}
