//! Docker's log stream as the bridge reads it: frames of any size on stdout
//! and stderr (16 KiB partial lines, lines past 1 MiB, invalid UTF-8, NUL,
//! frames without a timestamp, the daemon's own error text), reconnects,
//! time passing — through the frame decoder, the record assembler and the
//! built-in rules. Never a panic; lines and records stay within their caps.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use owui_bridge::record::assemble::Assembler;
use owui_bridge::record::Stream;
use owui_bridge::rules::{RuleSet, Scratch};
use owui_bridge::source::docker::frames::Framer;
use owui_bridge::source::lines::MAX_LINE;

fn rules() -> &'static RuleSet {
    static RULES: OnceLock<RuleSet> = OnceLock::new();
    RULES.get_or_init(|| {
        let texts: Vec<(String, String)> = owui_bridge::rules::BUILTIN
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        RuleSet::from_texts(&texts).expect("the built-in pack loads")
    })
}

fuzz_target!(|data: &[u8]| {
    let rules = rules();
    let max_bytes = rules.assemble_config().max_bytes;
    let mut framer = Framer::new(None);
    let mut assembler = Assembler::new(rules.assemble_config().clone());
    let mut scratch = Scratch::default();
    let mut hits = Vec::new();
    let mut lines = Vec::new();
    let mut now = Instant::now();
    let mut ns: u64 = 0;
    let mut check = |rec: owui_bridge::record::Record| {
        assert!(
            rec.text.len() <= max_bytes + 128,
            "a record of {} bytes",
            rec.text.len()
        );
        rules.matches(&rec, &mut scratch, &mut hits);
        hits.clear();
    };
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        match op & 3 {
            0 | 1 => {
                // A frame: two bytes of length (scaled, so 16 KiB and 1 MiB lines are near), then its payload.
                let (len, tail) = match rest {
                    [a, b, tail @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), tail),
                    _ => (rest.len(), &[][..]),
                };
                let len = if op & 16 != 0 { len * 16 } else { len };
                let take = len.min(tail.len());
                let mut body = tail[..take].to_vec();
                rest = &tail[take..];
                if op & 32 != 0 {
                    // Long lines without bytes to pay for them: repeat the payload.
                    let reps = usize::from(op >> 6) * 64;
                    let one = body.clone();
                    for _ in 0..reps {
                        body.extend_from_slice(&one);
                    }
                }
                let mut payload = Vec::with_capacity(body.len() + 32);
                if op & 4 == 0 {
                    ns += u64::from(op >> 3 & 1) * 1_000_000 + 1;
                    payload.extend_from_slice(
                        format!(
                            "2026-12-04T10:00:{:02}.{:09}Z ",
                            (ns / 1_000_000_000) % 60,
                            ns % 1_000_000_000
                        )
                        .as_bytes(),
                    );
                }
                payload.extend_from_slice(&body);
                if op & 8 != 0 {
                    payload.push(b'\n');
                }
                let stream = if op & 1 == 0 {
                    Stream::Stdout
                } else {
                    Stream::Stderr
                };
                if framer.push(stream, &payload, &mut lines).is_err() {
                    // The follower reconnects after a frame it cannot read.
                    framer.reattach(None);
                }
                for line in lines.drain(..) {
                    assert!(
                        line.text().len() <= MAX_LINE + 64,
                        "a line of {} bytes",
                        line.text().len()
                    );
                    assembler.push(&line, now, &mut check);
                }
            }
            2 => {
                now += Duration::from_millis(u64::from(op >> 2) * 20);
                assembler.flush_due(now, &mut check);
            }
            _ => framer.reattach(None),
        }
    }
    assembler.flush_all(&mut check);
});
