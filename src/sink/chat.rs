//! What the chat sinks (Discord, Slack, Telegram) share: reading an event's
//! payload back from its body, severity colours and emoji, the words around
//! the data (headline, source, time), and length-limited escaping.
//!
//! The escaping helpers ([`Escaper`]) are the heart of it: each platform says
//! how one character is escaped and what that costs against its limits; [`Escaper::fit`]
//! then keeps a text within a limit, cutting only between whole characters — and
//! never inside a cluster a person sees as one character (a letter with its
//! combining marks, an emoji with its modifiers or joiners, a flag) — and marks
//! every cut with a visible `…`. An escape sequence (`&amp;`, `\*`) is never
//! split either, because whole escaped characters are kept or dropped.
//!
//! Knows nothing about HTTP or any platform's JSON.

use std::collections::BTreeMap;

use crate::event::{Event, Payload, Severity};
use crate::record::Origin;

/// The visible mark left where text was cut.
pub const MARK: &str = "…";

/// The event's payload, read back from the exact body the webhook sink sends.
/// A body that does not parse (it always should) gives a payload with only the
/// id and event name, so a chat message still goes out.
pub fn payload(ev: &Event) -> Payload {
    serde_json::from_str(&ev.body).unwrap_or_else(|_| Payload {
        id: ev.id.clone(),
        event: ev.event.clone(),
        timestamp: String::new(),
        source: Origin {
            container: None,
            container_id: None,
            stream: String::new(),
            host: String::new(),
            file: None,
        },
        data: BTreeMap::new(),
        log: String::new(),
    })
}

/// Embed colour (0xRRGGBB): info blue, notice teal, warning orange, error red,
/// critical dark red (Discord's own palette).
pub fn colour(s: Severity) -> u32 {
    match s {
        Severity::Info => 0x3498DB,
        Severity::Notice => 0x1ABC9C,
        Severity::Warning => 0xE67E22,
        Severity::Error => 0xE74C3C,
        Severity::Critical => 0x992D22,
    }
}

/// A coloured mark for platforms without colour bars, matching [`colour`].
pub fn emoji(s: Severity) -> &'static str {
    match s {
        Severity::Info => "🔵",
        Severity::Notice => "🟢",
        Severity::Warning => "🟠",
        Severity::Error => "🔴",
        Severity::Critical => "🚨",
    }
}

pub fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Notice => "notice",
        Severity::Warning => "warning",
        Severity::Error => "error",
        Severity::Critical => "critical",
    }
}

/// Whether the log excerpt is worth showing: for warnings and worse the record
/// (often a traceback) is the news; for routine events it is noise (the full
/// record is in the webhook payload).
pub fn shows_log(ev: &Event, p: &Payload) -> bool {
    ev.severity >= Severity::Warning && !p.log.trim().is_empty()
}

/// The sentence under the title: the rule's message; without one, the data's
/// `summary`; else the first few data fields; else the event name. Also returns
/// the data key used, so it is not shown twice.
pub fn headline(ev: &Event, p: &Payload) -> (String, Option<String>) {
    if let Some(m) = ev
        .message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        return (m.to_string(), None);
    }
    if let Some(s) = p
        .data
        .get("summary")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        return (s.to_string(), Some("summary".into()));
    }
    if p.data.is_empty() {
        return (format!("{} (rule {})", ev.event, ev.rule), None);
    }
    let parts: Vec<String> = p
        .data
        .iter()
        .take(3)
        .map(|(k, v)| format!("{k} {}", PLAIN.fit(v.trim(), 60).text))
        .collect();
    (format!("{}: {}", ev.event, parts.join(", ")), None)
}

/// The data fields to show, in key order, trimmed; an empty value reads `(empty)`.
pub fn data_fields<'a>(p: &'a Payload, skip: Option<&str>) -> Vec<(&'a str, &'a str)> {
    p.data
        .iter()
        .filter(|(k, _)| Some(k.as_str()) != skip)
        .map(|(k, v)| {
            let v = v.trim();
            (k.trim(), if v.is_empty() { "(empty)" } else { v })
        })
        .collect()
}

/// Where the record came from, for a person: `open-webui on myhost`,
/// `owui.log on myhost`, `stdin on myhost`.
pub fn source_label(o: &Origin) -> String {
    let what = o
        .container
        .as_deref()
        .map(|c| c.trim_start_matches('/'))
        .filter(|c| !c.is_empty())
        .or_else(|| {
            o.file
                .as_deref()
                .map(|f| f.rsplit(['/', '\\']).next().unwrap_or(f))
        })
        .filter(|s| !s.is_empty())
        .unwrap_or(if o.stream.is_empty() {
            "log"
        } else {
            o.stream.as_str()
        });
    if o.host.is_empty() {
        what.to_string()
    } else {
        format!("{what} on {}", o.host)
    }
}

