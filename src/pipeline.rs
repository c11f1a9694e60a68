//! The stage between a source and the outbox: lines → records → rule hits →
//! events, stored together with the checkpoint that covers them.
//!
//! The checkpoint never passes a record that is still being assembled, so a
//! restart re-reads any half-seen record whole. Stores are batched: a commit
//! happens when a batch produced events, or at most every second for a
//! checkpoint alone, so quiet matching costs no disk writes per line. Events
//! held by `wait_for` keep the checkpoint before their records too.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tracing::error;

use crate::event::{record_time, Event, Origin};
use crate::metrics::{Metrics, METRICS};
use crate::outbox::{Outbox, OutboxError};
use crate::record::{Assembler, Cursor, Line, Record};
use crate::rules::{Correlator, Hit, Ready, RuleSet, Scratch};
use crate::sink::Route;
use crate::source::Input;

const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Where events go: the outbox, or stdout as JSON lines (`--dry-run`).
#[derive(Clone)]
pub enum Output {
    Outbox { outbox: Outbox, routes: Vec<Route> },
    DryRun,
}

/// What the pipeline has done, for the closing log line and metrics.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub lines: u64,
    pub records: u64,
    pub events: u64,
}

pub struct Pipeline {
    rules: Arc<RuleSet>,
    assembler: Assembler,
    scratch: Scratch,
    correlator: Correlator<Held>,
    hits: Vec<Hit>,
    ready: Vec<Ready<Held>>,
    records: Vec<Record>,
    source_key: String,
    origin: Origin,
    output: Output,
    pending: Vec<(Event, Vec<String>)>,
    /// Position after the last line fed in.
    read_to: Option<Cursor>,
    dirty: bool,
    last_commit: Instant,
    pub stats: Stats,
}

/// What a held event needs to become an event later: its record, and the
/// rules that matched it (they may have been reloaded since).
pub struct Held {
    rules: Arc<RuleSet>,
    rec: Record,
}

/// How the input ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The source has no more (stdin at EOF): flush every record.
    EndOfInput,
    /// Stopping early: keep half-assembled records for the next start.
    Shutdown,
}

impl Pipeline {
    pub fn new(
        rules: Arc<RuleSet>,
        source_key: String,
        origin: Origin,
        output: Output,
    ) -> Pipeline {
        let assembler = Assembler::new(rules.assemble_config().clone());
        let mut correlator = Correlator::default();
        if let Output::Outbox { outbox, .. } = &output {
            match outbox.families(&source_key) {
                Ok(f) => correlator.wait_for_families(f),
                Err(e) => {
                    error!(error = %e, "cannot read the outbox; events wait for audit records only once one is seen")
                }
            }
        }
        Pipeline {
            rules,
            assembler,
            scratch: Scratch::default(),
            correlator,
            hits: Vec::new(),
            ready: Vec::new(),
            records: Vec::new(),
            source_key,
            origin,
            output,
            pending: Vec::new(),
            read_to: None,
            dirty: false,
            last_commit: Instant::now(),
            stats: Stats::default(),
        }
    }

