//! Rules: loading rule files (spec §5) into an immutable [`RuleSet`] and
//! matching records against it fast.
//!
//! Speed comes from a literal prefilter. For every rule, `literal` finds up
//! to three sets of literals such that any match contains one literal of each
//! set: not only the pattern's prefix or suffix, but those of every piece of
//! its top-level concatenation too. A record first gets one
//! leftmost-first Aho-Corasick search for the rules' main literals (SIMD Teddy),
//! so a record that matches nothing costs about one pass over its bytes. Only on
//! a hit does an overlapping scan list the literals that occur; a rule whose
//! every set is represented is a candidate, and only candidates run their regex.
//! Rules without usable literals run their regex on every record.

pub mod compile;
pub mod correlate;
pub mod file;
pub mod limit;
mod literal;
pub mod reload;
pub mod template;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex::CaptureLocations;

pub use compile::{LazyRegex, Messages, Rule, StreamFilter, Threshold};
pub use correlate::{Correlator, Key, Ready};
pub use file::RuleFileError;
pub use limit::Limiter;

use crate::config::RuleSources;
use crate::record::{AssembleConfig, Record};
use compile::Compiled;
use file::Source;
use literal::{first_step_literals, required_literal_sets, trim_lead};

/// The built-in rule packs, embedded in the binary. The Docker lifecycle pack has
/// no `[record]`, so Open WebUI's record settings stay in force.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "builtin:docker.toml",
        include_str!("../../rules/docker.toml"),
    ),
    (
        "builtin:openwebui.toml",
        include_str!("../../rules/openwebui.toml"),
    ),
];

/// An error loading rules: a file that cannot be read, or one that is wrong.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: cannot read rules: {reason}; check BRIDGE_RULES / --rules and that the file is mounted")]
    Read { path: String, reason: String },
    #[error("{0}")]
    Invalid(#[from] RuleFileError),
    #[error("{path}: no rule files (*.toml) in this folder; put rule files there or remove it from BRIDGE_RULES")]
    EmptyDir { path: String },
}

/// Compiled rules plus the record-assembly settings, shared read-only.
pub struct RuleSet {
    rules: Vec<Rule>,
    assemble: AssembleConfig,
    prefilter: Option<Prefilter>,
    /// Rules with no usable literal: always tried (in rule order).
    always: Vec<usize>,
    /// Per rule, its named groups as (name, group index), for the data fields.
    groups: Vec<Vec<(String, usize)>>,
    /// Tells one `RuleSet` from another, so a [`Scratch`] never reuses capture
    /// slots made for another set's regexes.
    id: u64,
    files: Vec<String>,
}

/// The two-step literal prefilter over the literals of every prefiltered rule.
struct Prefilter {
    /// Leftmost-first over the rules' first sets, cut to at most
    /// [`FIRST_STEP_LITERALS`] literals (see [`first_step_literals`]): does any
    /// occur? Leftmost-first and few literals let Aho-Corasick use its SIMD
    /// (Teddy) searcher.
    any: AhoCorasick,
    /// All distinct literals of all sets, overlapping: which occur (only after a hit).
    all: AhoCorasick,
    /// For each distinct literal, the (rule, set bit) pairs it stands for.
    literal_sets: Vec<Vec<(usize, u8)>>,
    /// Per rule, the bits of all its sets (0: no sets, always tried).
    need: Vec<u8>,
}

static NEXT_SET_ID: AtomicU64 = AtomicU64::new(1);

/// Up to this many literals the second step is a DFA (about 0.7 MB for the
/// ~130 of the built-in rules); beyond, Aho-Corasick picks (a compact NFA).
const MAX_DFA_LITERALS: usize = 256;

/// One rule matched one record: the rule's index and its data fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub rule: usize,
    pub data: Vec<(String, String)>,
}

/// Each rule's required literal sets, in rule order. Extracting them is
/// most of the work of loading rules, and rules are independent, so it is
/// shared out over the cores (the calling thread takes a share too).
fn literal_sets_of(rules: &[Rule]) -> Vec<Vec<Vec<Vec<u8>>>> {
    let patterns: Vec<&str> = rules.iter().map(|r| r.regex.as_str()).collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, patterns.len().max(1));
    let share = |t: usize| -> Vec<(usize, Vec<Vec<Vec<u8>>>)> {
        patterns
            .iter()
            .enumerate()
            .skip(t)
            .step_by(threads)
            .map(|(i, p)| (i, required_literal_sets(p)))
            .collect()
    };
    let mut out = vec![Vec::new(); patterns.len()];
    std::thread::scope(|scope| {
        let others: Vec<_> = (1..threads)
            .map(|t| scope.spawn(move || share(t)))
            .collect();
        let mine = share(0);
        let theirs = others
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        for (i, sets) in mine.into_iter().chain(theirs) {
            out[i] = sets;
        }
    });
    out
}

