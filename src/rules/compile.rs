//! Raw rules become compiled [`Rule`]s: regexes built once, capture names
//! known, templates checked, durations parsed. Every failure points at the
//! file, line and column of the offending value.

use std::sync::OnceLock;
use std::time::Duration;

use regex::Regex;
use toml::Spanned;

use super::correlate::Key;
use super::file::{RawMessage, RawRecall, RawRecord, RawRule, RuleFileError, Source};
use super::template::Template;
use crate::config::{parse_duration, Language};
use crate::event::Severity;
use crate::record::{AssembleConfig, Stream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFilter {
    Any,
    Stdout,
    Stderr,
}

impl StreamFilter {
    /// Streams of a file or stdin are already mixed, so every rule applies to them.
    pub fn accepts(self, s: Stream) -> bool {
        matches!(
            (self, s),
            (StreamFilter::Any, _)
                | (_, Stream::File)
                | (_, Stream::Stdin)
                | (StreamFilter::Stdout, Stream::Stdout)
                | (StreamFilter::Stderr, Stream::Stderr)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Threshold {
    pub count: u32,
    pub within: Duration,
    pub group_by: Option<String>,
}

/// A rule ready to match.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    /// False for a rule that only `remember`s: it produces no event itself.
    pub fires: bool,
    pub remember: Option<Key>,
    /// `(key, within)`: merge data remembered under `key` at most `within` earlier.
    pub recall: Option<(Key, Duration)>,
    /// `(key, within)`: hold the event until a record is remembered under `key`
    /// (its data merged in) or `within` has passed.
    pub wait_for: Option<(Key, Duration)>,
    /// `(key, within)`: a hit that finds data remembered under `key` at most
    /// `within` earlier takes it out and fires nothing (the first save that
    /// follows a new chat is not an update).
    pub skip_after: Option<(Key, Duration)>,
    pub event: String,
    pub description: String,
    pub regex: LazyRegex,
    pub ignore: Option<LazyRegex>,
    pub stream: StreamFilter,
    pub severity: Severity,
    /// Open WebUI log level that shows the records (`DEBUG`, `INFO`, …), or `docker`.
    pub level: String,
    pub cooldown: Option<Duration>,
    /// Events whose key renders the same share one cooldown, across rules.
    pub cooldown_key: Option<Template>,
    /// The data field that counts the hits an event stands for (see [`super::limit`]).
    pub cooldown_count: Option<String>,
    pub threshold: Option<Threshold>,
    /// Named capture groups, in pattern order.
    pub captures: Vec<String>,
    pub data: Vec<(String, Template)>,
    pub message: Option<Messages>,
    /// The file the rule came from, for `check` and `events`.
    pub origin: String,
}

/// A pattern checked when its file is loaded and compiled the first time a
/// record needs it. A compiled regex costs from a hundred kilobytes to a few
/// megabytes (the DEBUG payload rule), and most of the built-in pack's rules
/// meet a candidate rarely, or never at the log level in use; the literal
/// prefilter decides which ever run.
#[derive(Debug, Clone)]
pub struct LazyRegex {
    pattern: String,
    /// The named groups, in pattern order (known at load).
    names: Vec<Option<String>>,
    compiled: OnceLock<Option<Regex>>,
}

impl LazyRegex {
    /// Proves `pattern` valid by compiling its forward NFA alone (a fraction
    /// of a full regex, with the same syntax and size limit as
    /// `Regex::new`), and reads its groups.
    fn checked(pattern: &str) -> Result<LazyRegex, regex::Error> {
        use regex_automata::nfa::thompson;
        let nfa = thompson::Compiler::new()
            .configure(thompson::Config::new().nfa_size_limit(Some(NFA_SIZE_LIMIT)))
            .build(pattern);
        let names = match nfa {
            Ok(nfa) => nfa
                .group_info()
                .pattern_names(regex_automata::PatternID::ZERO)
                .map(|n| n.map(str::to_string))
                .collect(),
            // The regex crate says what is wrong, and where.
            Err(_) => Regex::new(pattern)?
                .capture_names()
                .map(|n| n.map(str::to_string))
                .collect(),
        };
        Ok(LazyRegex {
            pattern: pattern.to_string(),
            names,
            compiled: OnceLock::new(),
        })
    }

    /// The compiled regex, compiled now if this is the first use; `None` (the
    /// rule matches nothing) in the unlikely case that the full compile goes
    /// over a limit its check at load did not (said once, in the log).
    pub fn get(&self) -> Option<&Regex> {
        self.compiled
            .get_or_init(|| match Regex::new(&self.pattern) {
                Ok(re) => Some(re),
                Err(e) => {
                    tracing::error!(pattern = %self.pattern, error = %e, "a rule's pattern cannot be compiled; the rule matches nothing (simplify the pattern)");
                    None
                }
            })
            .as_ref()
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Each group's name (`None` for an unnamed group), group 0 first.
    pub fn capture_names(&self) -> impl Iterator<Item = Option<&str>> {
        self.names.iter().map(|n| n.as_deref())
    }

    /// Whether it has been compiled (the tests check that it is lazy).
    pub fn is_compiled(&self) -> bool {
        self.compiled.get().is_some()
    }
}

/// `regex::RegexBuilder`'s default size limit, which `Regex::new` applies.
const NFA_SIZE_LIMIT: usize = 10 * (1 << 20);

/// A rule's text for chat sinks, in one language or several.
#[derive(Debug, Clone)]
pub struct Messages {
    text: Option<Template>,
    en: Option<Template>,
    vi: Option<Template>,
}

impl Messages {
    /// Whether the rule says it in `lang` itself (not by falling back).
    pub fn speaks(&self, lang: Language) -> bool {
        match lang {
            Language::En => self.en.is_some() || self.text.is_some(),
            Language::Vi => self.vi.is_some(),
        }
    }

    /// The text for `lang`: its own, else `text`, else the other language's.
    pub fn pick(&self, lang: Language) -> &Template {
        let (own, other) = match lang {
            Language::En => (&self.en, &self.vi),
            Language::Vi => (&self.vi, &self.en),
        };
        own.as_ref()
            .or(self.text.as_ref())
            .or(other.as_ref())
            .expect("a message has at least one text (checked at load)")
    }
}

fn messages(
    src: &Source,
    id: &str,
    raw: &RawMessage,
    names: Option<&[&str]>,
    here: usize,
) -> Result<Messages, RuleFileError> {
    let one = |t: &Option<Spanned<String>>, key: &str| {
        t.as_ref()
            .map(|t| {
                Template::parse_with(t.get_ref(), names).map_err(|e| {
                    src.error_at(
                        src.offset_in_value(&t.span(), e.offset),
                        format!("rule '{id}': message.{key}: {}", e.message),
                        None,
                    )
                })
            })
            .transpose()
    };
    let m = Messages {
        text: one(&raw.text, "text")?,
        en: one(&raw.en, "en")?,
        vi: one(&raw.vi, "vi")?,
    };
    if m.text.is_none() && m.en.is_none() && m.vi.is_none() {
        return Err(src.error_at(
            here,
            format!("rule '{id}': [rule.message] has no text"),
            Some(
                "write text = \"…\" (and en = \"…\", vi = \"…\" for each language, if you like)"
                    .into(),
            ),
        ));
    }
    Ok(m)
}

/// What one `[[rule]]` entry asks for.
pub enum Compiled {
    Rule(Box<Rule>),
    /// `enabled = false`: remove the rule with this id.
    Disable(String),
}

pub fn compile_record(src: &Source, raw: &RawRecord) -> Result<AssembleConfig, RuleFileError> {
    let mut cfg = AssembleConfig::default();
    if let Some(start) = &raw.start {
        cfg.start = Some(regex(src, start, "[record] start")?);
    }
    if let Some(f) = &raw.flush_after {
        cfg.flush_after = duration(src, f, "flush_after")?;
    }
    if let Some(m) = &raw.max_lines {
        if !(1..=100_000).contains(m.get_ref()) {
            return Err(src.error_at(
                m.span().start,
                "max_lines must be between 1 and 100000",
                None,
            ));
        }
        cfg.max_lines = *m.get_ref() as usize;
    }
    Ok(cfg)
}

pub fn compile_rule(src: &Source, raw: &RawRule) -> Result<Compiled, RuleFileError> {
    let id = raw.id.get_ref().trim().to_string();
    if id.is_empty() || id.contains(char::is_whitespace) {
        return Err(src.error_at(
            raw.id.span().start,
            "rule id must be a non-empty word without spaces",
            Some("use something like id = \"team.disk_full\"".into()),
        ));
    }
    if raw.enabled == Some(false) {
        return Ok(Compiled::Disable(id));
    }
    let here = raw.id.span().start;
    // A rule that only remembers fires no event of its own.
    let placeholder;
    let event = match (&raw.event, raw.remember.is_some() || raw.recall.is_some()) {
        (None, true) => {
            placeholder = Spanned::new(here..here, String::new());
            &placeholder
        }
        _ => raw.event.as_ref().ok_or_else(|| {
            src.error_at(
                here,
                format!("rule '{id}' has no event"),
                Some("add event = \"something.happened\" (the event name receivers see)".into()),
            )
        })?,
    };
    let fires = !event.get_ref().is_empty();
    if let (false, Some(w)) = (fires, &raw.wait_for) {
        return Err(src.error_at(
            w.span().start,
            format!("rule '{id}': wait_for on a rule without an event waits for nothing"),
            Some("give the rule an event = \"…\", or remove wait_for".into()),
        ));
    }
    if fires && !valid_event_name(event.get_ref()) {
        return Err(src.error_at(
            event.span().start,
            format!("rule '{id}': '{}' is not an event name", event.get_ref()),
            Some("use lowercase words joined by dots, e.g. file.uploaded".into()),
        ));
    }
    let pattern = raw.pattern.as_ref().ok_or_else(|| {
        src.error_at(
            here,
            format!("rule '{id}' has no match pattern"),
            Some("add match = '<regex>'; named groups (?P<name>…) become the event's data".into()),
        )
    })?;
    let regex = lazy_regex(src, pattern, &format!("rule '{id}': match"))?;
    let ignore = raw
        .ignore
        .as_ref()
        .map(|p| lazy_regex(src, p, &format!("rule '{id}': ignore")))
        .transpose()?;
    let stream = match raw
        .stream
        .as_ref()
        .map(|s| (s.get_ref().as_str(), s.span()))
    {
        None | Some(("any", _)) => StreamFilter::Any,
        Some(("stdout", _)) => StreamFilter::Stdout,
        Some(("stderr", _)) => StreamFilter::Stderr,
        Some((other, span)) => {
            return Err(src.error_at(
                span.start,
                format!("rule '{id}': stream '{other}' is not one of stdout, stderr, any"),
                None,
            ))
        }
    };
    let severity = match raw.severity.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
        None => Severity::default_for(event.get_ref()),
        Some(("info", _)) => Severity::Info,
        Some(("notice", _)) => Severity::Notice,
        Some(("warning", _)) => Severity::Warning,
        Some(("error", _)) => Severity::Error,
        Some(("critical", _)) => Severity::Critical,
        Some((other, span)) => return Err(src.error_at(span.start, format!("rule '{id}': severity '{other}' is not one of info, notice, warning, error, critical"), None)),
    };
    let level = match raw.level.as_ref() {
        None if event.get_ref().starts_with("container.") => "docker".to_string(),
        None => "INFO".to_string(),
        Some(l) => {
            let v = l.get_ref().to_ascii_uppercase();
            if !["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "DOCKER"].contains(&v.as_str()) {
                return Err(src.error_at(l.span().start, format!("rule '{id}': level '{}' is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL, docker", l.get_ref()), None));
            }
            if v == "DOCKER" {
                "docker".into()
            } else {
                v
            }
        }
    };
    let cooldown = raw
        .cooldown
        .as_ref()
        .map(|c| duration(src, c, "cooldown"))
        .transpose()?;
    let captures: Vec<String> = regex
        .capture_names()
        .flatten()
        .map(str::to_string)
        .collect();
    let threshold = raw
        .threshold
        .as_ref()
        .map(|t| threshold(src, &id, t, raw.recall.is_some(), &captures))
        .transpose()?;

    let mut known: Vec<&str> = captures.iter().map(String::as_str).collect();
    known.extend(["rule", "event"]);
    let mut data = Vec::new();
    for (key, value) in &raw.data {
        let t = Template::parse(value.get_ref(), &known).map_err(|e| {
            src.error_at(
                src.offset_in_value(&value.span(), e.offset),
                format!("rule '{id}': data.{key}: {}", e.message),
                None,
            )
        })?;
        data.push((key.clone(), t));
    }
    let mut with_data = known.clone();
    with_data.extend(raw.data.keys().map(String::as_str));
    // Keys render from the rule's own fields, plus what `recall` brought in
    // for the keys rendered after it (remember, wait_for, cooldown_key).
    let own = Some(with_data.as_slice());
    let after_recall = if raw.recall.is_some() { None } else { own };
    let recall = raw
        .recall
        .as_ref()
        .map(|r| keyed_wait(src, &id, r, "recall", Duration::from_secs(10), own))
        .transpose()?;
    let remember = raw
        .remember
        .as_ref()
        .map(|k| key(src, &id, k, "remember", after_recall))
        .transpose()?;
    let wait_for = raw
        .wait_for
        .as_ref()
        .map(|r| {
            keyed_wait(
                src,
                &id,
                r,
                "wait_for",
                Duration::from_secs(2),
                after_recall,
            )
        })
        .transpose()?;
    let skip_after = raw
        .skip_after
        .as_ref()
        .map(|r| {
            keyed_wait(
                src,
                &id,
                r,
                "skip_after",
                Duration::from_secs(60),
                after_recall,
            )
        })
        .transpose()?;
    if let (false, Some(s)) = (fires, &raw.skip_after) {
        return Err(src.error_at(
            s.span().start,
            format!("rule '{id}': skip_after on a rule without an event skips nothing"),
            Some("give the rule an event = \"…\", or remove skip_after".into()),
        ));
    }
    let cooldown_count = raw
        .cooldown_count
        .as_ref()
        .map(|c| count_field(src, &id, c, cooldown.is_some()))
        .transpose()?;
    // Recalled (and awaited) fields are only known at run time: any name is
    // allowed then. A cooldown is decided before any wait. Messages are
    // rendered after the threshold and the cooldown, so they may name the
    // fields those add.
    let mut with_limits = with_data.clone();
    if threshold.is_some() {
        with_limits.push("count");
    }
    match &cooldown_count {
        Some(c) => with_limits.push(c),
        None if cooldown.is_some() => with_limits.push("suppressed"),
        None => {}
    }
    let names = if recall.is_some() || wait_for.is_some() {
        None
    } else {
        Some(with_limits.as_slice())
    };
    let cooldown_key = raw
        .cooldown_key
        .as_ref()
        .map(|k| {
            Template::parse_with(k.get_ref(), after_recall).map_err(|e| {
                src.error_at(
                    src.offset_in_value(&k.span(), e.offset),
                    format!("rule '{id}': cooldown_key: {}", e.message),
                    None,
                )
            })
        })
        .transpose()?;
    if cooldown_key.is_some() && cooldown.is_none() {
        return Err(src.error_at(
            raw.cooldown_key.as_ref().map_or(here, |k| k.span().start),
            format!("rule '{id}': cooldown_key without a cooldown"),
            Some("add cooldown = \"60s\" (the period the key's events share)".into()),
        ));
    }
    let message = raw
        .message
        .as_ref()
        .map(|m| messages(src, &id, m, names, here))
        .transpose()?;

    Ok(Compiled::Rule(Box::new(Rule {
        id,
        fires,
        remember,
        recall,
        wait_for,
        skip_after,
        event: event.get_ref().clone(),
        description: raw.description.clone().unwrap_or_default(),
        regex,
        ignore,
        stream,
        severity,
        level,
        cooldown,
        cooldown_key,
        cooldown_count,
        threshold,
        captures,
        data,
        message,
        origin: src.name.to_string(),
    })))
}

/// `cooldown_count = "saves"`: a field name, on a rule with a cooldown.
fn count_field(
    src: &Source,
    id: &str,
    name: &Spanned<String>,
    has_cooldown: bool,
) -> Result<String, RuleFileError> {
    if !has_cooldown {
        return Err(src.error_at(
            name.span().start,
            format!("rule '{id}': cooldown_count without a cooldown"),
            Some("add cooldown = \"5m\" (the period whose held-back hits are counted)".into()),
        ));
    }
    let n = name.get_ref();
    let valid = !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !n.as_bytes()[0].is_ascii_digit();
    if !valid {
        return Err(src.error_at(
            name.span().start,
            format!("rule '{id}': cooldown_count '{n}' is not a field name"),
            Some("use letters, digits and _, e.g. cooldown_count = \"saves\"".into()),
        ));
    }
    Ok(n.clone())
}

/// A `remember` / `recall` / `wait_for` / `skip_after` key: a template over the rule's data.
fn key(
    src: &Source,
    id: &str,
    text: &Spanned<String>,
    what: &str,
    known: Option<&[&str]>,
) -> Result<Key, RuleFileError> {
    let example = if what == "remember" {
        "remember = \"signin\" or remember = \"audit {method} {path}\"".to_string()
    } else {
        format!("{what} = {{ key = \"signin\", within = \"10s\" }}")
    };
    let fix = || {
        Some(format!(
            "write a key name or a template over this rule's fields, e.g. {example}"
        ))
    };
    if text.get_ref().trim().is_empty() {
        return Err(src.error_at(
            text.span().start,
            format!("rule '{id}': {what} needs a key"),
            fix(),
        ));
    }
    Key::parse(text.get_ref().trim(), known).map_err(|e| {
        src.error_at(
            src.offset_in_value(&text.span(), e.offset),
            format!("rule '{id}': {what} key: {}", e.message),
            fix(),
        )
    })
}

/// `recall`, `wait_for` and `skip_after`: `{ key, within }`.
fn keyed_wait(
    src: &Source,
    id: &str,
    raw: &Spanned<RawRecall>,
    what: &str,
    default: Duration,
    known: Option<&[&str]>,
) -> Result<(Key, Duration), RuleFileError> {
    let within = match &raw.get_ref().within {
        None => default,
        Some(w) => parse_duration(w).map_err(|e| {
            src.error_at(
                raw.span().start,
                format!("rule '{id}': {what}.within: {e}"),
                None,
            )
        })?,
    };
    Ok((key(src, id, &raw.get_ref().key, what, known)?, within))
}

fn threshold(
    src: &Source,
    id: &str,
    t: &Spanned<super::file::RawThreshold>,
    recalls: bool,
    captures: &[String],
) -> Result<Threshold, RuleFileError> {
    let at = t.span().start;
    let raw = t.get_ref();
    if !(1..=1_000_000).contains(&raw.count) {
        return Err(src.error_at(
            at,
            format!("rule '{id}': threshold.count must be between 1 and 1000000"),
            None,
        ));
    }
    let within = parse_duration(&raw.within)
        .map_err(|e| src.error_at(at, format!("rule '{id}': threshold.within: {e}"), None))?;
    if within.is_zero() {
        return Err(src.error_at(
            at,
            format!("rule '{id}': threshold.within must be longer than 0"),
            None,
        ));
    }
    if let Some(g) = &raw.group_by {
        // With `recall`, the field may come from the remembered record.
        if !recalls && !captures.iter().any(|c| c == g) {
            return Err(src.error_at(at, format!("rule '{id}': threshold.group_by '{g}' is not a named group of the match pattern"), Some(format!("name a group in match, e.g. (?P<{g}>…), or use one of: {}", captures.join(", ")))));
        }
    }
    Ok(Threshold {
        count: raw.count as u32,
        within,
        group_by: raw.group_by.clone(),
    })
}

fn valid_event_name(e: &str) -> bool {
    !e.is_empty()
        && e.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        })
}

fn duration(src: &Source, v: &Spanned<String>, what: &str) -> Result<Duration, RuleFileError> {
    parse_duration(v.get_ref())
        .map_err(|e| src.error_at(v.span().start, format!("{what}: {e}"), None))
}

/// Checks a rule's pattern; on failure points at the exact character of it.
fn lazy_regex(src: &Source, p: &Spanned<String>, what: &str) -> Result<LazyRegex, RuleFileError> {
    regex_with(src, p, what, LazyRegex::checked)
}

/// Builds the `[record] start` regex (used on every line: compiled now).
fn regex(src: &Source, p: &Spanned<String>, what: &str) -> Result<Regex, RuleFileError> {
    regex_with(src, p, what, Regex::new)
}

/// Builds with `build`; on failure points at the exact character of the pattern.
fn regex_with<T>(
    src: &Source,
    p: &Spanned<String>,
    what: &str,
    build: impl FnOnce(&str) -> Result<T, regex::Error>,
) -> Result<T, RuleFileError> {
    let pattern = p.get_ref();
    match build(pattern) {
        Ok(r) => Ok(r),
        Err(e) => {
            let (inner, reason) = match regex_syntax::Parser::new().parse(pattern) {
                Err(regex_syntax::Error::Parse(pe)) => {
                    (pe.span().start.offset, pe.kind().to_string())
                }
                Err(regex_syntax::Error::Translate(te)) => {
                    (te.span().start.offset, te.kind().to_string())
                }
                _ => (
                    0,
                    e.to_string()
                        .lines()
                        .last()
                        .unwrap_or("invalid")
                        .trim()
                        .to_string(),
                ),
            };
            let hint = if reason.contains("look-around") {
                "Rust regexes have no look-ahead or look-behind; use 'ignore' for what must not match"
            } else {
                "fix the pattern (Rust regex syntax), then try it with 'owui-bridge test-rules --rules <this file> <sample.log>'"
            };
            Err(src.error_at(
                src.offset_in_value(&p.span(), inner),
                format!("{what}: invalid pattern: {reason}"),
                Some(hint.into()),
            ))
        }
    }
}