/// `severity · source · rule id`: the small print under a message.
pub fn byline(ev: &Event, p: &Payload) -> String {
    format!(
        "{} · {} · rule {}",
        severity_word(ev.severity),
        source_label(&p.source),
        ev.rule
    )
}

/// The payload time as a person reads it: `2026-11-27 08:01:50 UTC`.
pub fn display_time(ts: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(ts).ok()?;
    Some(
        t.with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
    )
}

/// Unix seconds of the payload time.
pub fn unix_time(ts: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.timestamp())
}

/// Length in UTF-16 code units.
pub fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Length in characters (Unicode scalar values).
pub fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Text kept within a limit; `cut` says whether something was dropped (then the
/// text ends with [`MARK`]); `cost` is what it counts against the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fitted {
    pub text: String,
    pub cut: bool,
    pub cost: usize,
}

/// How one platform escapes text and counts it against its limits.
///
/// `push` appends the escaped form of `c` (given the previous source character,
/// `None` at the start: some escapes only matter at the start of a line) and
/// `cost` says what that escaped form counts against the limit.
#[derive(Clone, Copy)]
pub struct Escaper {
    pub push: fn(Option<char>, char, &mut String),
    pub cost: fn(Option<char>, char) -> usize,
}

fn push_plain(_: Option<char>, c: char, out: &mut String) {
    out.push(c);
}

fn cost_one(_: Option<char>, _: char) -> usize {
    1
}

/// No escaping, one per character.
pub const PLAIN: Escaper = Escaper {
    push: push_plain,
    cost: cost_one,
};

impl Escaper {
    pub fn escape(&self, s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut prev = None;
        for c in s.chars() {
            (self.push)(prev, c, &mut out);
            prev = Some(c);
        }
        out
    }

    /// What `s` costs once escaped.
    pub fn cost_of(&self, s: &str) -> usize {
        let mut prev = None;
        s.chars()
            .map(|c| {
                let k = (self.cost)(prev, c);
                prev = Some(c);
                k
            })
            .sum()
    }

    fn mark_cost(&self) -> usize {
        self.cost_of(MARK)
    }

    /// `text` escaped and kept within `max`: whole, or cut at a character-cluster
    /// boundary with [`MARK`] appended (trailing white space before the mark is
    /// dropped). Never more than `max`; empty when `max` cannot hold the mark.
    pub fn fit(&self, text: &str, max: usize) -> Fitted {
        let whole = self.cost_of(text);
        if whole <= max {
            return Fitted {
                text: self.escape(text),
                cut: false,
                cost: whole,
            };
        }
        let mark = self.mark_cost();
        if max < mark {
            return Fitted {
                text: String::new(),
                cut: true,
                cost: 0,
            };
        }
        let budget = max - mark;
        let chars: Vec<char> = text.chars().collect();
        let mut out = String::new();
        let (mut used, mut ri_run) = (0usize, 0usize);
        // (bytes, cost) of the output at the last cluster boundary that does not
        // follow white space (white space before the mark is dropped).
        let mut keep = (0usize, 0usize);
        let mut prev = None;
        for (i, &c) in chars.iter().enumerate() {
            let k = (self.cost)(prev, c);
            if used + k > budget {
                break;
            }
            (self.push)(prev, c, &mut out);
            used += k;
            ri_run = if is_regional(c) { ri_run + 1 } else { 0 };
            if chars
                .get(i + 1)
                .map_or(true, |&n| is_boundary(c, n, ri_run))
                && !c.is_whitespace()
            {
                keep = (out.len(), used);
            }
            prev = Some(c);
        }
        let (bytes, cost) = keep;
        out.truncate(bytes);
        out.push_str(MARK);
        Fitted {
            text: out,
            cut: true,
            cost: cost + mark,
        }
    }

