//! Multi-line record assembly (spec §5 `[record]`).
//!
//! A pure state machine: `push(line, now)` and `flush_due(now)` take the time as
//! an argument, so the async shell owns the only timer and tests need no runtime.
//! One pending record per stream, so stdout and stderr never mix. Owns the flush
//! timeout and the size caps; knows nothing about rules, events or sinks.

use std::time::{Duration, Instant};

use regex::Regex;

use super::start::StartShapes;
use super::{Cursor, Line, Record, Stream};

/// How lines join into records.
#[derive(Debug, Clone)]
pub struct AssembleConfig {
    /// A line matching this starts a record; others continue it. `None`: every line is a record.
    pub start: Option<Regex>,
    pub flush_after: Duration,
    pub max_lines: usize,
    pub max_bytes: usize,
}

impl Default for AssembleConfig {
    fn default() -> Self {
        AssembleConfig {
            start: None,
            flush_after: Duration::from_millis(250),
            max_lines: 500,
            max_bytes: 1 << 20,
        }
    }
}

struct Pending {
    rec: Record,
    lines: usize,
    last_push: Instant,
}

/// Joins lines into records, one pending record per stream.
pub struct Assembler {
    cfg: AssembleConfig,
    /// A quick sure-match test derived from `cfg.start`, tried before the regex.
    start_shapes: StartShapes,
    pending: Vec<(Stream, Pending)>,
    /// Record buffers given back by [`Assembler::recycle`], so records cost no
    /// allocation; bounded by [`POOL_BUFFERS`] and [`POOL_BYTES`].
    pool: Vec<String>,
    /// Total capacity of the buffers in `pool`.
    pool_bytes: usize,
}

const TRUNCATION_MARK: &str = "[owui-bridge: record truncated, ";

/// Most buffers kept for reuse: more than one read's worth of records.
const POOL_BUFFERS: usize = 1024;
/// Most bytes (capacity) kept for reuse in all.
const POOL_BYTES: usize = 1 << 20;
/// Buffers bigger than this (a long traceback's) are freed, not kept.
const POOL_BUFFER_MAX: usize = 64 * 1024;
/// Capacity of a fresh record buffer: most log lines fit.
const MIN_BUFFER: usize = 256;

impl Assembler {
    pub fn new(cfg: AssembleConfig) -> Assembler {
        let start_shapes = cfg
            .start
            .as_ref()
            .map(|re| StartShapes::of(re.as_str()))
            .unwrap_or_default();
        Assembler {
            cfg,
            start_shapes,
            pending: Vec::with_capacity(2),
            pool: Vec::new(),
            pool_bytes: 0,
        }
    }

    /// Feeds one line; calls `out` for each record this line completes.
    pub fn push(&mut self, line: &Line, now: Instant, out: &mut impl FnMut(Record)) {
        let lossy;
        let checked = line.plain_text();
        let text = match checked {
            Some(text) => text,
            None => match std::str::from_utf8(line.text()) {
                Ok(t) => t,
                Err(_) => {
                    lossy = String::from_utf8_lossy(line.text());
                    &*lossy
                }
            },
        };
        let text = text.strip_suffix('\r').unwrap_or(text);
        // Open WebUI run with a TTY (`docker run -t`, compose `tty: true`) colours its
        // lines; rules are written for the plain text. A plain line has no ESC.
        let plain;
        let text = if checked.is_none() && memchr::memchr(0x1b, text.as_bytes()).is_some() {
            plain = strip_ansi(text);
            plain.as_str()
        } else {
            text
        };
        let starts = match &self.cfg.start {
            None => true,
            Some(re) => self.start_shapes.sure_match(text.as_bytes()) || re.is_match(text),
        };
        let slot = self.pending.iter().position(|(s, _)| *s == line.stream);
        match (slot, starts) {
            (Some(i), false) => {
                let p = &mut self.pending[i].1;
                append(p, &self.cfg, text, line.end, now);
                return;
            }
            (Some(i), true) => {
                let (_, p) = self.pending.swap_remove(i);
                self.finish(p, out);
            }
            (None, _) => {}
        }
        // A line is capped in bytes before decoding; replacing invalid bytes
        // can make it up to three times longer, so the record is capped too.
        let text = within(text, self.cfg.max_bytes);
        let mut buf = match self.pool.pop() {
            Some(b) => {
                self.pool_bytes -= b.capacity();
                b
            }
            None => String::with_capacity(text.len().max(MIN_BUFFER)),
        };
        buf.push_str(text);
        let rec = Record {
            stream: line.stream,
            ts: line.ts,
            first_line: line.number,
            text: buf,
            truncated_lines: 0,
            start: line.start,
            end: line.end,
        };
        let p = Pending {
            rec,
            lines: 1,
            last_push: now,
        };
        if self.cfg.start.is_none() {
            self.finish(p, out);
        } else {
            self.pending.push((line.stream, p));
        }
    }

