//! Throughput of the CPU side of the data path on DEBUG-level Open WebUI output
//! with the built-in rules: line splitting, record assembly, rule matching.
//!
//! The corpus is `benches/data/openwebui-debug.log` (~22 MB, ~100k lines), made by
//! `benches/data/make_debug_log.py` (deterministic) whenever it is missing or older
//! than the script or its seed capture; set `OWUI_BENCH_LOG=/path/to/log` to
//! measure another log instead. Every benchmark reports lines per second
//! (`Throughput::Elements(lines)`), also those that work on pre-assembled
//! records, so the numbers compare directly; the corpus size printed first turns
//! them into MB/s.
//!
//! Benchmarks (group `debug_log`):
//! * `split`: `LineSplitter` over 64 KiB reads, as the file and stdin sources do;
//! * `assemble`: `Assembler` with the built-in `[record]` config over the split lines;
//! * `assemble_match`: assembly + `RuleSet::matches` with reused scratch (the target:
//!   3 M lines/s on one core), batch by batch as `Pipeline::feed` does;
//! * `split_assemble_match`: the same from raw bytes (the whole CPU path);
//! * `match`: `RuleSet::matches` alone on pre-assembled records;
//! * `naive_is_match`: baseline, every rule's regex `is_match` on every record;
//! * `regexset`: baseline, one `regex::RegexSet` of all rule patterns per record (one-pass table
//!   only, on the first 2000 records: with the full pack it takes tens of seconds per pass).
//!
//! `cargo bench --bench matching` takes about a minute and a half. For a profile:
//! `perf record -g target/release/deps/matching-* --bench --profile-time 10 'debug_log/assemble_match$'`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use owui_bridge::record::{Assembler, Line, Record, Stream};
use owui_bridge::rules::{Hit, RuleSet, Scratch};
use owui_bridge::source::lines::LineSplitter;
use regex::RegexSet;

/// What the file and stdin sources read at a time.
const CHUNK: usize = 64 * 1024;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/data")
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// The corpus, generated first if it is missing or stale.
fn corpus() -> (PathBuf, Vec<u8>) {
    if let Some(p) = std::env::var_os("OWUI_BENCH_LOG") {
        let p = PathBuf::from(p);
        let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        return (p, bytes);
    }
    let dir = data_dir();
    let log = dir.join("openwebui-debug.log");
    let script = dir.join("make_debug_log.py");
    let inputs = [script.clone(), dir.join("openwebui-0.12.4-info.log")];
    let stale = match modified(&log) {
        None => true,
        Some(t) => inputs.iter().any(|i| modified(i).is_some_and(|s| s > t)),
    };
    if stale {
        eprintln!("generating {} ...", log.display());
        let status = Command::new("python3")
            .arg(&script)
            .arg("--out")
            .arg(&log)
            .status()
            .unwrap_or_else(|e| panic!("cannot run python3 {}: {e}", script.display()));
        assert!(status.success(), "{} failed: {status}", script.display());
    }
    let bytes = std::fs::read(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    (log, bytes)
}

/// Lines in batches, one per 64 KiB read, as a source hands them to the pipeline.
fn split(input: &[u8]) -> Vec<Vec<Line>> {
    let mut splitter = LineSplitter::new(Stream::File, 0, Some(1));
    let mut batches = Vec::new();
    for chunk in input.chunks(CHUNK) {
        let mut batch = Vec::new();
        splitter.push(chunk, &mut batch);
        batches.push(batch);
    }
    let mut last = Vec::new();
    splitter.finish(&mut last);
    batches.push(last);
    batches.retain(|b| !b.is_empty());
    batches
}

/// Counts the lines of `input` through the splitter; one reused batch.
fn run_split(input: &[u8]) -> usize {
    let mut splitter = LineSplitter::new(Stream::File, 0, Some(1));
    let mut batch = Vec::new();
    let mut n = 0;
    for chunk in input.chunks(CHUNK) {
        batch.clear();
        splitter.push(chunk, &mut batch);
        n += batch.len();
    }
    batch.clear();
    splitter.finish(&mut batch);
    n + batch.len()
}

/// The pipeline's per-batch work: assemble, then (when `rules` is given) match
/// every completed record and give its buffer back, like `Pipeline::feed`.
struct Stage<'a> {
    rules: &'a RuleSet,
    matching: bool,
    asm: Assembler,
    records: Vec<Record>,
    scratch: Scratch,
    hits: Vec<Hit>,
    /// Records completed and hits found.
    out: (usize, usize),
}