/// Remembered data nobody waits for is stored only when some rule can
/// `recall` its key family: audit lines for every request would otherwise
/// pile up in memory for nothing.
fn mark_recalled_keys(rules: &mut [Rule]) {
    let recalled: std::collections::HashSet<String> = rules
        .iter()
        .flat_map(|r| [&r.recall, &r.skip_after])
        .filter_map(|w| w.as_ref().map(|(k, _)| k.family().to_string()))
        .collect();
    for r in rules.iter_mut() {
        if let Some(k) = &mut r.remember {
            k.recalled = recalled.contains(k.family());
        }
    }
}

/// Reusable scratch space for matching, one per matching task.
#[derive(Default)]
pub struct Scratch {
    /// Per rule, the bits of the sets seen in this record.
    seen: Vec<u8>,
    /// Rules with a bit in `seen`, to clear it afterwards.
    touched: Vec<usize>,
    candidates: Vec<usize>,
    /// Capture slots per rule, made on first use, for the set `locs_for`.
    locs: Vec<Option<CaptureLocations>>,
    locs_for: u64,
}

impl RuleSet {
    /// Loads the built-in pack (when asked) and then the files, in order.
    pub fn load(sources: &RuleSources) -> Result<RuleSet, LoadError> {
        let mut texts: Vec<(String, String)> = Vec::new();
        if sources.builtin {
            texts.extend(BUILTIN.iter().map(|(n, t)| (n.to_string(), t.to_string())));
        }
        for p in &sources.paths {
            texts.extend(read_rule_path(p)?);
        }
        RuleSet::from_texts(&texts)
    }

    /// Compiles rule files given as (name, text); later files override earlier ids.
    pub fn from_texts(texts: &[(String, String)]) -> Result<RuleSet, LoadError> {
        let mut rules: Vec<Rule> = Vec::new();
        let mut assemble = AssembleConfig::default();
        for (name, text) in texts {
            let src = Source { name, text };
            let raw = src.parse()?;
            if let Some(rec) = &raw.record {
                assemble = compile::compile_record(&src, rec)?;
            }
            let mut ids_here: Vec<&str> = Vec::new();
            for r in &raw.rule {
                let id = r.id.get_ref().trim();
                if ids_here.contains(&id) {
                    return Err(src.error_at(r.id.span().start, format!("rule id '{id}' is used twice in this file"), Some("give each rule its own id (a later file may reuse an id to replace a rule)".into())).into());
                }
                ids_here.push(id);
                match compile::compile_rule(&src, r)? {
                    Compiled::Disable(id) => rules.retain(|x| x.id != id),
                    Compiled::Rule(rule) => match rules.iter_mut().find(|x| x.id == rule.id) {
                        Some(slot) => *slot = *rule,
                        None => rules.push(*rule),
                    },
                }
            }
        }
        Ok(RuleSet::build(
            rules,
            assemble,
            texts.iter().map(|(n, _)| n.clone()).collect(),
        ))
    }