    /// Emits every pending record that has been silent for `flush_after`.
    pub fn flush_due(&mut self, now: Instant, out: &mut impl FnMut(Record)) {
        let flush_after = self.cfg.flush_after;
        let mut i = 0;
        while i < self.pending.len() {
            if now.saturating_duration_since(self.pending[i].1.last_push) >= flush_after {
                let (_, p) = self.pending.swap_remove(i);
                self.finish(p, out);
            } else {
                i += 1;
            }
        }
    }

    /// Emits everything pending (end of input, shutdown).
    pub fn flush_all(&mut self, out: &mut impl FnMut(Record)) {
        while let Some((_, p)) = self.pending.pop() {
            self.finish(p, out);
        }
    }

    /// When the next pending record becomes due, for the async shell's timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending
            .iter()
            .map(|(_, p)| p.last_push + self.cfg.flush_after)
            .min()
    }

    /// The oldest start among pending records: a checkpoint must not pass it.
    pub fn oldest_pending_start(&self) -> Option<Cursor> {
        self.pending
            .iter()
            .map(|(_, p)| p.rec.start)
            .min_by_key(Cursor::order_key)
    }

    fn finish(&mut self, mut p: Pending, out: &mut impl FnMut(Record)) {
        if p.rec.truncated_lines > 0 {
            let n = p.rec.truncated_lines;
            p.rec.text.push('\n');
            p.rec.text.push_str(TRUNCATION_MARK);
            p.rec.text.push_str(&format!("{n} more lines dropped]"));
        }
        out(p.rec);
    }

    /// Gives a record's buffer back for reuse once the caller is done with it.
    /// Kept while the pool is within its bounds, else freed.
    pub fn recycle(&mut self, mut text: String) {
        let cap = text.capacity();
        if cap == 0
            || cap > POOL_BUFFER_MAX
            || self.pool.len() >= POOL_BUFFERS
            || self.pool_bytes + cap > POOL_BYTES
        {
            return;
        }
        text.clear();
        self.pool_bytes += cap;
        self.pool.push(text);
    }
}

/// `text` without ANSI escape sequences (CSI `ESC [ … letter`, and lone `ESC x`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        // `ESC [ … final-letter` is a CSI sequence; any other escape drops one character.
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() || c == '~' {
                    break;
                }
            }
        }
    }
    out
}

