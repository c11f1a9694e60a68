//! The TOML rule-file schema (spec §5) and loading with diagnostics that name
//! file, line, column and the fix. Turning raw rules into compiled ones is
//! `compile.rs`'s job; this module only reads and points at places.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub record: Option<RawRecord>,
    #[serde(default)]
    pub rule: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecord {
    pub start: Option<Spanned<String>>,
    pub flush_after: Option<Spanned<String>>,
    pub max_lines: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub id: Spanned<String>,
    pub event: Option<Spanned<String>>,
    pub description: Option<String>,
    #[serde(rename = "match")]
    pub pattern: Option<Spanned<String>>,
    pub ignore: Option<Spanned<String>>,
    pub stream: Option<Spanned<String>>,
    pub severity: Option<Spanned<String>>,
    /// The Open WebUI log level at which the matched records appear (for `events`).
    pub level: Option<Spanned<String>>,
    pub cooldown: Option<Spanned<String>>,
    /// Which events share one cooldown: a template over the data (default: this rule,
    /// per `threshold.group_by` value).
    pub cooldown_key: Option<Spanned<String>>,
    /// The data field that says how many hits an event stands for (itself and
    /// those its cooldown held back since the previous one).
    pub cooldown_count: Option<Spanned<String>>,
    pub threshold: Option<Spanned<RawThreshold>>,
    /// Keep this record's data under a key for a later rule's `recall`.
    pub remember: Option<Spanned<String>>,
    pub recall: Option<Spanned<RawRecall>>,
    /// Hold the event until a later record is remembered under a key (or the wait ends).
    pub wait_for: Option<Spanned<RawRecall>>,
    /// Fire nothing when a record was remembered under a key shortly before.
    pub skip_after: Option<Spanned<RawRecall>>,
    pub enabled: Option<bool>,
    #[serde(default)]
    pub data: BTreeMap<String, Spanned<String>>,
    pub message: Option<RawMessage>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThreshold {
    pub count: i64,
    pub within: String,
    pub group_by: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecall {
    pub key: Spanned<String>,
    pub within: Option<String>,
}

/// `[rule.message]`: `text`, and the same in a given language (`en`, `vi`)
/// for `BRIDGE_LANGUAGE`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMessage {
    pub text: Option<Spanned<String>>,
    pub en: Option<Spanned<String>>,
    pub vi: Option<Spanned<String>>,
}

/// A rule file's text and the name it is reported under.
pub struct Source<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

/// A problem in a rule file, with the place and, when obvious, the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFileError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub fix: Option<String>,
}

impl fmt::Display for RuleFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )?;
        if let Some(fix) = &self.fix {
            write!(f, "; {fix}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RuleFileError {}

impl Source<'_> {
    /// An error at a byte offset of this file.
    pub fn error_at(
        &self,
        offset: usize,
        message: impl Into<String>,
        fix: Option<String>,
    ) -> RuleFileError {
        let offset = offset.min(self.text.len());
        let before = &self.text[..floor_char_boundary(self.text, offset)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = before[line_start..].chars().count() + 1;
        RuleFileError {
            file: self.name.to_string(),
            line,
            column,
            message: message.into(),
            fix,
        }
    }

    /// The byte offset of a position inside a string value, for pointing into a regex.
    /// Exact for literal strings ('…') and basic strings without escapes; otherwise
    /// the start of the value.
    pub fn offset_in_value(&self, span: &Range<usize>, inner: usize) -> usize {
        let raw = &self.text[span.clone()];
        if let Some(rest) = raw.strip_prefix("'''") {
            let skip = if rest.starts_with('\n') { 4 } else { 3 };
            span.start + skip + inner
        } else if raw.starts_with('\'') || (raw.starts_with('"') && !raw.contains('\\')) {
            span.start + 1 + inner
        } else {
            span.start
        }
    }

    pub fn parse(&self) -> Result<RawFile, RuleFileError> {
        toml::from_str::<RawFile>(self.text).map_err(|e| {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            let msg = e.message().trim().to_string();
            let fix = if msg.contains("unknown field") && msg.contains("expected one of `text`, `en`, `vi`") {
                Some("[rule.message] takes text (any language), en and vi (the message for BRIDGE_LANGUAGE=en or vi)".to_string())
            } else if msg.contains("unknown field") {
                Some("check the spelling; a [[rule]] takes id, event, description, match, ignore, stream, severity, level, cooldown, cooldown_key, cooldown_count, threshold, remember, recall, wait_for, skip_after, enabled, [rule.data] and [rule.message]".to_string())
            } else if msg.contains("missing field `id`") {
                Some("give every [[rule]] a unique id, e.g. id = \"my.rule\"".to_string())
            } else {
                Some("fix the TOML syntax at this place (strings in single quotes need no escaping, which suits regexes)".to_string())
            };
            self.error_at(offset, format!("invalid rule file: {msg}"), fix)
        })
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}
