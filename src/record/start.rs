//! The fast path of record assembly: a byte-level test that says "this line
//! surely starts a record", derived from the `[record] start` pattern itself,
//! tried before the regex. It never changes a result, only how fast lines
//! that start records are recognised.

use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// A quick test that says "this line surely starts a record", derived from the
/// `[record] start` pattern itself (nothing about any log format is built in).
///
/// A shape is a fixed-width sequence of byte sets; text whose first bytes fit a
/// shape is matched by the pattern. Shapes cover a part of what the pattern
/// matches: each alternative as a fixed-width piece, literals as their bytes,
/// classes as their ASCII members (an ASCII byte is a whole character in
/// UTF-8), a repetition as exactly its minimum count, `^` only at the start.
/// What no shape covers, or what has other assertions, goes to the regex, so
/// the test only speeds up the common case and never changes a result.
#[derive(Debug, Clone, Default)]
pub(super) struct StartShapes {
    shapes: Vec<Shape>,
}

/// Bits 0..=255: which bytes may stand at one position.
type ByteSet = [u64; 4];

#[derive(Debug, Clone, Default)]
struct Shape {
    sets: Vec<ByteSet>,
    /// Holds a start-of-text assertion, so it can only begin the text.
    anchored: bool,
}

/// Most shapes kept; dropping some is always safe (fewer lines take the fast path).
const MAX_SHAPES: usize = 16;
/// Widest shape kept, in bytes.
const MAX_WIDTH: usize = 256;

impl StartShapes {
    pub(super) fn of(pattern: &str) -> StartShapes {
        // The same syntax defaults as `regex::Regex::new`, which compiled the pattern.
        let shapes = match regex_syntax::ParserBuilder::new().build().parse(pattern) {
            Ok(hir) => shapes(&hir),
            Err(_) => Vec::new(),
        };
        StartShapes {
            // A shape of width 0 would fit every line: only if the pattern matches
            // the empty string, which no useful start pattern does. Leave those to the regex.
            shapes: shapes.into_iter().filter(|s| !s.sets.is_empty()).collect(),
        }
    }

    /// Whether no line takes the fast path (the tests check it is used).
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.shapes.is_empty()
    }

    /// True only if the start pattern matches `text` (false says nothing).
    pub(super) fn sure_match(&self, text: &[u8]) -> bool {
        self.shapes.iter().any(|s| {
            text.len() >= s.sets.len()
                && s.sets
                    .iter()
                    .zip(text)
                    .all(|(set, &b)| set[usize::from(b >> 6)] >> (b & 63) & 1 != 0)
        })
    }
}

/// Fixed-width shapes whose every fitting text `hir` matches (see [`StartShapes`]).
fn shapes(hir: &Hir) -> Vec<Shape> {
    match hir.kind() {
        HirKind::Empty => vec![Shape::default()],
        HirKind::Literal(lit) => vec![Shape {
            sets: lit.0.iter().map(|&b| byte_set([(b, b)])).collect(),
            anchored: false,
        }],
        HirKind::Class(class) => {
            let set = match class {
                Class::Unicode(c) => byte_set(c.ranges().iter().filter_map(|r| {
                    let (lo, hi) = (u32::from(r.start()), u32::from(r.end()).min(0x7f));
                    (lo <= hi).then_some((lo as u8, hi as u8))
                })),
                Class::Bytes(c) => byte_set(
                    c.ranges()
                        .iter()
                        .filter(|r| r.start() <= 0x7f)
                        .map(|r| (r.start(), r.end().min(0x7f))),
                ),
            };
            if set == [0; 4] {
                return Vec::new();
            }
            vec![Shape {
                sets: vec![set],
                anchored: false,
            }]
        }
        // Every start-of-line flavour holds at the very start of the text.
        HirKind::Look(Look::Start | Look::StartLF | Look::StartCRLF) => vec![Shape {
            sets: Vec::new(),
            anchored: true,
        }],
        HirKind::Look(_) => Vec::new(),
        HirKind::Repetition(r) => {
            let min = r.min as usize;
            if min > MAX_WIDTH {
                return Vec::new();
            }
            let one = shapes(&r.sub);
            let mut acc = vec![Shape::default()];
            for _ in 0..min {
                acc = concat(&acc, &one);
                if acc.is_empty() {
                    break;
                }
            }
            acc
        }
        HirKind::Capture(c) => shapes(&c.sub),
        HirKind::Concat(subs) => {
            let mut acc = vec![Shape::default()];
            for sub in subs {
                acc = concat(&acc, &shapes(sub));
                if acc.is_empty() {
                    break;
                }
            }
            acc
        }
        HirKind::Alternation(alts) => {
            let mut all = Vec::new();
            for a in alts {
                all.extend(shapes(a));
                if all.len() >= MAX_SHAPES {
                    all.truncate(MAX_SHAPES);
                    break;
                }
            }
            all
        }
    }
}