    /// The end of `text` within `max`: [`MARK`] then the last whole clusters.
    fn fit_end(&self, text: &str, max: usize) -> Fitted {
        let mark = self.mark_cost();
        if max < mark {
            return Fitted {
                text: String::new(),
                cut: true,
                cost: 0,
            };
        }
        let budget = max - mark;
        let chars: Vec<char> = text.chars().collect();
        let costs: Vec<usize> = (0..chars.len())
            .map(|i| (self.cost)(i.checked_sub(1).map(|j| chars[j]), chars[i]))
            .collect();
        // Walk back from the end; a start index is allowed where a cluster begins.
        let mut used = 0usize;
        let mut start = chars.len();
        let mut i = chars.len();
        while i > 0 {
            i -= 1;
            used += costs[i];
            if used > budget {
                break;
            }
            if i == 0 || is_boundary(chars[i - 1], chars[i], regional_run(&chars[..i])) {
                start = i;
            }
        }
        let rest: String = chars[start..].iter().collect();
        let rest = rest.trim_start();
        let mut out = String::from(MARK);
        let mut cost = mark;
        // Escaped after the mark: the first character is not at a line start
        // any more, so it never costs more than it did above.
        let mut prev = MARK.chars().last();
        for c in rest.chars() {
            (self.push)(prev, c, &mut out);
            cost += (self.cost)(prev, c);
            prev = Some(c);
        }
        Fitted {
            text: out,
            cut: true,
            cost,
        }
    }

    /// A log record within `max`, escaped: whole when it fits; else its first
    /// line (at most a third of the room), a `…` line, and as many of its last
    /// lines as fit — for a traceback, the header and the exception at the end.
    pub fn excerpt(&self, log: &str, max: usize) -> Fitted {
        let log = log.trim_end();
        let whole = self.cost_of(log);
        if whole <= max {
            return Fitted {
                text: self.escape(log),
                cut: false,
                cost: whole,
            };
        }
        let lines: Vec<&str> = log.lines().collect();
        let gap = format!("\n{MARK}\n");
        let gap_cost = self.cost_of(&gap);
        if lines.len() < 2 || max < gap_cost + 2 * self.mark_cost() + 8 {
            return self.fit(log, max);
        }
        let head = self.fit(lines[0], max / 3);
        let room = max.saturating_sub(head.cost + gap_cost);
        let mut start = lines.len();
        let mut used = 0usize;
        while start > 1 {
            let extra = self.cost_of(lines[start - 1]) + usize::from(start != lines.len());
            if used + extra > room {
                break;
            }
            used += extra;
            start -= 1;
        }
        let tail = if start == lines.len() {
            self.fit_end(lines[lines.len() - 1], room)
        } else {
            let t = lines[start..].join("\n");
            Fitted {
                cost: self.cost_of(&t),
                text: self.escape(&t),
                cut: false,
            }
        };
        Fitted {
            text: format!("{}{gap}{}", head.text, tail.text),
            cut: true,
            cost: head.cost + gap_cost + tail.cost,
        }
    }
}

/// Characters that attach to the one before them (combining marks, joiners,
/// variation selectors, emoji skin tones, tag characters): never cut before one.
pub fn is_extender(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F
        | 0x0483..=0x0489
        | 0x0591..=0x05BD
        | 0x0610..=0x061A
        | 0x064B..=0x065F
        | 0x0E31
        | 0x0E34..=0x0E3A
        | 0x0E47..=0x0E4E
        | 0x1AB0..=0x1AFF
        | 0x1DC0..=0x1DFF
        | 0x200C
        | 0x200D
        | 0x20D0..=0x20FF
        | 0xFE00..=0xFE0F
        | 0xFE20..=0xFE2F
        | 0x1F3FB..=0x1F3FF
        | 0xE0020..=0xE007F
        | 0xE0100..=0xE01EF)
}

fn is_regional(c: char) -> bool {
    matches!(c as u32, 0x1F1E6..=0x1F1FF)
}

/// How many regional indicators end `s`.
fn regional_run(s: &[char]) -> usize {
    s.iter().rev().take_while(|c| is_regional(**c)).count()
}

