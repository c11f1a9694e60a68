//! The stage between a source and its output: lines → records → rule hits →
//! events. One implementation for every command that turns log text into
//! events: `run` stores them in the outbox (with the checkpoint that covers
//! them), `run --dry-run` prints them, and `test-rules` reports them — so
//! what `test-rules` predicts is what `run` does.
//!
//! The checkpoint never passes a record that is still being assembled, so a
//! restart re-reads any half-seen record whole; events held by `wait_for`
//! keep the checkpoint before their records too. Events go to the outbox
//! with the checkpoint that covers them as soon as a batch of lines produced
//! them (the outbox groups them into one commit); a checkpoint that moved
//! without events follows within a second, so quiet matching costs no disk
//! writes per line, and an idle pipeline no work at all.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};
use tracing::{error, info};

use crate::config::Language;
use crate::event::{Event, Identity, Parts};
use crate::metrics::{Metrics, METRICS};
use crate::outbox::{Change, Outbox, OutboxError};
use crate::record::{Assembler, Cursor, Line, Origin, Record};
use crate::rules::{Correlator, Hit, Ready, Rule, RuleSet, Scratch};
use crate::sink::Routes;
use crate::source::Input;

const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Where events go.
pub enum Output {
    /// `run`: into the outbox, for the sinks whose filter takes them.
    Outbox { outbox: Outbox, routes: Routes },
    /// `run --dry-run`: each event's payload as a JSON line on stdout, where
    /// it would go on stderr; nothing stored or sent.
    DryRun { routes: Routes },
    /// `test-rules`: one JSON line per event and a summary.
    Report(Report),
}

/// `test-rules`' output: `{"line":N,"rule":…,"event":…,"data":{…}}` per
/// event, the records no rule matched (when asked), and counts per rule.
pub struct Report {
    out: Box<dyn Write + Send>,
    show_missed: bool,
    /// Events per rule id.
    pub per_rule: BTreeMap<String, u64>,
}

impl Report {
    pub fn new(out: Box<dyn Write + Send>, show_missed: bool) -> Report {
        Report {
            out,
            show_missed,
            per_rule: BTreeMap::new(),
        }
    }

    fn event(&mut self, rule: &Rule, hit: &Hit, rec: &Record) {
        *self.per_rule.entry(rule.id.clone()).or_default() += 1;
        let data: BTreeMap<&str, &str> = hit
            .data
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let line = ReportLine {
            line: rec.first_line,
            rule: &rule.id,
            event: &rule.event,
            data,
        };
        let line = serde_json::to_string(&line).expect("a report line serialises");
        let _ = writeln!(self.out, "{line}");
    }

    fn unmatched(&mut self, rec: &Record) {
        if self.show_missed {
            eprintln!("missed (line {}): {}", rec.first_line, rec.text);
        }
    }

    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }
}

/// One `test-rules` output line, fields in the order spec §2 shows.
#[derive(serde::Serialize)]
struct ReportLine<'a> {
    line: u64,
    rule: &'a str,
    event: &'a str,
    data: BTreeMap<&'a str, &'a str>,
}

/// What the pipeline has done, for the closing log line and `test-rules`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub lines: u64,
    pub records: u64,
    /// Records no rule matched.
    pub unmatched: u64,
    /// Hits of rules that fire an event (before threshold and cooldown).
    pub hits: u64,
    pub events: u64,
}

/// Which "now" the pipeline uses for silence and `wait_for` deadlines.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// The wall clock (`run`).
    Real,
    /// One fixed moment: a replayed log (`test-rules`) waits by log time only.
    Frozen(Instant),
}

