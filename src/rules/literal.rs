//! Required literals of a regex, for the prefilter: sets of literals such
//! that every match of the pattern contains one literal of each set, found in
//! the pattern's syntax tree (regex-syntax's HIR), not only at its start.
//! Pure functions of the pattern; the prefilter itself is `RuleSet`'s.

use regex_syntax::hir::literal::{ExtractKind, Extractor, Seq};
use regex_syntax::hir::{Hir, HirKind};

/// Largest character class spelled out into literals (`[Oo]`, from `(?i)`,
/// yes; `[0-9]`, no: ten variants of every literal after it would crowd the
/// SIMD searcher, as `\d` in Unicode mode never did).
const CLASS_LIMIT: usize = 4;

/// Shortest literal worth a prefilter entry: shorter ones occur everywhere.
pub(super) const MIN_LITERAL: usize = 3;
/// Most literals one rule may add to the prefilter.
const MAX_LITERALS: usize = 64;
/// How deep [`collect`] descends into groups and alternations.
const MAX_DEPTH: usize = 8;
/// Most items of a concatenation one extraction looks at (bounds the work on long patterns).
const WINDOW: usize = 16;

/// Most literal sets kept per rule (the set bits of a `u8`, and plenty).
const MAX_SETS: usize = 3;
/// Shortest literal of a second or third set: they only thin out candidates.
const MIN_EXTRA_LITERAL: usize = 4;

/// Literals of which at least one occurs in every match of `pattern` (the best
/// of [`required_literal_sets`]), or `None` when the pattern has no selective ones.
#[cfg(test)]
pub(super) fn required_literals(pattern: &str) -> Option<Vec<Vec<u8>>> {
    required_literal_sets(pattern).into_iter().next()
}

/// Up to [`MAX_SETS`] literal sets such that every match of `pattern` contains a
/// literal of each; empty when the pattern has no selective ones (then the rule
/// is tried on every record).
///
/// Not only the prefix and suffix sets of the whole pattern are candidates: any
/// match of a concatenation `a b c` contains a match of each tail (`b c`, `c`)
/// and of each head (`a b`), so the prefix set of every tail and the suffix set
/// of every head are required too (also when cut short: any match holds a match
/// of each contiguous run of items); so are those of a group repeated at least
/// once, and the union of the alternatives' best sets for an alternation. The
/// first set is the one whose shortest literal is the longest (at least
/// [`MIN_LITERAL`] bytes, at most [`MAX_LITERALS`] literals); the others are
/// the next best that share no literal (or piece of one) with those chosen.
pub(super) fn required_literal_sets(pattern: &str) -> Vec<Vec<Vec<u8>>> {
    // The same syntax defaults as `regex::Regex::new`, which compiled the rule.
    let Ok(hir) = regex_syntax::ParserBuilder::new().build().parse(pattern) else {
        return Vec::new();
    };
    let mut cands = Vec::new();
    collect(&hir, 0, &mut cands);
    // Stable: among equals, the first found wins.
    cands.sort_by_key(|c| std::cmp::Reverse(score(c)));
    let mut chosen: Vec<Vec<Vec<u8>>> = Vec::new();
    for c in cands {
        if chosen.len() == MAX_SETS {
            break;
        }
        let related = |a: &[u8], b: &[u8]| contains(a, b) || contains(b, a);
        if chosen.is_empty()
            || (c.iter().all(|l| l.len() >= MIN_EXTRA_LITERAL)
                && !chosen
                    .iter()
                    .flatten()
                    .any(|k| c.iter().any(|l| related(k, l))))
        {
            chosen.push(c);
        }
    }
    chosen
}

/// The best required set of `hir` alone.
fn best_literals(hir: &Hir, depth: usize) -> Option<Vec<Vec<u8>>> {
    let mut cands = Vec::new();
    collect(hir, depth, &mut cands);
    let mut best: Option<Vec<Vec<u8>>> = None;
    for c in cands {
        if best.as_ref().map_or(true, |b| score(&c) > score(b)) {
            best = Some(c);
        }
    }
    best
}