impl<'a> Stage<'a> {
    fn new(rules: &'a RuleSet, matching: bool) -> Stage<'a> {
        Stage {
            rules,
            matching,
            asm: Assembler::new(rules.assemble_config().clone()),
            records: Vec::new(),
            scratch: Scratch::default(),
            hits: Vec::new(),
            out: (0, 0),
        }
    }

    fn feed(&mut self, batch: &[Line]) {
        let now = Instant::now();
        let records = &mut self.records;
        for line in batch {
            self.asm.push(line, now, &mut |r| records.push(r));
        }
        self.process();
    }

    fn finish(&mut self) -> (usize, usize) {
        let records = &mut self.records;
        self.asm.flush_all(&mut |r| records.push(r));
        self.process();
        self.out
    }

    fn process(&mut self) {
        for rec in self.records.drain(..) {
            self.out.0 += 1;
            if self.matching {
                self.hits.clear();
                self.rules.matches(&rec, &mut self.scratch, &mut self.hits);
                self.out.1 += self.hits.len();
            }
            self.asm.recycle(rec.text);
        }
    }
}

fn run_stage(rules: &RuleSet, batches: &[Vec<Line>], matching: bool) -> (usize, usize) {
    let mut stage = Stage::new(rules, matching);
    for batch in batches {
        stage.feed(batch);
    }
    stage.finish()
}

/// Split, assemble and match from raw bytes: all the CPU work between a read and the outbox.
fn run_full(rules: &RuleSet, input: &[u8]) -> (usize, usize) {
    let mut splitter = LineSplitter::new(Stream::File, 0, Some(1));
    let mut stage = Stage::new(rules, true);
    for chunk in input.chunks(CHUNK) {
        let mut batch = Vec::new();
        splitter.push(chunk, &mut batch);
        stage.feed(&batch);
    }
    let mut batch = Vec::new();
    splitter.finish(&mut batch);
    stage.feed(&batch);
    stage.finish()
}

fn run_match(rules: &RuleSet, records: &[Record]) -> usize {
    let mut scratch = Scratch::default();
    let mut hits = Vec::new();
    let mut n = 0;
    for rec in records {
        hits.clear();
        rules.matches(rec, &mut scratch, &mut hits);
        n += hits.len();
    }
    n
}

/// Whether rule `i` keeps a record its pattern matched (stream filter and `ignore`).
fn keeps(rules: &RuleSet, i: usize, rec: &Record) -> bool {
    let rule = &rules.rules()[i];
    rule.stream.accepts(rec.stream)
        && !rule
            .ignore
            .as_ref()
            .and_then(|ig| ig.get())
            .is_some_and(|ig| ig.is_match(&rec.text))
}

/// Baseline without the prefilter: every rule's regex `is_match` on every record.
fn run_naive(rules: &RuleSet, records: &[Record]) -> usize {
    let mut n = 0;
    for rec in records {
        for (i, rule) in rules.rules().iter().enumerate() {
            if rule.regex.get().is_some_and(|re| re.is_match(&rec.text)) && keeps(rules, i, rec) {
                n += 1;
            }
        }
    }
    n
}

/// Baseline: all patterns in one `RegexSet`, which reports every matching rule in one search.
fn run_regexset(rules: &RuleSet, set: &RegexSet, records: &[Record]) -> usize {
    let mut n = 0;
    for rec in records {
        n += set
            .matches(&rec.text)
            .iter()
            .filter(|&i| keeps(rules, i, rec))
            .count();
    }
    n
}

fn assembled(rules: &RuleSet, batches: &[Vec<Line>]) -> Vec<Record> {
    let mut asm = Assembler::new(rules.assemble_config().clone());
    let now = Instant::now();
    let mut records = Vec::new();
    for line in batches.iter().flatten() {
        asm.push(line, now, &mut |r| records.push(r));
    }
    asm.flush_all(&mut |r| records.push(r));
    records
}

fn rate(what: &str, lines: usize, bytes: usize, t: Duration) {
    let s = t.as_secs_f64();
    eprintln!(
        "  {what:<22} {:>8.2} ms  {:>6.2} M lines/s  {:>7.1} MB/s",
        s * 1e3,
        lines as f64 / s / 1e6,
        bytes as f64 / s / 1e6
    );
}

/// Best of a few single passes, for the summary printed before criterion's numbers.
fn best_of<T>(n: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn bench(c: &mut Criterion) {
    let rules = RuleSet::load(&Default::default()).expect("built-in rules load");
    let (path, mut input) = corpus();
    // `cargo bench` passes --bench; without it criterion runs each benchmark once
    // as a smoke test (`cargo test --benches`, often unoptimised): the first MB will do.
    let args: Vec<String> = std::env::args().collect();
    let bench_mode = args.iter().any(|a| a == "--bench");
    if !bench_mode && input.len() > 1 << 20 {
        let cut = input[..1 << 20]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        input.truncate(cut);
    }
    let batches = split(&input);
    let lines: usize = batches.iter().map(Vec::len).sum();
    let records = assembled(&rules, &batches);
    let set = RegexSet::new(rules.rules().iter().map(|r| r.regex.as_str())).expect("rule set");

    // Every path agrees, and the prefilter loses nothing: the same hits as trying every rule.
    let (recs, hits) = run_stage(&rules, &batches, true);
    assert_eq!(recs, records.len());
    assert_eq!(run_full(&rules, &input), (recs, hits));
    assert_eq!(run_match(&rules, &records), hits);
    assert_eq!(run_naive(&rules, &records), hits, "prefilter lost a match");
    // One RegexSet over 50-odd patterns is very slow (tens of seconds per pass): baseline it on a slice.
    let slice = &records[..records.len().min(2000)];
    assert_eq!(run_regexset(&rules, &set, slice), run_naive(&rules, slice));
    assert_eq!(run_split(&input), lines);

    eprintln!(
        "corpus {}: {lines} lines, {} bytes ({:.0} B/line), {recs} records, {hits} hits \
         ({:.2}% of records); {} rules, {} behind the literal prefilter",
        path.display(),
        input.len(),
        input.len() as f64 / lines as f64,
        100.0 * hits as f64 / recs as f64,
        rules.rules().len(),
        rules.prefiltered(),
    );
    // A one-pass summary with MB/s, under `cargo bench` only (not with --profile-time).
    if bench_mode && !args.iter().any(|a| a == "--profile-time") {
        eprintln!("one pass each, best of 3, single thread:");
        let b = input.len();
        rate("split", lines, b, best_of(3, || run_split(&input)));
        rate(
            "assemble",
            lines,
            b,
            best_of(3, || run_stage(&rules, &batches, false)),
        );
        rate(
            "assemble_match",
            lines,
            b,
            best_of(3, || run_stage(&rules, &batches, true)),
        );
        rate(
            "split_assemble_match",
            lines,
            b,
            best_of(3, || run_full(&rules, &input)),
        );
        rate(
            "match",
            lines,
            b,
            best_of(3, || run_match(&rules, &records)),
        );
        rate(
            "naive_is_match",
            lines,
            b,
            best_of(3, || run_naive(&rules, &records)),
        );
        let slice_bytes: usize = slice.iter().map(|r| r.text.len() + 1).sum();
        rate(
            "regexset (first 2000 records)",
            slice.len(),
            slice_bytes,
            best_of(1, || run_regexset(&rules, &set, slice)),
        );
    }

    let mut g = c.benchmark_group("debug_log");
    g.throughput(Throughput::Elements(lines as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.bench_function("split", |b| b.iter(|| run_split(black_box(&input))));
    g.bench_function("assemble", |b| {
        b.iter(|| run_stage(&rules, black_box(&batches), false))
    });
    g.bench_function("assemble_match", |b| {
        b.iter(|| run_stage(&rules, black_box(&batches), true))
    });
    g.bench_function("split_assemble_match", |b| {
        b.iter(|| run_full(&rules, black_box(&input)))
    });
    g.bench_function("match", |b| {
        b.iter(|| run_match(&rules, black_box(&records)))
    });
    g.bench_function("naive_is_match", |b| {
        b.iter(|| run_naive(&rules, black_box(&records)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