/// May text be cut between `prev` and `next`? `ri_run` = regional indicators
/// ending at `prev` (a flag is a pair of them).
fn is_boundary(prev: char, next: char, ri_run: usize) -> bool {
    !(is_extender(next)
        || prev == '\u{200D}'
        || (prev == '\r' && next == '\n')
        || (is_regional(prev) && is_regional(next) && ri_run % 2 == 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every cut of `text` at every limit is a whole-cluster prefix plus the mark.
    fn assert_clean_cuts(text: &str) {
        let total = chars(text);
        for max in 0..=total + 1 {
            let f = PLAIN.fit(text, max);
            assert!(chars(&f.text) <= max, "{max}: {:?}", f.text);
            if !f.cut {
                assert_eq!(f.text, text);
                continue;
            }
            if f.text.is_empty() {
                continue;
            }
            let kept = f.text.strip_suffix(MARK).expect("mark");
            assert!(text.starts_with(kept), "{max}: {kept:?}");
            if let Some(next) = text[kept.len()..].trim_start().chars().next() {
                assert!(!is_extender(next), "{max}: cut before {next:?} in {kept:?}");
            }
            assert!(!kept.ends_with('\u{200D}'), "{max}: cut after ZWJ");
            assert_eq!(
                kept.chars().filter(|c| is_regional(*c)).count() % 2,
                0,
                "{max}: flag split"
            );
        }
    }

    #[test]
    fn cuts_never_split_a_cluster() {
        // Vietnamese precomposed and decomposed (NFD: e + U+0323 + U+0302).
        assert_clean_cuts("Người dùng đã đăng nhập thất bại");
        assert_clean_cuts("Nguye\u{0323}\u{0302}n Va\u{0306}n A\u{0300}");
        // Emoji: ZWJ sequence, skin tone, keycap, flags.
        assert_clean_cuts("ok 👩‍💻 👍🏽 1️⃣ 🇻🇳🇫🇷🇩🇪 end");
    }

    #[test]
    fn fit_marks_cuts_and_keeps_limits() {
        assert_eq!(
            PLAIN.fit("hello", 5),
            Fitted {
                text: "hello".into(),
                cut: false,
                cost: 5,
            }
        );
        assert_eq!(PLAIN.fit("hello world", 7).cost, 6);
        assert_eq!(PLAIN.fit("ab   cdef", 6).text, "ab…");
        assert_eq!(PLAIN.fit("hello world", 7).text, "hello…");
        assert_eq!(PLAIN.fit("hello", 1).text, "…");
        assert_eq!(PLAIN.fit("hello", 0).text, "");
        assert_eq!(PLAIN.fit("", 0).text, "");
        assert!(!PLAIN.fit("", 0).cut);
    }

    fn push_amp(_: Option<char>, c: char, out: &mut String) {
        match c {
            '&' => out.push_str("&amp;"),
            _ => out.push(c),
        }
    }
    fn cost_amp(_: Option<char>, c: char) -> usize {
        if c == '&' {
            5
        } else {
            1
        }
    }
    const AMP: Escaper = Escaper {
        push: push_amp,
        cost: cost_amp,
    };

    #[test]
    fn escapes_are_never_split() {
        for max in 0..20 {
            let f = AMP.fit("a&b&c&d&e", max);
            assert!(chars(&f.text) <= max, "{max}: {}", f.text);
            assert_eq!(chars(&f.text), f.cost, "{max}: {}", f.text);
            assert!(!f.text.replace("&amp;", "").contains('&'), "{}", f.text);
        }
        assert_eq!(AMP.fit("a&b", 7).text, "a&amp;b");
        assert_eq!(AMP.fit("a&b", 6).text, "a…");
    }

    #[test]
    fn excerpt_keeps_head_and_tail_within_limit() {
        let mut log =
            String::from("2026-11-27 08:01:50.392 | ERROR | main - Exception in ASGI application");
        log.push_str("\nTraceback (most recent call last):");
        for i in 0..200 {
            log.push_str(&format!("\n  File \"/app/x{i}.py\", line {i}, in f"));
        }
        log.push_str("\nValueError: the bad thing");
        for max in [60, 200, 500, 1500] {
            let f = PLAIN.excerpt(&log, max);
            assert_eq!(chars(&f.text), f.cost);
            let e = f.text;
            assert!(chars(&e) <= max, "{max}: {}", chars(&e));
            assert!(e.starts_with("2026-11-27"), "{e}");
            assert!(e.ends_with("ValueError: the bad thing"), "{e}");
            assert!(e.contains("\n…\n"));
        }
        assert_eq!(PLAIN.excerpt("short\nlog\n", 100).text, "short\nlog");
        // One long line: cut, marked.
        let one = "x".repeat(300);
        assert_eq!(chars(&PLAIN.excerpt(&one, 100).text), 100);
        // Last line alone too long: its end.
        let e = PLAIN
            .excerpt(&format!("head\n{}", "y".repeat(500)), 100)
            .text;
        assert!(chars(&e) <= 100 && e.starts_with("head\n…\n…y"), "{e}");
    }

    #[test]
    fn words_around_the_data() {
        let o = Origin {
            container: Some("/open-webui".into()),
            container_id: None,
            stream: "stderr".into(),
            host: "myhost".into(),
            file: None,
        };
        assert_eq!(source_label(&o), "open-webui on myhost");
        let f = Origin {
            container: None,
            file: Some("/logs/owui.log".into()),
            stream: "file".into(),
            ..o.clone()
        };
        assert_eq!(source_label(&f), "owui.log on myhost");
        assert_eq!(
            display_time("2026-11-27T08:01:50.392Z").as_deref(),
            Some("2026-11-27 08:01:50 UTC")
        );
        assert_eq!(display_time("nope"), None);
        assert_eq!(utf16_len("a😀"), 3);
    }
}
