//! `owui-bridge test-rules`: the rule tester (like `fail2ban-regex`). The log
//! streams through the same pipeline `run` uses — same assembly, matching,
//! correlation, threshold and cooldown — with a report for output, so it
//! predicts what `run` sends; memory is bounded by the longest record, not
//! the file. Time is the log's own: a replay never waits on the clock.
//!
//! As in `run`, one thread reads and splits lines while another assembles
//! and matches them, so a big log takes both cores.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::time::Instant;

use super::{load_rules, run_rules, Fail};
use crate::cli::TestRulesArgs;
use crate::config::{Language, RuleSources};
use crate::pipeline::{Clock, Ending, Output, Pipeline, Report};
use crate::record::{Line, Origin, Stream};
use crate::source::lines::{self, LineSplitter};

/// Bytes read at a time.
const CHUNK: usize = 256 * 1024;
/// Batches of lines (one read each) between the reading thread and the
/// pipeline: enough to keep both busy, few enough to bound memory.
const IN_FLIGHT: usize = 4;

pub(super) fn test_rules(args: TestRulesArgs) -> Result<ExitCode, Fail> {
    let rules = if args.rules.is_empty() {
        run_rules()?
    } else {
        load_rules(&RuleSources::only(&args.rules))?
    };
    let rules = Arc::new(rules);
    let input: Box<dyn Read + Send> = match args.file.as_deref() {
        None => Box::new(std::io::stdin()),
        Some(p) if p == Path::new("-") => Box::new(std::io::stdin()),
        Some(p) => Box::new(
            std::fs::File::open(p)
                .map_err(|e| Fail::usage(format!("cannot read {}: {e}", p.display())))?,
        ),
    };
    let stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout());
    let report = Report::new(Box::new(stdout), args.show_missed);
    let mut pipeline = Pipeline::new(
        rules.clone(),
        "test-rules".into(),
        Origin::local(Stream::File.as_str(), None),
        Output::Report(report),
        Clock::Frozen(Instant::now()),
        Language::default(),
    );
    let (tx, batches) = sync_channel(IN_FLIGHT);
    std::thread::scope(|scope| {
        scope.spawn(move || read_lines(input, tx));
        for batch in batches {
            pipeline.feed(&batch?);
        }
        Ok::<(), Fail>(())
    })?;
    pipeline.finish(Ending::EndOfInput);
    let stats = pipeline.stats;
    let Output::Report(report) = pipeline.into_output() else {
        unreachable!("the output given above")
    };
    eprintln!(
        "lines: {}, records: {}, records with no match: {}",
        stats.lines, stats.records, stats.unmatched
    );
    let held = stats.hits - stats.events;
    if held > 0 {
        eprintln!("hits held back by threshold or cooldown: {held}");
    }
    eprintln!("events per rule:");
    let width = rules.rules().iter().map(|r| r.id.len()).max().unwrap_or(0);
    for rule in rules.rules() {
        let n = report.per_rule.get(&rule.id).copied().unwrap_or(0);
        eprintln!("  {:width$}  {n:>6}  {}", rule.id, rule.event);
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads `input` to its end and sends its lines, one batch per read; a read
/// error is sent last.
fn read_lines(input: Box<dyn Read + Send>, tx: SyncSender<Result<Vec<Line>, Fail>>) {
    let mut splitter = LineSplitter::new(Stream::File, 0, None);
    let sent = lines::read_lines(input, &mut splitter, CHUNK, |l| tx.send(Ok(l)).is_ok());
    if let Err(e) = sent {
        let _ = tx.send(Err(Fail::runtime(format!("cannot read the log: {e}"))));
    }
}