/// The longest prefix of `text` within `max` bytes that ends on a character.
fn within(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn append(p: &mut Pending, cfg: &AssembleConfig, text: &str, end: Cursor, now: Instant) {
    p.last_push = now;
    p.rec.end = end;
    if p.lines >= cfg.max_lines || p.rec.text.len() + 1 + text.len() > cfg.max_bytes {
        p.rec.truncated_lines += 1;
        return;
    }
    p.rec.text.push('\n');
    p.rec.text.push_str(text);
    p.lines += 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    const START: &str = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} \| ";

    fn lines(text: &str, stream: Stream) -> Vec<Line> {
        let mut off = 0u64;
        text.lines()
            .enumerate()
            .map(|(i, l)| {
                let start = off;
                off += l.len() as u64 + 1;
                Line::new(
                    Bytes::copy_from_slice(l.as_bytes()),
                    stream,
                    None,
                    i as u64 + 1,
                    Cursor::Offset(start),
                    Cursor::Offset(off),
                )
            })
            .collect()
    }

    fn assemble(cfg: AssembleConfig, input: &[Line]) -> Vec<Record> {
        let mut a = Assembler::new(cfg);
        let mut out = Vec::new();
        let now = Instant::now();
        for l in input {
            a.push(l, now, &mut |r| out.push(r));
        }
        a.flush_all(&mut |r| out.push(r));
        out
    }

    fn with_start() -> AssembleConfig {
        AssembleConfig {
            start: Some(Regex::new(START).unwrap()),
            ..Default::default()
        }
    }

    #[test]
    fn traceback_joins_its_header() {
        let log = "2026-11-27 08:01:50.446 | ERROR    | x:y:1 - boom\nTraceback (most recent call last):\n  File \"a.py\"\nValueError: bad\n2026-11-27 08:01:50.500 | INFO     | x:y:2 - next";
        let recs = assemble(with_start(), &lines(log, Stream::Stdout));
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].text.lines().count(), 4);
        assert_eq!(recs[0].first_line, 1);
        assert_eq!(recs[0].start, Cursor::Offset(0));
        assert_eq!(recs[1].first_line, 5);
        assert!(recs[0].text.ends_with("ValueError: bad"));
    }

    #[test]
    fn invalid_bytes_never_grow_a_record_past_its_cap() {
        // Found by fuzzing: a line of invalid UTF-8 within the line cap grew
        // threefold when each byte became U+FFFD.
        let cfg = AssembleConfig::default();
        let max = cfg.max_bytes;
        let mut raw = b"2026-11-27 08:01:50.446 | ERROR    | x:y:1 - ".to_vec();
        raw.resize(max, 0xff);
        let line = Line::new(
            Bytes::from(raw),
            Stream::Stdout,
            None,
            1,
            Cursor::Offset(0),
            Cursor::Offset(max as u64 + 1),
        );
        let recs = assemble(cfg, &[line]);
        assert_eq!(recs.len(), 1);
        assert!(recs[0].text.len() <= max, "{} bytes", recs[0].text.len());
        assert!(recs[0].text.ends_with('\u{FFFD}'), "cut on a character");
    }

    #[test]
    fn streams_never_mix() {
        let mut input = lines(
            "2026-11-27 08:01:50.446 | ERROR    | x:y:1 - a\ncont-out",
            Stream::Stdout,
        );
        let err = lines("Exception in ASGI application\n  cont-err", Stream::Stderr);
        input.insert(1, err[0].clone());
        input.push(err[1].clone());
        let recs = assemble(with_start(), &input);
        let out: Vec<_> = recs.iter().filter(|r| r.stream == Stream::Stdout).collect();
        let errs: Vec<_> = recs.iter().filter(|r| r.stream == Stream::Stderr).collect();
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].text,
            "2026-11-27 08:01:50.446 | ERROR    | x:y:1 - a\ncont-out"
        );
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].text, "Exception in ASGI application\n  cont-err");
    }

    #[test]
    fn max_lines_cuts_and_marks() {
        let mut log = String::from("2026-11-27 08:01:50.446 | ERROR    | x:y:1 - a");
        for i in 0..10 {
            log.push_str(&format!("\n  frame {i}"));
        }
        let cfg = AssembleConfig {
            max_lines: 3,
            ..with_start()
        };
        let recs = assemble(cfg, &lines(&log, Stream::Stdout));
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].truncated_lines, 8);
        assert_eq!(recs[0].text.lines().count(), 4);
        assert!(recs[0]
            .text
            .ends_with("[owui-bridge: record truncated, 8 more lines dropped]"));
        assert_eq!(recs[0].end, Cursor::Offset(log.len() as u64 + 1));
    }

    #[test]
    fn silence_flushes_after_the_configured_time() {
        let cfg = AssembleConfig {
            flush_after: Duration::from_millis(250),
            ..with_start()
        };
        let mut a = Assembler::new(cfg);
        let l = lines(
            "2026-11-27 08:01:50.446 | INFO     | x:y:1 - a",
            Stream::Stdout,
        );
        let t0 = Instant::now();
        let mut out = Vec::new();
        a.push(&l[0], t0, &mut |r| out.push(r));
        a.flush_due(t0 + Duration::from_millis(249), &mut |r| out.push(r));
        assert!(out.is_empty());
        assert_eq!(a.next_deadline(), Some(t0 + Duration::from_millis(250)));
        a.flush_due(t0 + Duration::from_millis(250), &mut |r| out.push(r));
        assert_eq!(out.len(), 1);
        assert_eq!(a.oldest_pending_start(), None);
    }

    #[test]
    fn colour_codes_are_removed_before_matching() {
        let coloured = "\x1b[32m2026-11-27 08:01:50.446\x1b[0m | \x1b[1mINFO    \x1b[0m | \x1b[36mx\x1b[0m:\x1b[36my\x1b[0m:\x1b[36m1\x1b[0m - \x1b[1mhello\x1b[0m";
        let recs = assemble(with_start(), &lines(coloured, Stream::Stdout));
        assert_eq!(recs.len(), 1);
        assert_eq!(
            recs[0].text,
            "2026-11-27 08:01:50.446 | INFO     | x:y:1 - hello"
        );
        assert_eq!(strip_ansi("plain"), "plain");
        assert_eq!(strip_ansi("a\x1b[1;31mb\x1b[0mc\x1b"), "abc");
    }

    #[test]
    fn without_start_pattern_each_line_is_a_record() {
        let recs = assemble(
            AssembleConfig::default(),
            &lines("a\n  b\nc\r", Stream::File),
        );
        assert_eq!(
            recs.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(),
            ["a", "  b", "c"]
        );
    }

    #[test]
    fn orphan_continuation_becomes_its_own_record() {
        let recs = assemble(
            with_start(),
            &lines(
                "  File \"x\"\nValueError\n2026-11-27 08:01:50.446 | INFO     | x:y:1 - a",
                Stream::Stdout,
            ),
        );
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].text, "  File \"x\"\nValueError");
    }

    #[test]
    fn invalid_utf8_is_replaced_and_cr_stripped() {
        let l = Line::new(
            Bytes::from_static(b"caf\xe9 au lait\r"),
            Stream::File,
            None,
            1,
            Cursor::Offset(0),
            Cursor::Offset(14),
        );
        let recs = assemble(AssembleConfig::default(), &[l]);
        assert_eq!(recs[0].text, "caf\u{fffd} au lait");
    }

    /// With and without the fast path, the same records from the real logs.
    #[test]
    fn fast_path_assembles_the_same_records() {
        let rs = crate::rules::RuleSet::load(&Default::default()).unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for log in [
            "tests/fixtures/logs/openwebui-0.12.4-info.log",
            "benches/data/openwebui-debug.log",
        ] {
            let Ok(mut text) = std::fs::read_to_string(dir.join(log)) else {
                continue;
            };
            // Unoptimised, a few MB of the big log will do (`--release` takes it all).
            if cfg!(debug_assertions) && text.len() > 4 << 20 {
                let cut = text[..4 << 20].rfind('\n').unwrap();
                text.truncate(cut);
            }
            let input = lines(&text, Stream::Stdout);
            let run = |fast: bool| {
                let mut a = Assembler::new(rs.assemble_config().clone());
                assert!(!a.start_shapes.is_empty());
                if !fast {
                    a.start_shapes = StartShapes::default();
                }
                let mut out = Vec::new();
                let now = Instant::now();
                for (i, l) in input.iter().enumerate() {
                    a.push(l, now, &mut |r| out.push(r));
                    // Give buffers back now and then, as the pipeline does per batch.
                    if i % 300 == 0 {
                        for r in &out {
                            a.recycle(r.text.clone());
                        }
                    }
                }
                a.flush_all(&mut |r| out.push(r));
                out.into_iter()
                    .map(|r| (r.first_line, r.text, r.start, r.end))
                    .collect::<Vec<_>>()
            };
            let fast = run(true);
            assert!(fast.len() > 100);
            assert_eq!(fast, run(false), "{log}");
        }
    }

    #[test]
    fn recycled_buffers_are_reused_within_bounds() {
        let mut a = Assembler::new(AssembleConfig::default());
        for _ in 0..POOL_BUFFERS + 10 {
            a.recycle(String::with_capacity(300));
        }
        assert_eq!(a.pool.len(), POOL_BUFFERS.min(POOL_BYTES / 300));
        assert!(a.pool_bytes <= POOL_BYTES);
        a.recycle(String::with_capacity(POOL_BUFFER_MAX + 1));
        assert!(a.pool.iter().all(|b| b.capacity() <= POOL_BUFFER_MAX));
        let mut b = Assembler::new(AssembleConfig::default());
        b.recycle(String::from("old text"));
        let mut out = Vec::new();
        for l in lines("one\ntwo", Stream::File) {
            b.push(&l, Instant::now(), &mut |r| out.push(r));
        }
        assert_eq!(
            out.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(),
            ["one", "two"]
        );
        assert!(b.pool.is_empty() && b.pool_bytes == 0);
    }
}