/// Pushes every required literal set found in `hir` (see [`required_literal_sets`]).
fn collect(hir: &Hir, depth: usize, out: &mut Vec<Vec<Vec<u8>>>) {
    out.extend(extract(hir, true));
    out.extend(extract(hir, false));
    if depth >= MAX_DEPTH {
        return;
    }
    match hir.kind() {
        HirKind::Capture(c) => collect(&c.sub, depth + 1, out),
        HirKind::Repetition(r) if r.min >= 1 => collect(&r.sub, depth + 1, out),
        HirKind::Alternation(alts) => {
            // A match is a match of one alternative, so it holds one of that one's literals.
            let mut union = Vec::new();
            for a in alts {
                let Some(best) = best_literals(a, depth + 1) else {
                    return;
                };
                union.extend(best);
            }
            out.extend(usable(union, false));
        }
        HirKind::Concat(_) => {
            let mut items = Vec::new();
            flatten(hir, &mut items);
            for i in 0..items.len() {
                // Any match holds a match of the tail items[i..] and of the head items[..=i].
                let tail = &items[i..items.len().min(i + WINDOW)];
                out.extend(extract(&Hir::concat(tail.to_vec()), true));
                let head = &items[(i + 1).saturating_sub(WINDOW)..=i];
                out.extend(extract(&Hir::concat(head.to_vec()), false));
                // And a match of every item.
                if matches!(
                    items[i].kind(),
                    HirKind::Alternation(_) | HirKind::Repetition(_)
                ) {
                    collect(&items[i], depth + 1, out);
                }
            }
        }
        _ => {}
    }
}

/// Most literals for the first prefilter step: Aho-Corasick's SIMD searcher
/// (Teddy) takes up to 64, and up to 32 in its faster "slim" form (measured: a
/// few percent faster than 64 longer ones with the built-in rules).
const FIRST_STEP_LITERALS: usize = 32;

/// The literals for the first step: every literal's first bytes, cut shorter
/// until there are few enough (but not below [`MIN_LITERAL`] + 1 bytes), without
/// those that start with another. Wherever a full literal occurs, one of these
/// does too (at the same place).
pub(super) fn first_step_literals(lits: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut keep = lits.iter().map(Vec::len).max().unwrap_or(0);
    loop {
        let mut cut: Vec<Vec<u8>> = lits
            .iter()
            .map(|l| l[..l.len().min(keep)].to_vec())
            .collect();
        cut.sort();
        cut.dedup();
        // Sorted, a literal's prefixes come right before it (or before those it prefixes).
        let mut out: Vec<Vec<u8>> = Vec::with_capacity(cut.len());
        for l in cut {
            if !out.last().is_some_and(|p| l.starts_with(p)) {
                out.push(l);
            }
        }
        if out.len() <= FIRST_STEP_LITERALS || keep <= MIN_LITERAL + 1 {
            return out;
        }
        keep -= 1;
    }
}

/// Drops the leading spaces and punctuation of each literal (keeping at least
/// [`MIN_LITERAL`] + 1 bytes): a piece of a required literal is required too, and
/// the SIMD searcher keys on a literal's first bytes, which are then rarer in
/// log text than `" - "` or `" | "`.
pub(super) fn trim_lead(lits: &mut Vec<Vec<u8>>) {
    for l in lits.iter_mut() {
        let lead = l
            .iter()
            .take_while(|b| b.is_ascii_punctuation() || b.is_ascii_whitespace())
            .count()
            .min(l.len().saturating_sub(MIN_LITERAL + 1));
        l.drain(..lead);
    }
    minimize(lits);
}

/// The items of a concatenation, with nested concatenations and capture groups
/// dissolved (a group matches what its contents match, so the language is the same).
fn flatten(hir: &Hir, out: &mut Vec<Hir>) {
    match hir.kind() {
        HirKind::Concat(subs) => subs.iter().for_each(|s| flatten(s, out)),
        HirKind::Capture(c) => flatten(&c.sub, out),
        _ => out.push(hir.clone()),
    }
}

/// The prefix (or suffix) literal set of `hir`, made usable.
fn extract(hir: &Hir, prefix: bool) -> Option<Vec<Vec<u8>>> {
    let kind = if prefix {
        ExtractKind::Prefix
    } else {
        ExtractKind::Suffix
    };
    let seq: Seq = Extractor::new()
        .kind(kind)
        .limit_class(CLASS_LIMIT)
        .extract(hir);
    let lits = seq.literals()?;
    usable(
        lits.iter().map(|l| l.as_bytes().to_vec()).collect(),
        !prefix,
    )
}

