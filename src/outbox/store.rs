//! The outbox on disk: one redb database (`outbox.redb` in the state
//! directory) with the per-sink queues, the dead letters, the source
//! checkpoints, the ids of recently queued events and the `wait_for`
//! families. Synchronous; [`Store::apply`] writes any number of changes in
//! one durable transaction. Who calls it when is `Outbox`'s business.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::{now_ms, DeadLetter, OutboxError, Queued};
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

/// redb's page cache: the queues are read front to back once, so a small
/// cache does (the default grows to a gigabyte); every byte of it is
/// resident memory once the outbox has been busy.
const CACHE_BYTES: usize = 512 << 10;

/// One change to the outbox.
#[derive(Debug)]
pub enum Change {
    /// Events, each for the sinks listed, and the position of the source they
    /// cover: stored together or not at all.
    Events {
        events: Vec<(Event, Vec<String>)>,
        checkpoint: Option<(String, Cursor)>,
    },
    /// Delivered: forget it.
    Ack { sink: String, seq: u64 },
    /// Failed for now: its new attempt count and when to try again.
    Reschedule {
        sink: String,
        seq: u64,
        queued: Box<Queued>,
    },
    /// Given up: a dead letter now.
    Bury {
        sink: String,
        seq: u64,
        queued: Box<Queued>,
        reason: String,
    },
    /// The `wait_for` families of a source.
    Families {
        source: String,
        families: Vec<String>,
    },
}

pub struct Store {
    db: Database,
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store, OutboxError> {
        let shown = dir.display().to_string();
        std::fs::create_dir_all(dir).map_err(|e| OutboxError::Dir {
            dir: shown.clone(),
            reason: e.to_string(),
        })?;
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(dir.join("outbox.redb"))
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => {
                    OutboxError::Locked { dir: shown.clone() }
                }
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
        let store = Store { db };
        store.prune_recent()?;
        Ok(store)
    }

    /// Writes every change in one durable transaction; returns the sinks
    /// that got new events.
    pub fn apply<'a>(
        &self,
        writes: impl IntoIterator<Item = &'a Change>,
    ) -> Result<BTreeSet<String>, OutboxError> {
        let txn = self.db.begin_write()?;
        let now = now_ms();
        let mut woken = BTreeSet::new();
        {
            let mut meta = txn.open_table(META)?;
            let mut seq = meta.get("next_seq")?.map(|v| v.value()).unwrap_or(1);
            let first_seq = seq;
            let mut queue = txn.open_table(QUEUE)?;
            let mut recent = txn.open_table(RECENT)?;
            let mut dead = txn.open_table(DEAD)?;
            let mut checkpoints = txn.open_table(CHECKPOINTS)?;
            let mut families_t = txn.open_table(FAMILIES)?;
            for w in writes {
                match w {
                    Change::Events { events, checkpoint } => {
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
                                queue.insert(
                                    (sink.as_str(), seq),
                                    serde_json::to_vec(&q)?.as_slice(),
                                )?;
                                woken.insert(sink.clone());
                                seq += 1;
                            }
                        }
                        if let Some((key, cursor)) = checkpoint {
                            checkpoints
                                .insert(key.as_str(), serde_json::to_vec(cursor)?.as_slice())?;
                        }
                    }
                    Change::Ack { sink, seq } => {
                        queue.remove((sink.as_str(), *seq))?;
                    }
                    Change::Reschedule { sink, seq, queued } => {
                        // Only while it is still queued (an ack may have come first).
                        if queue.get((sink.as_str(), *seq))?.is_some() {
                            queue.insert(
                                (sink.as_str(), *seq),
                                serde_json::to_vec(queued)?.as_slice(),
                            )?;
                        }
                    }
                    Change::Bury {
                        sink,
                        seq,
                        queued,
                        reason,
                    } => {
                        queue.remove((sink.as_str(), *seq))?;
                        let letter = DeadLetter {
                            queued: (**queued).clone(),
                            reason: reason.clone(),
                            died_ms: now,
                        };
                        dead.insert(
                            (sink.as_str(), *seq),
                            serde_json::to_vec(&letter)?.as_slice(),
                        )?;
                    }
                    Change::Families { source, families } => {
                        families_t
                            .insert(source.as_str(), serde_json::to_vec(families)?.as_slice())?;
                    }
                }
            }
            if seq != first_seq {
                meta.insert("next_seq", seq)?;
            }
        }
        txn.commit()?;
        Ok(woken)
    }

    /// Up to `limit` events waiting for `sink` after `after`, oldest first.
    pub fn read_after(
        &self,
        sink: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Queued)>, OutboxError> {
        let txn = self.db.begin_read()?;
        let queue = txn.open_table(QUEUE)?;
        let mut out = Vec::new();
        for entry in queue.range((sink, after.saturating_add(1))..=(sink, u64::MAX))? {
            let (k, v) = entry?;
            out.push((k.value().1, serde_json::from_slice(v.value())?));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    pub fn seen(&self, id: &str) -> Result<bool, OutboxError> {
        let txn = self.db.begin_read()?;
        let recent = txn.open_table(RECENT)?;
        let found = recent.get(id)?.is_some();
        Ok(found)
    }

    pub fn families(&self, source: &str) -> Result<Vec<String>, OutboxError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(FAMILIES)?;
        let v = t.get(source)?;
        Ok(match v {
            Some(v) => serde_json::from_slice(v.value())?,
            None => Vec::new(),
        })
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

    /// Forgets ids older than [`RECENT_FOR_MS`].
    fn prune_recent(&self) -> Result<(), OutboxError> {
        let cutoff = now_ms() - RECENT_FOR_MS;
        let txn = self.db.begin_write()?;
        {
            let mut recent = txn.open_table(RECENT)?;
            recent.retain(|_, at| at >= cutoff)?;
        }
        txn.commit()?;
        Ok(())
    }
}