    fn build(mut rules: Vec<Rule>, assemble: AssembleConfig, files: Vec<String>) -> RuleSet {
        mark_recalled_keys(&mut rules);
        let mut literals: Vec<Vec<u8>> = Vec::new();
        let mut literal_sets: Vec<Vec<(usize, u8)>> = Vec::new();
        let mut first_sets: Vec<Vec<u8>> = Vec::new();
        let mut need = vec![0u8; rules.len()];
        let mut always = Vec::new();
        for (i, sets) in literal_sets_of(&rules).into_iter().enumerate() {
            if sets.is_empty() {
                always.push(i);
                continue;
            }
            for (k, mut lits) in sets.into_iter().enumerate() {
                trim_lead(&mut lits);
                let bit = 1u8 << k;
                need[i] |= bit;
                for l in lits {
                    if k == 0 {
                        first_sets.push(l.clone());
                    }
                    match literals.iter().position(|x| *x == l) {
                        Some(j) => literal_sets[j].push((i, bit)),
                        None => {
                            literals.push(l);
                            literal_sets.push(vec![(i, bit)]);
                        }
                    }
                }
            }
        }
        let prefilter = if literals.is_empty() {
            None
        } else {
            let first = first_step_literals(&first_sets);
            // A DFA scans the second step's long records faster (measured: ~14% of
            // matching with the built-in rules) and stays small for this many literals.
            let kind = (literals.len() <= MAX_DFA_LITERALS).then_some(AhoCorasickKind::DFA);
            match (
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostFirst)
                    .build(&first)
                    .ok(),
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .kind(kind)
                    .build(&literals)
                    .ok(),
            ) {
                (Some(any), Some(all)) => Some(Prefilter {
                    any,
                    all,
                    literal_sets,
                    need,
                }),
                _ => None,
            }
        };
        if prefilter.is_none() {
            always = (0..rules.len()).collect();
        }
        let groups = rules
            .iter()
            .map(|r| {
                r.regex
                    .capture_names()
                    .enumerate()
                    .filter_map(|(i, n)| n.map(|n| (n.to_string(), i)))
                    .collect()
            })
            .collect();
        RuleSet {
            rules,
            assemble,
            prefilter,
            always,
            groups,
            id: NEXT_SET_ID.fetch_add(1, Ordering::Relaxed),
            files,
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
    pub fn assemble_config(&self) -> &AssembleConfig {
        &self.assemble
    }
    pub fn files(&self) -> &[String] {
        &self.files
    }
    /// How many rules are reached only through the literal prefilter.
    pub fn prefiltered(&self) -> usize {
        self.rules.len() - self.always.len()
    }

    /// Every rule that matches `rec`, in rule order, with its data.
    pub fn matches(&self, rec: &Record, scratch: &mut Scratch, out: &mut Vec<Hit>) {
        let text = rec.text.as_str();
        scratch.candidates.clear();
        if let Some(pf) = &self.prefilter {
            // Step 1, for every record: does any rule's first-set literal occur at all?
            if pf.any.is_match(text) {
                // Step 2, rarely: which literals occur (from the start: a later
                // set's literal may come before the first set's).
                if scratch.seen.len() != self.rules.len() {
                    scratch.seen = vec![0; self.rules.len()];
                }
                for m in pf.all.find_overlapping_iter(text) {
                    for &(r, bit) in &pf.literal_sets[m.pattern().as_usize()] {
                        let seen = &mut scratch.seen[r];
                        if *seen & bit == 0 {
                            if *seen == 0 {
                                scratch.touched.push(r);
                            }
                            *seen |= bit;
                            if *seen == pf.need[r] {
                                scratch.candidates.push(r);
                            }
                        }
                    }
                }
                for &r in &scratch.touched {
                    scratch.seen[r] = 0;
                }
                scratch.touched.clear();
            }
        }
        if scratch.candidates.is_empty() && self.always.is_empty() {
            return;
        }
        scratch.candidates.extend_from_slice(&self.always);
        scratch.candidates.sort_unstable();
        if scratch.locs_for != self.id || scratch.locs.len() != self.rules.len() {
            scratch.locs.clear();
            scratch.locs.resize_with(self.rules.len(), || None);
            scratch.locs_for = self.id;
        }
        for &i in &scratch.candidates {
            let rule = &self.rules[i];
            if !rule.stream.accepts(rec.stream) {
                continue;
            }
            let Some(regex) = rule.regex.get() else {
                continue;
            };
            let locs = scratch.locs[i].get_or_insert_with(|| regex.capture_locations());
            if regex.captures_read(locs, text).is_none() {
                continue;
            }
            if ignored(rule, text) {
                continue;
            }
            out.push(Hit {
                rule: i,
                data: extract_data(rule, &self.groups[i], locs, text),
            });
        }
    }
}

/// Whether the rule's `ignore` pattern matches (then it does not fire).
fn ignored(rule: &Rule, text: &str) -> bool {
    rule.ignore
        .as_ref()
        .and_then(LazyRegex::get)
        .is_some_and(|ig| ig.is_match(text))
}

fn extract_data(
    rule: &Rule,
    groups: &[(String, usize)],
    locs: &CaptureLocations,
    text: &str,
) -> Vec<(String, String)> {
    rule_data(rule, |name| {
        let &(_, i) = groups.iter().find(|(n, _)| n == name)?;
        locs.get(i).map(|(s, e)| &text[s..e])
    })
}

/// A hit's data: the named groups that matched (`group` looks one up), then
/// `[rule.data]` rendered over them (`{rule}` and `{event}` too), replacing
/// a group of the same name.
fn rule_data<'a>(rule: &'a Rule, group: impl Fn(&str) -> Option<&'a str>) -> Vec<(String, String)> {
    let mut data: Vec<(String, String)> = rule
        .captures
        .iter()
        .filter_map(|name| group(name).map(|v| (name.clone(), v.to_string())))
        .collect();
    for (key, tpl) in &rule.data {
        let value = tpl.render_value(|k| match k {
            "rule" => Some(rule.id.as_str()),
            "event" => Some(rule.event.as_str()),
            _ => group(k),
        });
        if let Some(value) = value {
            data.retain(|(k, _)| k != key);
            data.push((key.clone(), value));
        }
    }
    data
}