/// Turns a required set into a prefilter set: drops literals that contain another
/// one (the shorter occurs whenever the longer does), then, while there are too
/// many, cuts the literals to their first bytes (their last with `from_end`, for
/// suffix sets) — any piece of a required literal occurs wherever it does. `None`
/// when a literal is shorter than [`MIN_LITERAL`] or the set stays too big.
fn usable(mut lits: Vec<Vec<u8>>, from_end: bool) -> Option<Vec<Vec<u8>>> {
    if lits.is_empty() || lits.iter().any(|l| l.len() < MIN_LITERAL) {
        return None;
    }
    minimize(&mut lits);
    if lits.len() > MAX_LITERALS {
        let longest = lits.iter().map(Vec::len).max().unwrap_or(0);
        for keep in (MIN_LITERAL..longest).rev() {
            for l in &mut lits {
                if l.len() > keep {
                    if from_end {
                        l.drain(..l.len() - keep);
                    } else {
                        l.truncate(keep);
                    }
                }
            }
            minimize(&mut lits);
            if lits.len() <= MAX_LITERALS {
                break;
            }
        }
    }
    (lits.len() <= MAX_LITERALS).then_some(lits)
}

/// Sorts, dedups and drops every literal that contains another one.
fn minimize(lits: &mut Vec<Vec<u8>>) {
    lits.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
    lits.dedup();
    let mut kept: Vec<Vec<u8>> = Vec::with_capacity(lits.len());
    for l in lits.drain(..) {
        if !kept.iter().any(|k| contains(&l, k)) {
            kept.push(l);
        }
    }
    *lits = kept;
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    // Literals are short: comparing windows costs less than setting up a
    // memmem searcher, which loading the rules did thousands of times.
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Higher is better: the longest shortest literal, then the fewest literals.
fn score(lits: &[Vec<u8>]) -> (usize, std::cmp::Reverse<usize>) {
    let shortest = lits.iter().map(Vec::len).min().unwrap_or(0);
    (shortest, std::cmp::Reverse(lits.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_extraction() {
        assert!(required_literals(r#""POST /api/v1/files/?"#).is_some());
        assert!(required_literals(r"^\d{4}-\d{2}").is_none());
        assert_eq!(
            required_literals(r"^\d{4}-\d{2} \| ERROR"),
            Some(vec![b" | ERROR".to_vec()])
        );
        assert!(required_literals(r".*").is_none());
    }

    fn strs(lits: Option<Vec<Vec<u8>>>) -> Option<Vec<String>> {
        lits.map(|v| {
            v.into_iter()
                .map(|l| String::from_utf8(l).unwrap())
                .collect()
        })
    }

    #[test]
    fn inner_literal_extraction() {
        // Inside a concatenation, past an unselective prefix, through capture groups.
        assert_eq!(
            strs(required_literals(
                r#"(?P<client>[0-9A-Fa-f.:]+):\d+ - "DELETE /api/v1/files/(?P<id>[0-9a-f-]{36}) HTTP"#
            )),
            Some(vec![r#" - "DELETE /api/v1/files/"#.to_string()])
        );
        assert_eq!(
            strs(required_literals(r"(\w+) failed (login|auth)")),
            Some(vec![
                " failed auth".to_string(),
                " failed login".to_string()
            ])
        );
        assert_eq!(
            strs(required_literals(
                r"^\d{4} \| (?P<level>ERROR|CRITICAL) +\| \w+"
            )),
            Some(vec![" | ERROR ".to_string(), " | CRITICAL ".to_string()])
        );
        // An alternation: one literal set per alternative.
        assert_eq!(
            strs(required_literals(r"\d+ (?:widgets|gadgets)|x\d+yzw")),
            Some(vec!["yzw".into(), " gadgets".into(), " widgets".into()])
        );
        // Case-insensitive: few enough variants work, too many fall back.
        assert_eq!(required_literals(r"(?i)\d+ oom").map(|v| v.len()), Some(8));
        assert!(required_literals(r"(?i)\d+ out of memory").is_some_and(|v| v.len() <= 64));
        assert!(required_literals(r"(?i)(?:ab|cd)").is_none());
        // Nothing selective: always run.
        assert!(required_literals(r"^\w+=\d+$").is_none());
        assert!(required_literals(r"a|\d+").is_none());
        assert!(required_literals(r"(?:abc)?\d+").is_none());
        assert!(required_literals(r"(abc)*").is_none());
    }
}