/// Every `a` followed by every `b`, within the bounds.
fn concat(a: &[Shape], b: &[Shape]) -> Vec<Shape> {
    let mut out = Vec::new();
    for x in a {
        for y in b {
            // A start assertion after some text never holds at position 0.
            if y.anchored && !x.sets.is_empty() {
                continue;
            }
            if x.sets.len() + y.sets.len() > MAX_WIDTH {
                continue;
            }
            if out.len() == MAX_SHAPES {
                return out;
            }
            let mut sets = Vec::with_capacity(x.sets.len() + y.sets.len());
            sets.extend_from_slice(&x.sets);
            sets.extend_from_slice(&y.sets);
            out.push(Shape {
                sets,
                anchored: x.anchored || y.anchored,
            });
        }
    }
    out
}

fn byte_set(ranges: impl IntoIterator<Item = (u8, u8)>) -> ByteSet {
    let mut set = [0u64; 4];
    for (lo, hi) in ranges {
        for b in lo..=hi {
            set[usize::from(b >> 6)] |= 1 << (b & 63);
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    const START: &str = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} \| ";

    /// Shapes claim only what the regex agrees with, on many patterns and lines.
    #[test]
    fn start_shapes_never_claim_what_the_regex_denies() {
        let builtin = crate::rules::RuleSet::load(&Default::default()).unwrap();
        let builtin = builtin.assemble_config().start.clone().unwrap();
        let patterns = [
            builtin.as_str(),
            START,
            r"^(?m)^\d+ ",
            r"\d{2}:\d{2}",
            r"(?:^|x)ab",
            r"a^b",
            r"^\bWORD\b",
            r"^(?i)error|^(?i:warn)[a-z]?:",
            r"^[^\s]+ \| \w{2,3}é",
            r"^\p{Lu}{2} ",
            r"^(?:ab)*c{0,2}d+$",
            r"^(?:(?:\d|x){3}|(?:y|z){2}) - ",
        ];
        let frags = [
            "2026-11-27 08:01:50.446 | ",
            "{\"ts\": ",
            "INFO  [",
            "INFO: ",
            "WARNING:  ",
            "/a/b.py:12: Warn: ",
            "v0.6.5 - ",
            "Exception in ASGI application",
            "0",
            "12",
            ":",
            "-",
            " ",
            "|",
            "x",
            "y",
            "z",
            "ab",
            "c",
            "d",
            "é",
            "É",
            "ÉÉ ",
            "ERROR",
            "error",
            "warn:",
            "WORD",
            "WORDS",
            "١٢",
            "\t",
            "\u{2003}",
            "TRACEBACK",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let texts: Vec<String> = (0..20_000)
            .map(|_| (0..next(5)).map(|_| frags[next(frags.len())]).collect())
            .collect();
        for p in patterns {
            let re = Regex::new(p).unwrap();
            let shapes = StartShapes::of(p);
            let mut sure = 0;
            for t in texts.iter().map(String::as_str).chain(frags) {
                if shapes.sure_match(t.as_bytes()) {
                    assert!(re.is_match(t), "{p:?} on {t:?}");
                    sure += 1;
                }
            }
            if p == builtin.as_str() || p == START {
                assert!(sure > 100, "{p:?}: the fast path is taken ({sure})");
            }
        }
        // What the fast path covers of the built-in start pattern.
        let b = StartShapes::of(builtin.as_str());
        for yes in [
            "2026-11-27 08:01:50.446 | INFO     | x",
            "{\"ts\": 1}",
            "Exception in ASGI application",
        ] {
            assert!(b.sure_match(yes.as_bytes()), "{yes}");
        }
        for no in [
            "  File \"x\"",
            "2026-11-27 08:01:50 | x",
            "٢026-11-27 08:01:50.446 | ",
        ] {
            assert!(!b.sure_match(no.as_bytes()), "{no}");
        }
        assert!(StartShapes::of(r"x*").shapes.is_empty());
        assert!(StartShapes::of(r"a^b").shapes.is_empty());
    }
}