/// A rule path: a file, or a folder whose `*.toml` files load in name order.
fn read_rule_path(p: &Path) -> Result<Vec<(String, String)>, LoadError> {
    let read = |f: &Path| {
        std::fs::read_to_string(f)
            .map(|t| (f.display().to_string(), t))
            .map_err(|e| LoadError::Read {
                path: f.display().to_string(),
                reason: e.to_string(),
            })
    };
    let meta = std::fs::metadata(p).map_err(|e| LoadError::Read {
        path: p.display().to_string(),
        reason: e.to_string(),
    })?;
    if !meta.is_dir() {
        return Ok(vec![read(p)?]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(p)
        .map_err(|e| LoadError::Read {
            path: p.display().to_string(),
            reason: e.to_string(),
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|f| {
            f.extension().is_some_and(|x| x == "toml")
                && !f
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(LoadError::EmptyDir {
            path: p.display().to_string(),
        });
    }
    files.iter().map(|f| read(f)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Language;
    use crate::record::{Cursor, Stream};

    fn set(text: &str) -> Result<RuleSet, LoadError> {
        RuleSet::from_texts(&[("t.toml".into(), text.into())])
    }

    fn rec(text: &str) -> Record {
        Record {
            stream: Stream::Stdout,
            ts: None,
            first_line: 1,
            text: text.into(),
            truncated_lines: 0,
            start: Cursor::Offset(0),
            end: Cursor::Offset(0),
        }
    }

    fn hits(rs: &RuleSet, text: &str) -> Vec<(String, Vec<(String, String)>)> {
        let mut out = Vec::new();
        rs.matches(&rec(text), &mut Scratch::default(), &mut out);
        out.into_iter()
            .map(|h| (rs.rules()[h.rule].id.clone(), h.data))
            .collect()
    }

    const UPLOAD: &str = r#"
[[rule]]
id = "up"
event = "file.uploaded"
match = '"POST /api/v1/files/?(?:\?\S*)? HTTP/[\d.]+" (?P<status>2\d\d)'
[rule.data]
summary = "upload {status}"
[rule.message]
text = "📎 {summary}"
"#;

    #[test]
    fn named_captures_and_templates_become_data() {
        let rs = set(UPLOAD).unwrap();
        assert_eq!(rs.prefiltered(), 1);
        let h = hits(
            &rs,
            r#"2026-11-27 08:01:50.392 | INFO     | uvicorn.protocols.http.httptools_impl:send:482 - 127.0.0.1:38040 - "POST /api/v1/files/ HTTP/1.1" 200"#,
        );
        assert_eq!(
            h,
            vec![(
                "up".to_string(),
                vec![
                    ("status".into(), "200".into()),
                    ("summary".into(), "upload 200".into())
                ]
            )]
        );
        assert!(hits(&rs, r#""POST /api/v1/files/ HTTP/1.1" 400"#).is_empty());
        assert!(hits(&rs, "nothing here").is_empty());
    }

    #[test]
    fn a_data_value_of_fields_alone_is_left_out_when_none_matched() {
        let rs = set(r#"
[[rule]]
id = "m"
event = "model.changed"
match = 'toggle(?:\?id=(?P<model_id>\S+)|(?P<other>!))?'
[rule.data]
model_id = "{model_id|url_decode}"
either = "{model_id}{other}"
labelled = "model {model_id}"
src = "{rule}"
empty = ""
"#)
        .unwrap();
        let with = hits(&rs, "toggle?id=llama3.1%3A8b");
        assert_eq!(
            with[0].1,
            vec![
                ("either".into(), "llama3.1%3A8b".into()),
                ("empty".into(), "".into()),
                ("labelled".into(), "model llama3.1%3A8b".into()),
                ("model_id".into(), "llama3.1:8b".into()),
                ("src".into(), "m".into()),
            ]
        );
        let without = hits(&rs, "toggle");
        assert_eq!(
            without[0].1,
            vec![
                ("empty".into(), "".into()),
                ("labelled".into(), "model ".into()),
                ("src".into(), "m".into()),
            ],
            "fields alone, none matched: left out; text, {{rule}} and \"\" stay"
        );
    }

    #[test]
    fn ignore_and_stream_and_always_rules() {
        let rs = set(r#"
[[rule]]
id = "err"
event = "error.occurred"
match = '^\d{4}-\d{2}-\d{2} [\d:.]+ \| (?P<level>ERROR|CRITICAL) '
ignore = 'No embedding model'
stream = "stdout"
"#)
        .unwrap();
        assert_eq!(
            rs.prefiltered(),
            1,
            "the suffix literals ERROR/CRITICAL reach it"
        );
        assert_eq!(hits(&rs, "2026-11-27 08:01:50.446 | ERROR    | x").len(), 1);
        assert_eq!(
            hits(&rs, "2026-11-27 08:01:50.446 | INFO     | ERROR x").len(),
            0
        );
        assert_eq!(hits(&rs, "2026-11-27 08:01:50.446 | ERROR | x").len(), 1);
        assert_eq!(
            hits(&rs, "2026-11-27 08:01:50.446 | ERROR | No embedding model").len(),
            0
        );
        let mut out = Vec::new();
        let mut r = rec("2026-11-27 08:01:50.446 | ERROR | x");
        r.stream = Stream::Stderr;
        rs.matches(&r, &mut Scratch::default(), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn later_files_replace_and_disable_by_id() {
        let rs = RuleSet::from_texts(&[
            ("a.toml".into(), UPLOAD.into()),
            (
                "b.toml".into(),
                "[[rule]]\nid = \"up\"\nevent = \"file.added\"\nmatch = 'added'\n".into(),
            ),
        ])
        .unwrap();
        assert_eq!(rs.rules().len(), 1);
        assert_eq!(rs.rules()[0].event, "file.added");
        let rs = RuleSet::from_texts(&[
            ("a.toml".into(), UPLOAD.into()),
            (
                "b.toml".into(),
                "[[rule]]\nid = \"up\"\nenabled = false\n".into(),
            ),
        ])
        .unwrap();
        assert!(rs.rules().is_empty());
    }

    fn err(text: &str) -> String {
        match set(text) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("expected an error"),
        }
    }

    #[test]
    fn correlation_keys_are_checked_where_they_are_written() {
        let e = err("[[rule]]\nid = \"k\"\nevent = \"a.b\"\nmatch = '(?P<method>GET) (?P<path>\\S+)'\nwait_for = { key = \"audit {methd} {path}\" }\n");
        assert!(
            e.starts_with("t.toml:5:27: rule 'k': wait_for key: {methd} names no field of this rule; the fields are: method, path"),
            "{e}"
        );
        assert!(
            e.contains("wait_for = { key = \"signin\", within = \"10s\" }"),
            "{e}"
        );
        // After a recall, remember and wait_for may use what it brings.
        assert!(set("[[rule]]\nid = \"k\"\nevent = \"a.b\"\nmatch = 'x'\nrecall = { key = \"s\" }\nwait_for = { key = \"a {email}\" }\n").is_ok());
        let e = err("[[rule]]\nid = \"k\"\nmatch = 'x(?P<a>y)'\nremember = \"k {a}\"\nwait_for = { key = \"z\" }\n");
        assert!(
            e.contains("wait_for on a rule without an event waits for nothing"),
            "{e}"
        );
        let e = err(
            "[[rule]]\nid = \"k\"\nevent = \"a.b\"\nmatch = '(?P<a>y)'\ncooldown_key = \"e {a}\"\n",
        );
        assert!(e.contains("cooldown_key without a cooldown"), "{e}");
        let e =
            err("[[rule]]\nid = \"k\"\nevent = \"a.b\"\nmatch = 'y'\ncooldown_count = \"saves\"\n");
        assert!(
            e.starts_with("t.toml:5:18: rule 'k': cooldown_count without a cooldown"),
            "{e}"
        );
        let e = err("[[rule]]\nid = \"k\"\nevent = \"a.b\"\nmatch = 'y'\ncooldown = \"5m\"\ncooldown_count = \"2 saves\"\n");
        assert!(
            e.contains("cooldown_count '2 saves' is not a field name"),
            "{e}"
        );
        let e = err("[[rule]]\nid = \"k\"\nmatch = '(?P<a>y)'\nremember = \"k {a}\"\nskip_after = { key = \"z\" }\n");
        assert!(
            e.contains("skip_after on a rule without an event skips nothing"),
            "{e}"
        );
        let e = err("[[rule]]\nid = \"k\"\nevent = \"a.b\"\nmatch = '(?P<a>y)'\nskip_after = { key = \"new {b}\" }\n");
        assert!(
            e.contains("skip_after key: {b} names no field of this rule"),
            "{e}"
        );
        // Messages may name what the threshold and the cooldown add; data may not.
        assert!(set("[[rule]]\nid = \"k\"\nevent = \"a.b\"\nmatch = 'y'\ncooldown = \"5m\"\ncooldown_count = \"saves\"\n[rule.message]\ntext = \"{saves} saves\"\n").is_ok());
        assert!(set("[[rule]]\nid = \"k\"\nevent = \"a.b\"\nmatch = 'y'\nthreshold = { count = 2, within = \"1m\" }\ncooldown = \"5m\"\n[rule.message]\ntext = \"{count} times, {suppressed} held\"\n").is_ok());
        let e = err("[[rule]]\nid = \"k\"\nevent = \"a.b\"\nmatch = 'y'\ncooldown = \"5m\"\n[rule.data]\nn = \"{suppressed}\"\n");
        assert!(e.contains("{suppressed} names no field"), "{e}");
    }

    #[test]
    fn errors_name_file_line_column_and_fix() {
        assert_eq!(
            err("[[rule]]\nid = \"x\"\nevent = \"a.b\"\nmatch = 'user=(\\w+ failed'\n"),
            "t.toml:4:15: rule 'x': match: invalid pattern: unclosed group; fix the pattern (Rust regex syntax), then try it with 'owui-bridge test-rules --rules <this file> <sample.log>'"
        );
        let e = err("[[rule]]\nid = \"x\"\nevent = \"a.b\"\nmatchh = 'a'\n");
        assert!(
            e.starts_with("t.toml:4:1: invalid rule file: unknown field `matchh`"),
            "{e}"
        );
        assert!(e.contains("check the spelling"), "{e}");
        let e = err("[[rule]]\nid = \"x\"\nevent = \"a.b\"\nmatch = 'a'\n[[rule]]\nid = \"x\"\nevent = \"a.b\"\nmatch = 'b'\n");
        assert!(
            e.starts_with("t.toml:6:6: rule id 'x' is used twice in this file"),
            "{e}"
        );
        let e = err("[[rule]]\nid = \"x\"\nevent = \"a.b\"\nmatch = '(?P<client>a)'\ncooldown = \"30 parsecs\"\n");
        assert!(
            e.starts_with("t.toml:5:12: cooldown: '30 parsecs' has an unknown unit"),
            "{e}"
        );
        let e = err("[[rule]]\nid = \"x\"\nevent = \"a.b\"\nmatch = '(?P<client>a)'\n[rule.data]\nx = \"from {clinet}\"\n");
        assert_eq!(e, "t.toml:6:11: rule 'x': data.x: {clinet} names no field of this rule; the fields are: client, rule, event");
        let e = err("[[rule]]\nid = \"x\"\nevent = \"Bad Name\"\nmatch = 'a'\n");
        assert!(
            e.starts_with("t.toml:3:9: rule 'x': 'Bad Name' is not an event name"),
            "{e}"
        );
        let e = err("[[rule]]\nid = \"x\"\nevent = \"a.b\"\nmatch = '(?<=a)b'\n");
        assert!(e.contains("look-around") || e.contains("look-ahead"), "{e}");
        let e = err("[[rule]\nid = 1");
        assert!(e.starts_with("t.toml:1:"), "{e}");
    }

    #[test]
    fn threshold_group_must_be_a_capture() {
        let e = err("[[rule]]\nid = \"x\"\nevent = \"a.b\"\nmatch = '(?P<email>\\S+) failed'\nthreshold = { count = 5, within = \"60s\", group_by = \"mail\" }\n");
        assert!(
            e.contains("threshold.group_by 'mail' is not a named group"),
            "{e}"
        );
        assert!(set("[[rule]]\nid = \"x\"\nevent = \"a.b\"\nmatch = '(?P<email>\\S+) failed'\nthreshold = { count = 5, within = \"60s\", group_by = \"email\" }\n").is_ok());
    }

    /// A rule's regex is compiled when a record first needs it: at INFO level
    /// the DEBUG payload rule (megabytes compiled) never is.
    #[test]
    fn regexes_are_compiled_when_first_needed() {
        let rs = RuleSet::load(&Default::default()).unwrap();
        assert!(rs.rules().iter().all(|r| !r.regex.is_compiled()));
        let log = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/logs/openwebui-0.12.4-info.log"),
        )
        .unwrap();
        let recs = records_of(&rs, &log);
        let mut hits = Vec::new();
        for r in &recs {
            rs.matches(r, &mut Scratch::default(), &mut hits);
        }
        assert!(!hits.is_empty());
        let compiled: Vec<&str> = rs
            .rules()
            .iter()
            .filter(|r| r.regex.is_compiled())
            .map(|r| r.id.as_str())
            .collect();
        assert!(compiled.len() < rs.rules().len() / 2, "{compiled:?}");
        assert!(!compiled.contains(&"owui.chat.payload"), "{compiled:?}");
    }

    /// The built-in patterns spell digits and word characters in ASCII
    /// (`[0-9]`, `[0-9A-Za-z_]`, `(?-u:\b)`): Unicode `\d`, `\w` and `\b`
    /// cost kilobytes of automaton per use (the pack took 25 MB instead of
    /// 15) and Open WebUI's log fields are ASCII. Users' rules may use them.
    #[test]
    fn builtin_patterns_use_ascii_classes() {
        for (name, text) in BUILTIN {
            for line in text.lines().filter(|l| {
                ["match", "ignore", "start"]
                    .iter()
                    .any(|k| l.starts_with(&format!("{k} = ")))
            }) {
                let mut rest = line;
                while let Some(i) = rest.find('\\') {
                    let next = rest[i + 1..].chars().next().unwrap_or(' ');
                    if next == '\\' {
                        rest = &rest[i + 2..];
                        continue;
                    }
                    let bare_boundary = next == 'b' && !rest[..i].ends_with("(?-u:");
                    assert!(
                        !matches!(next, 'd' | 'w') && !bare_boundary,
                        "{name}: \\{next} in {line}"
                    );
                    rest = &rest[i + 1..];
                }
            }
        }
    }

    /// `BRIDGE_LANGUAGE=vi`: every built-in message exists in Vietnamese.
    #[test]
    fn builtin_messages_speak_english_and_vietnamese() {
        let rs = RuleSet::load(&Default::default()).unwrap();
        let with_message: Vec<&Rule> = rs.rules().iter().filter(|r| r.message.is_some()).collect();
        assert!(with_message.len() > 40);
        for r in with_message {
            let m = r.message.as_ref().unwrap();
            assert!(m.speaks(Language::En) && m.speaks(Language::Vi), "{}", r.id);
            let fields = |lang| {
                let t = m.pick(lang).render(|_| Some("X"));
                t.matches('X').count()
            };
            assert_eq!(
                fields(Language::En),
                fields(Language::Vi),
                "{}: the same fields in both",
                r.id
            );
        }
    }

    #[test]
    fn builtin_rules_are_all_prefiltered() {
        let rs = RuleSet::load(&Default::default()).unwrap();
        assert!(rs.rules().len() >= 10);
        assert_eq!(rs.prefiltered(), rs.rules().len());
        for r in rs.rules() {
            let lits = literal::required_literals(r.regex.as_str()).unwrap();
            assert!(lits.iter().all(|l| l.len() >= 6), "{}: {lits:?}", r.id);
        }
    }

    /// The reference: every rule's regex on the record, in rule order.
    fn naive(rs: &RuleSet, rec: &Record) -> Vec<Hit> {
        let text = rec.text.as_str();
        let mut out = Vec::new();
        for (i, rule) in rs.rules().iter().enumerate() {
            if !rule.stream.accepts(rec.stream) {
                continue;
            }
            let Some(caps) = rule.regex.get().and_then(|re| re.captures(text)) else {
                continue;
            };
            if ignored(rule, text) {
                continue;
            }
            // Which rules hit is what the reference checks; data is built the one way.
            let data = rule_data(rule, |n| caps.name(n).map(|m| m.as_str()));
            out.push(Hit { rule: i, data });
        }
        out
    }

    /// Asserts the prefiltered matcher finds exactly the reference's hits; returns how many.
    fn same_as_naive(rs: &RuleSet, recs: &[Record]) -> usize {
        let mut scratch = Scratch::default();
        let mut out = Vec::new();
        let mut n = 0;
        for rec in recs {
            out.clear();
            rs.matches(rec, &mut scratch, &mut out);
            assert_eq!(
                out,
                naive(rs, rec),
                "record at line {}: {:?}",
                rec.first_line,
                rec.text
            );
            n += out.len();
        }
        n
    }

    /// The records of a log, assembled as the pipeline does, on alternating streams.
    fn records_of(rs: &RuleSet, log: &[u8]) -> Vec<Record> {
        let mut asm = crate::record::Assembler::new(rs.assemble_config().clone());
        let now = std::time::Instant::now();
        let mut recs = Vec::new();
        let mut off = 0u64;
        for (i, l) in log.split(|&b| b == b'\n').enumerate() {
            let line = crate::record::Line::new(
                bytes::Bytes::copy_from_slice(l),
                [Stream::File, Stream::Stdout, Stream::Stderr][i % 3],
                None,
                i as u64 + 1,
                Cursor::Offset(off),
                Cursor::Offset(off + l.len() as u64 + 1),
            );
            off += l.len() as u64 + 1;
            asm.push(&line, now, &mut |r| recs.push(r));
        }
        asm.flush_all(&mut |r| recs.push(r));
        recs
    }

    /// Tricky lines for the built-in rules: literals at the edges, several and
    /// overlapping, a decoy before the real match, split across lines, non-ASCII.
    const TRICKY: &[&str] = &[
        r#"POST /api/v1/files/ HTTP/1.1" 200"#,
        r#"1.2.3.4:5 - "POST /api/v1/files/ HTTP/1.1" 200"#,
        r#"x - "POST /api/v1/files/ HTTP/1.1" 200 1.2.3.4:5 - "POST /api/v1/files/ HTTP/1.1" 201"#,
        r#"::1:5 - "POST /api/v1/files/?x=1 HTTP/2" 204 and ::1:6 - "POST /api/v1/chats/new HTTP/1.1" 200"#,
        r#"::1:5 - "POST /api/v1/files HTTP/1.1" 200"#,
        r#"é:5 - "POST /api/v1/files/ HTTP/1.1" 200 ü - "DELETE /api/v1/users/"#,
        r#"a:1 - "DELETE /api/v1/users/0a0b0c0d-0000-4000-8000-000000000000 HTTP/1.1" 200"#,
        r#"a:1 - "DELETE /api/v1/chats/0a0b0c0d-0000-4000-8000-000000000000 HTTP/1.1" 200"#,
        r#"a:1 - "POST /api/v1/models/model/update?id=gpt-x HTTP/1.1" 200"#,
        r#"a:1 - "POST /api/chat/completions HTTP/1.1" 200"#,
        "2026-11-27 08:01:50.446 | ERROR    | a.b:c:1 - boom | CRITICAL ",
        "2026-11-27 08:01:50.446 | INFO     | a.b:c:1 - ERROR CRITICAL",
        "2026-11-27 08:01:50.446 | CRITICAL | a.b:c:1 - x\nTraceback\n  ERROR",
        "docker container.started name=owui id=abc image=ghcr.io/x",
        "docker container.died name= id=abc image= exit_code=137",
        " docker container.oom name=a id=b image=c",
        "POST /api/v1/\nfiles/ HTTP/1.1\" 200",
        "ERRO",
        "",
    ];

    #[test]
    fn prefilter_agrees_with_every_regex_on_real_logs() {
        let rs = RuleSet::load(&Default::default()).unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut total = 0;
        let mut matched: Vec<String> = Vec::new();
        for log in [
            "tests/fixtures/logs/openwebui-0.12.4-info.log",
            "benches/data/openwebui-debug.log",
        ] {
            let Ok(mut bytes) = std::fs::read(dir.join(log)) else {
                continue;
            };
            // Unoptimised, the reference is slow: a MB of the big log will do
            // (`cargo test --release` takes it all).
            if cfg!(debug_assertions) && bytes.len() > 1 << 20 {
                let cut = bytes[..1 << 20].iter().rposition(|&b| b == b'\n').unwrap();
                bytes.truncate(cut);
            }
            let recs = records_of(&rs, &bytes);
            assert!(recs.len() > 100, "{log}");
            total += same_as_naive(&rs, &recs);
            matched.extend(
                recs.iter()
                    .filter(|r| !naive(&rs, r).is_empty())
                    .take(100)
                    .map(|r| r.text.clone()),
            );
        }
        assert!(total > 10, "the logs hold events: {total}");
        // Variants of records that matched: twice, glued to another, behind
        // non-ASCII text, broken across lines, cut short, in other case.
        let mut tricky: Vec<String> = TRICKY.iter().map(|t| t.to_string()).collect();
        for (i, t) in matched.iter().enumerate() {
            let other = &matched[(i * 7 + 3) % matched.len()];
            let mut half = t.len() / 2;
            while !t.is_char_boundary(half) {
                half -= 1;
            }
            tricky.extend([
                format!("{t} {t}"),
                format!("{other}\n{t}"),
                format!("{t}{other}"),
                format!("é🦀 {t}"),
                t.replacen(" - ", " -\n ", 1),
                t.replacen('"', "", 1),
                t[..half].to_string(),
                t[half..].to_string(),
                t.to_lowercase(),
                t.to_uppercase(),
            ]);
        }
        let recs: Vec<Record> = tricky.iter().map(|t| rec(t)).collect();
        assert!(
            same_as_naive(&rs, &recs) > matched.len(),
            "the variants match too"
        );
    }

    #[test]
    fn prefilter_agrees_with_every_regex_on_synthetic_rules() {
        let rs = set(r#"
[[rule]]
id = "a"
event = "a.a"
match = 'abc(?P<n>\d+)'
[rule.data]
s = "{rule}:{n}"
[[rule]]
id = "b"
event = "b.b"
match = 'bcd'
[[rule]]
id = "c"
event = "c.c"
match = '^(?P<k>\w+)=(?P<v>\d+)$'
[[rule]]
id = "d"
event = "d.d"
match = '(?P<who>\w+) failed (?:login|auth)'
ignore = 'root failed'
[[rule]]
id = "e"
event = "e.e"
match = '(?i)out of memory'
stream = "stderr"
[[rule]]
id = "f"
event = "f.f"
match = '(?:x|y)\d{2,} (?P<unit>[kM]B) left|disk (?P<pct>\d+)% full'
[[rule]]
id = "g"
event = "g.g"
match = 'ünï(?P<c>.)çødé'
[[rule]]
id = "h"
event = "h.h"
match = 'abcd'
[[rule]]
id = "i"
event = "i.i"
match = 'user=(?P<u>\w+) .*action=(?:delete|purge) '
"#)
        .unwrap();
        assert_eq!(rs.prefiltered(), 8, "only c runs always");
        // Rule i needs a literal of each of two sets, in either order in the text.
        let sets = required_literal_sets(rs.rules()[8].regex.as_str());
        assert_eq!(sets.len(), 2, "{sets:?}");
        // Pseudo-random lines from fragments that overlap literals in every way.
        let frags = [
            "abc",
            "abc12",
            "bcd",
            "abcd",
            "d",
            "k=1",
            "key=42",
            "bob failed login",
            "root failed auth",
            "failed",
            " ",
            "OUT OF MEMORY",
            "Out Of memory",
            "out of",
            "x12 kB left",
            "y1 MB left",
            "disk 93% full",
            "disk % full",
            "ünïxçødé",
            "ünï",
            "çødé",
            "é",
            "\n",
            "\t",
            "🦀",
            "=",
            "user=bob ",
            "user=",
            "action=delete ",
            "action=purge ",
            "action=",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut recs = Vec::new();
        for i in 0..30_000 {
            let mut text = String::new();
            for _ in 0..next(6) {
                text.push_str(frags[next(frags.len())]);
            }
            let mut r = rec(&text);
            r.stream = [Stream::Stdout, Stream::Stderr, Stream::File][i % 3];
            recs.push(r);
        }
        let hits = same_as_naive(&rs, &recs);
        assert!(hits > 5_000, "{hits}");
        // Every rule fires somewhere.
        let mut out = Vec::new();
        let mut fired = vec![false; rs.rules().len()];
        for r in &recs {
            out.clear();
            rs.matches(r, &mut Scratch::default(), &mut out);
            out.iter().for_each(|h| fired[h.rule] = true);
        }
        assert!(fired.iter().all(|&f| f), "{fired:?}");
        // One scratch shared by two rule sets stays correct.
        let other = set(UPLOAD).unwrap();
        let mut scratch = Scratch::default();
        for r in recs.iter().take(50) {
            out.clear();
            rs.matches(r, &mut scratch, &mut out);
            assert_eq!(out, naive(&rs, r));
            out.clear();
            other.matches(r, &mut scratch, &mut out);
            assert_eq!(out, naive(&other, r));
        }
    }
}