    /// Runs until the channel closes (`EndOfInput`) or `shutdown` turns true.
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<Input>,
        mut shutdown: watch::Receiver<bool>,
        mut rule_updates: Option<watch::Receiver<Arc<RuleSet>>>,
    ) -> Result<Stats, OutboxError> {
        // Stores a checkpoint that moved while the input went quiet.
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let deadline = [
                self.assembler.next_deadline(),
                self.correlator.next_deadline(),
            ]
            .into_iter()
            .flatten()
            .min();
            let flush_timer = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                batch = rx.recv() => match batch {
                    Some(Input::Lines(lines)) => self.feed(&lines, Instant::now()),
                    Some(Input::Record(rec)) => self.process(&mut vec![rec]),
                    Some(Input::Attach(origin)) => self.origin = origin,
                    None => {
                        self.finish(Ending::EndOfInput)?;
                        return Ok(self.stats);
                    }
                },
                _ = flush_timer => self.flush_due(Instant::now()),
                _ = tick.tick() => {}
                Some(new) = next_rules(&mut rule_updates) => self.swap_rules(new),
                _ = shutdown.changed() => {
                    self.finish(Ending::Shutdown)?;
                    return Ok(self.stats);
                }
            }
            self.maybe_commit()?;
        }
    }

    /// New rules: records under way finish with the rules they started with.
    fn swap_rules(&mut self, new: Arc<RuleSet>) {
        let mut records = std::mem::take(&mut self.records);
        self.assembler.flush_all(&mut |r| records.push(r));
        self.process(&mut records);
        self.records = records;
        self.assembler = Assembler::new(new.assemble_config().clone());
        let remembered = new
            .rules()
            .iter()
            .filter_map(|r| r.remember.as_ref().map(|k| k.family().to_string()))
            .collect();
        self.correlator.keep_families(&remembered);
        self.rules = new;
    }

    pub fn feed(&mut self, lines: &[Line], now: Instant) {
        let mut records = std::mem::take(&mut self.records);
        for line in lines {
            self.assembler.push(line, now, &mut |r| records.push(r));
            self.read_to = Some(line.end);
        }
        self.stats.lines += lines.len() as u64;
        Metrics::add(&METRICS.lines, lines.len() as u64);
        self.dirty |= !lines.is_empty();
        self.process(&mut records);
        self.records = records;
    }

    fn flush_due(&mut self, now: Instant) {
        let mut records = std::mem::take(&mut self.records);
        self.assembler.flush_due(now, &mut |r| records.push(r));
        self.dirty |= !records.is_empty();
        self.process(&mut records);
        self.records = records;
        self.correlator.expire_by_clock(now, &mut self.ready);
        self.emit_ready(None);
    }

    fn process(&mut self, records: &mut Vec<Record>) {
        let rules = self.rules.clone();
        let now = Instant::now();
        for rec in records.drain(..) {
            self.stats.records += 1;
            Metrics::add(&METRICS.records, 1);
            let at = record_time(&rec);
            self.correlator.begin_record(at, now, &mut self.ready);
            self.hits.clear();
            rules.matches(&rec, &mut self.scratch, &mut self.hits);
            for hit in self.hits.drain(..) {
                let rule = &rules.rules()[hit.rule];
                let held = || Held {
                    rules: rules.clone(),
                    rec: rec.clone(),
                };
                self.correlator
                    .offer(rule, hit, at, now, held, &mut self.ready);
            }
            self.emit_ready(Some((&rules, &rec)));
            self.assembler.recycle(rec.text);
        }
    }

    /// Turns what the correlator released into events; `current` is the
    /// record being processed, for its own hits.
    fn emit_ready(&mut self, current: Option<(&RuleSet, &Record)>) {
        let mut ready = std::mem::take(&mut self.ready);
        for r in ready.drain(..) {
            match r {
                Ready::Held(hit, held) => self.emit(&held.rules.rules()[hit.rule], &hit, &held.rec),
                Ready::Current(hit) => {
                    if let Some((rules, rec)) = current {
                        self.emit(&rules.rules()[hit.rule], &hit, rec);
                    }
                }
            }
        }
        self.ready = ready;
    }

    fn emit(&mut self, rule: &crate::rules::Rule, hit: &Hit, rec: &Record) {
        let ev = Event::new(rule, hit, rec, &self.source_key, &self.origin);
        self.stats.events += 1;
        self.dirty = true;
        METRICS.event(&ev.event);
        match &self.output {
            Output::DryRun => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{}", ev.body);
            }
            Output::Outbox { routes, .. } => {
                let sinks: Vec<String> = routes
                    .iter()
                    .filter(|r| r.events.allows(&ev.event))
                    .map(|r| r.sink.clone())
                    .collect();
                if !sinks.is_empty() {
                    self.pending.push((ev, sinks));
                }
            }
        }
    }

    /// The position a restart may resume from: before any half-built record.
    fn safe_cursor(&self) -> Option<Cursor> {
        let held = self.correlator.held().map(|h| h.rec.start);
        self.assembler
            .oldest_pending_start()
            .into_iter()
            .chain(held)
            .min_by_key(Cursor::order_key)
            .or(self.read_to)
    }

    fn maybe_commit(&mut self) -> Result<(), OutboxError> {
        if !self.pending.is_empty()
            || (self.dirty && self.last_commit.elapsed() >= CHECKPOINT_EVERY)
        {
            self.commit()?;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<(), OutboxError> {
        let cursor = self.safe_cursor();
        if let Output::Outbox { outbox, .. } = &self.output {
            let checkpoint = match &cursor {
                Some(c) if !matches!(c, Cursor::Line(_)) => Some((self.source_key.as_str(), c)),
                _ => None,
            };
            if let Err(e) = outbox.commit(&self.pending, checkpoint) {
                error!(error = %e, "cannot store events in the outbox");
                return Err(e);
            }
            if let Some(families) = self.correlator.families_changed() {
                // Only the first events after a restart depend on it.
                if let Err(e) = outbox.set_families(&self.source_key, &families) {
                    error!(error = %e, "cannot store which records events wait for");
                }
            }
        }
        self.pending.clear();
        self.dirty = false;
        self.last_commit = Instant::now();
        Ok(())
    }

    pub fn finish(&mut self, ending: Ending) -> Result<(), OutboxError> {
        if ending == Ending::EndOfInput {
            let mut records = std::mem::take(&mut self.records);
            self.assembler.flush_all(&mut |r| records.push(r));
            self.process(&mut records);
        }
        // Held events go out now, without the data they waited for: a stdin
        // source cannot re-read them after a restart.
        self.correlator.drain(&mut self.ready);
        self.emit_ready(None);
        self.commit()
    }
}

/// The next rule set, when rules are being watched; never resolves otherwise.
async fn next_rules(updates: &mut Option<watch::Receiver<Arc<RuleSet>>>) -> Option<Arc<RuleSet>> {
    match updates {
        Some(rx) => match rx.changed().await {
            Ok(()) => Some(rx.borrow_and_update().clone()),
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}