impl Clock {
    fn now(self) -> Instant {
        match self {
            Clock::Real => Instant::now(),
            Clock::Frozen(t) => t,
        }
    }
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
    clock: Clock,
    lang: Language,
    pending: Vec<(Event, Vec<String>)>,
    /// Position after the last line fed in.
    read_to: Option<Cursor>,
    dirty: bool,
    /// When a checkpoint that moved without events is stored.
    checkpoint_due: Option<Instant>,
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
        clock: Clock,
        lang: Language,
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
        if let Output::DryRun { routes } = &output {
            let to: Vec<&str> = routes.iter().map(|r| r.sink.as_str()).collect();
            info!(
                sinks = %to.join(", "),
                "dry run: each event is printed on stdout with where it would go, nothing is stored or sent"
            );
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
            clock,
            lang,
            pending: Vec::new(),
            read_to: None,
            dirty: false,
            checkpoint_due: None,
            stats: Stats::default(),
        }
    }

    /// The output, given back (`test-rules` reads its report).
    pub fn into_output(self) -> Output {
        self.output
    }

    /// Runs until the channel closes (`EndOfInput`) or `shutdown` turns true.
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<Input>,
        mut shutdown: watch::Receiver<bool>,
        mut rule_updates: Option<watch::Receiver<Arc<RuleSet>>>,
    ) -> Result<Stats, OutboxError> {
        loop {
            let deadline = [
                self.assembler.next_deadline(),
                self.correlator.next_deadline(),
                self.checkpoint_due,
            ]
            .into_iter()
            .flatten()
            .min();
            let timer = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                batch = rx.recv() => match batch {
                    Some(Input::Lines(lines)) => self.feed(&lines),
                    Some(Input::Record(rec)) => self.process(&mut vec![rec], self.clock.now()),
                    Some(Input::Attach(origin)) => self.origin = origin,
                    None => {
                        self.finish(Ending::EndOfInput);
                        self.store().await?;
                        return Ok(self.stats);
                    }
                },
                _ = timer => self.flush_due(),
                Some(new) = next_rules(&mut rule_updates) => self.swap_rules(new),
                _ = shutdown.changed() => {
                    self.finish(Ending::Shutdown);
                    self.store().await?;
                    return Ok(self.stats);
                }
            }
            self.maybe_store().await?;
        }
    }

    /// New rules: records under way finish with the rules they started with.
    fn swap_rules(&mut self, new: Arc<RuleSet>) {
        let mut records = std::mem::take(&mut self.records);
        self.assembler.flush_all(&mut |r| records.push(r));
        self.process(&mut records, self.clock.now());
        self.records = records;
        self.assembler = Assembler::new(new.assemble_config().clone());
        let remembered = new
            .rules()
            .iter()
            .filter_map(|r| r.remember.as_ref().map(|k| k.family().to_string()))
            .collect();
        self.correlator.keep_families(&remembered);
        self.rules = new;
        // The old rules are gone now (unless held events still need them).
        crate::memory::give_back();
    }

    pub fn feed(&mut self, lines: &[Line]) {
        let now = self.clock.now();
        let rules = self.rules.clone();
        let before = self.stats.records;
        let mut records = std::mem::take(&mut self.records);
        for line in lines {
            self.assembler.push(line, now, &mut |r| records.push(r));
            // Matched as soon as it is complete: its buffer is back in the
            // assembler's pool before the next line needs one, so records
            // cost no allocation however many lines a read brings.
            for rec in records.drain(..) {
                self.process_record(&rules, rec, now);
            }
        }
        Metrics::add(&METRICS.records, self.stats.records - before);
        if let Some(last) = lines.last() {
            self.read_to = Some(last.end);
        }
        self.stats.lines += lines.len() as u64;
        Metrics::add(&METRICS.lines, lines.len() as u64);
        self.dirty |= !lines.is_empty();
        self.records = records;
    }

    fn flush_due(&mut self) {
        let now = self.clock.now();
        let mut records = std::mem::take(&mut self.records);
        self.assembler.flush_due(now, &mut |r| records.push(r));
        self.dirty |= !records.is_empty();
        self.process(&mut records, now);
        self.records = records;
        self.correlator.expire_by_clock(now, &mut self.ready);
        self.emit_ready(None);
    }

    /// Matches `records`; `now` is the caller's reading of the clock, taken
    /// once per batch rather than once per record.
    fn process(&mut self, records: &mut Vec<Record>, now: Instant) {
        let rules = self.rules.clone();
        Metrics::add(&METRICS.records, records.len() as u64);
        for rec in records.drain(..) {
            self.process_record(&rules, rec, now);
        }
    }

    /// Matches one record against `rules` (the caller's handle on the current
    /// set, taken once per batch) and turns what the correlator releases into
    /// events; the record's buffer goes back to the assembler.
    fn process_record(&mut self, rules: &Arc<RuleSet>, rec: Record, now: Instant) {
        self.stats.records += 1;
        self.correlator
            .begin_record(|| logged_at(&rec), now, &mut self.ready);
        self.hits.clear();
        rules.matches(&rec, &mut self.scratch, &mut self.hits);
        if self.hits.is_empty() {
            self.stats.unmatched += 1;
            if let Output::Report(r) = &mut self.output {
                r.unmatched(&rec);
            }
        } else {
            let at = logged_at(&rec);
            for hit in self.hits.drain(..) {
                let rule = &rules.rules()[hit.rule];
                self.stats.hits += u64::from(rule.fires);
                let held = || Held {
                    rules: rules.clone(),
                    rec: rec.clone(),
                };
                self.correlator
                    .offer(rule, hit, at, now, held, &mut self.ready);
            }
        }
        self.emit_ready(Some((rules, &rec)));
        self.assembler.recycle(rec.text);
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

    fn emit(&mut self, rule: &Rule, hit: &Hit, rec: &Record) {
        self.stats.events += 1;
        if let Output::Report(r) = &mut self.output {
            r.event(rule, hit, rec);
            return;
        }
        let ev = event_of(rule, hit, rec, &self.source_key, &self.origin, self.lang);
        self.dirty = true;
        METRICS.event(&ev.event);
        match &self.output {
            Output::DryRun { routes } => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{}", ev.body);
                let _ = out.flush();
                let route = if routes.is_empty() {
                    "no receiver is configured".to_string()
                } else {
                    routes.route(&ev.event).describe()
                };
                info!(event = %ev.event, id = %ev.id, "dry run: {route}");
            }
            Output::Outbox { routes, .. } => {
                let sinks = routes.sinks_for(&ev.event);
                if !sinks.is_empty() {
                    self.pending.push((ev, sinks));
                }
            }
            Output::Report(_) => unreachable!("reported above"),
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

    /// Events go to the outbox at once (it groups them into one commit);
    /// a checkpoint that moved without events, within a second.
    async fn maybe_store(&mut self) -> Result<(), OutboxError> {
        let now = Instant::now();
        if !self.pending.is_empty() || self.checkpoint_due.is_some_and(|d| d <= now) {
            self.store().await?;
        } else if self.dirty && self.checkpoint_due.is_none() {
            self.checkpoint_due = Some(now + CHECKPOINT_EVERY);
        }
        Ok(())
    }

    /// Hands the pending events and the safe position to the outbox.
    async fn store(&mut self) -> Result<(), OutboxError> {
        let cursor = self.safe_cursor();
        if let Output::Outbox { outbox, .. } = &self.output {
            let checkpoint = match cursor {
                Some(c) if !matches!(c, Cursor::Line(_)) => Some((self.source_key.clone(), c)),
                _ => None,
            };
            let events = std::mem::take(&mut self.pending);
            if let Err(e) = outbox.submit(events, checkpoint).await {
                error!(error = %e, "cannot store events in the outbox");
                return Err(e);
            }
            if let Some(families) = self.correlator.families_changed() {
                // Only the first events after a restart depend on it.
                let write = Change::Families {
                    source: self.source_key.clone(),
                    families,
                };
                if let Err(e) = outbox.note(write).await {
                    error!(error = %e, "cannot store which records events wait for");
                }
            }
        }
        self.pending.clear();
        self.dirty = false;
        self.checkpoint_due = None;
        Ok(())
    }

    /// The input ended or the bridge stops: what is complete becomes events
    /// (then [`Pipeline::run`] stores them).
    pub fn finish(&mut self, ending: Ending) {
        if ending == Ending::EndOfInput {
            let mut records = std::mem::take(&mut self.records);
            self.assembler.flush_all(&mut |r| records.push(r));
            self.process(&mut records, self.clock.now());
        }
        // Held events go out now, without the data they waited for: a stdin
        // source cannot re-read them after a restart.
        self.correlator.drain(&mut self.ready);
        self.emit_ready(None);
        if let Output::Report(r) = &mut self.output {
            r.flush();
        }
    }
}

/// When `rec` was logged; a record that does not say is taken as logged now.
fn logged_at(rec: &Record) -> DateTime<Utc> {
    rec.logged_at().unwrap_or_else(Utc::now)
}

/// The event `rule`'s `hit` on `rec` becomes. `source_key` names the followed
/// source (its part of the id), `origin` is what receivers see of it, `lang`
/// the language of its chat message.
fn event_of(
    rule: &Rule,
    hit: &Hit,
    rec: &Record,
    source_key: &str,
    origin: &Origin,
    lang: Language,
) -> Event {
    // `_…` fields only build correlation keys.
    let data: BTreeMap<String, String> = hit
        .data
        .iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .cloned()
        .collect();
    let message = rule.message.as_ref().map(|m| {
        m.pick(lang).render(|k| match k {
            "rule" => Some(rule.id.as_str()),
            "event" => Some(rule.event.as_str()),
            _ => data.get(k).map(String::as_str),
        })
    });
    let parts = Parts {
        event: rule.event.clone(),
        rule: rule.id.clone(),
        severity: rule.severity,
        message,
        timestamp: logged_at(rec),
        source: Origin {
            stream: rec.stream.as_str().to_string(),
            ..origin.clone()
        },
        data,
        log: &rec.text,
    };
    let identity = Identity::Record {
        source_key,
        stream: rec.stream,
        rule: &rule.id,
        ts: rec.ts,
        start: &rec.start,
        text: &rec.text,
    };
    Event::build(identity, parts)
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
