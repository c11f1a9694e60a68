//! Rules: loading rule files (spec §5) into an immutable [`RuleSet`] and
//! matching records against it fast.
//!
//! Speed comes from a literal prefilter: every rule whose pattern has required
//! literals (its prefixes or suffixes) is reached through one Aho-Corasick scan
//! of the record, so a record that matches nothing costs about one pass over
//! its bytes. Only rules without usable literals run their regex on every record.

pub mod compile;
pub mod file;
pub mod limit;
pub mod template;

use std::path::{Path, PathBuf};

use aho_corasick::{AhoCorasick, MatchKind};
use regex_syntax::hir::literal::{ExtractKind, Extractor, Seq};

pub use compile::{Rule, Severity, StreamFilter, Threshold};
pub use file::RuleFileError;
pub use limit::Limiter;

use crate::record::{AssembleConfig, Record};
use compile::Compiled;
use file::Source;

/// The built-in Open WebUI rule pack, embedded in the binary.
pub const BUILTIN: &[(&str, &str)] = &[(
    "builtin:openwebui.toml",
    include_str!("../../rules/openwebui.toml"),
)];

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
    prefilter: Option<AhoCorasick>,
    /// For each prefilter literal, the rule it stands for.
    literal_rule: Vec<usize>,
    /// Rules with no usable literal: always tried.
    always: Vec<usize>,
    files: Vec<String>,
}

/// One rule matched one record: the rule's index and its data fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub rule: usize,
    pub data: Vec<(String, String)>,
}

/// Reusable scratch space for matching, one per matching task.
#[derive(Default)]
pub struct Scratch {
    seen: Vec<bool>,
    candidates: Vec<usize>,
}

impl RuleSet {
    /// Loads the built-in pack (when `builtin`) and then `paths` in order.
    pub fn load(builtin: bool, paths: &[PathBuf]) -> Result<RuleSet, LoadError> {
        let mut texts: Vec<(String, String)> = Vec::new();
        if builtin {
            texts.extend(BUILTIN.iter().map(|(n, t)| (n.to_string(), t.to_string())));
        }
        for p in paths {
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

    fn build(rules: Vec<Rule>, assemble: AssembleConfig, files: Vec<String>) -> RuleSet {
        let mut literals: Vec<Vec<u8>> = Vec::new();
        let mut literal_rule = Vec::new();
        let mut always = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            match required_literals(r.regex.as_str()) {
                Some(lits) => {
                    for l in lits {
                        literals.push(l);
                        literal_rule.push(i);
                    }
                }
                None => always.push(i),
            }
        }
        let prefilter = if literals.is_empty() {
            None
        } else {
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(&literals)
                .ok()
        };
        if prefilter.is_none() {
            always = (0..rules.len()).collect();
            literal_rule.clear();
        }
        RuleSet {
            rules,
            assemble,
            prefilter,
            literal_rule,
            always,
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
        if let Some(ac) = &self.prefilter {
            if scratch.seen.len() != self.rules.len() {
                scratch.seen = vec![false; self.rules.len()];
            }
            for m in ac.find_overlapping_iter(text) {
                let r = self.literal_rule[m.pattern().as_usize()];
                if !scratch.seen[r] {
                    scratch.seen[r] = true;
                    scratch.candidates.push(r);
                }
            }
            for &r in &scratch.candidates {
                scratch.seen[r] = false;
            }
        }
        scratch.candidates.extend_from_slice(&self.always);
        if scratch.candidates.is_empty() {
            return;
        }
        scratch.candidates.sort_unstable();
        for &i in &scratch.candidates {
            let rule = &self.rules[i];
            if !rule.stream.accepts(rec.stream) {
                continue;
            }
            let Some(caps) = rule.regex.captures(text) else {
                continue;
            };
            if rule.ignore.as_ref().is_some_and(|ig| ig.is_match(text)) {
                continue;
            }
            out.push(Hit {
                rule: i,
                data: extract_data(rule, &caps),
            });
        }
    }
}

fn extract_data(rule: &Rule, caps: &regex::Captures) -> Vec<(String, String)> {
    let mut data: Vec<(String, String)> = rule
        .captures
        .iter()
        .filter_map(|name| {
            caps.name(name)
                .map(|m| (name.clone(), m.as_str().to_string()))
        })
        .collect();
    for (key, tpl) in &rule.data {
        let value = tpl.render(|k| match k {
            "rule" => Some(rule.id.as_str()),
            "event" => Some(rule.event.as_str()),
            _ => caps.name(k).map(|m| m.as_str()),
        });
        data.retain(|(k, _)| k != key);
        data.push((key.clone(), value));
    }
    data
}

/// Literals of which at least one must occur in any match, or `None` when the
/// pattern has no selective ones (then the rule is tried on every record).
fn required_literals(pattern: &str) -> Option<Vec<Vec<u8>>> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .ok()?;
    let usable = |seq: Seq| -> Option<Vec<Vec<u8>>> {
        let lits = seq.literals()?;
        if lits.is_empty() || lits.len() > 64 || lits.iter().any(|l| l.as_bytes().len() < 3) {
            return None;
        }
        Some(lits.iter().map(|l| l.as_bytes().to_vec()).collect())
    };
    let mut prefix = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    prefix.optimize_for_prefix_by_preference();
    if let Some(l) = usable(prefix) {
        return Some(l);
    }
    let mut suffix = Extractor::new().kind(ExtractKind::Suffix).extract(&hir);
    suffix.optimize_for_suffix_by_preference();
    usable(suffix)
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
}
