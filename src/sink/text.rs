//! Keeping text within a platform's limits: escaping it as the platform
//! asks, counting it as the platform counts, and cutting it only between
//! whole user-perceived characters — Unicode extended grapheme clusters
//! (UAX #29, by the `unicode-segmentation` crate): a letter with its
//! combining marks (Vietnamese written decomposed, Devanagari vowel signs and
//! viramas), an emoji with its modifiers or joiners, a flag, `\r\n`. Every
//! cut is marked with a visible `…`. An escape sequence (`&amp;`, `\*`) is
//! never split either, because whole escaped clusters are kept or dropped.
//!
//! Knows nothing about HTTP or any platform's JSON; each sink gives its
//! [`Escaper`].

use unicode_segmentation::UnicodeSegmentation;

/// The visible mark left where text was cut.
pub const MARK: &str = "…";

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

impl Fitted {
    /// Not even the mark fits.
    fn nothing() -> Fitted {
        Fitted {
            text: String::new(),
            cut: true,
            cost: 0,
        }
    }
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

    /// What `s` costs once escaped, after `prev` (the character before it).
    fn cost_after(&self, mut prev: Option<char>, s: &str) -> usize {
        s.chars()
            .map(|c| {
                let k = (self.cost)(prev, c);
                prev = Some(c);
                k
            })
            .sum()
    }

    /// What `s` costs once escaped.
    pub fn cost_of(&self, s: &str) -> usize {
        self.cost_after(None, s)
    }

    fn mark_cost(&self) -> usize {
        self.cost_of(MARK)
    }

    /// What the mark costs and the room left beside it, if `max` holds the mark.
    fn room_after_mark(&self, max: usize) -> Option<(usize, usize)> {
        let mark = self.mark_cost();
        max.checked_sub(mark).map(|budget| (mark, budget))
    }

    /// `text` escaped and kept within `max`: whole, or cut between grapheme
    /// clusters with [`MARK`] appended (white space before the mark is
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
        let Some((mark, budget)) = self.room_after_mark(max) else {
            return Fitted::nothing();
        };
        let mut out = String::new();
        let mut used = 0usize;
        // (bytes, cost) of the output after the last cluster that is not white space.
        let mut keep = (0usize, 0usize);
        let mut prev = None;
        for g in text.graphemes(true) {
            let k = self.cost_after(prev, g);
            if used + k > budget {
                break;
            }
            for c in g.chars() {
                (self.push)(prev, c, &mut out);
                prev = Some(c);
            }
            used += k;
            if !g.chars().all(char::is_whitespace) {
                keep = (out.len(), used);
            }
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
        let Some((mark, budget)) = self.room_after_mark(max) else {
            return Fitted::nothing();
        };
        let clusters: Vec<(usize, &str)> = text.grapheme_indices(true).collect();
        // Walk back from the end, cluster by cluster, counting each as it is
        // escaped after the character before it.
        let mut used = 0usize;
        let mut start = text.len();
        for &(at, g) in clusters.iter().rev() {
            let prev = text[..at].chars().next_back();
            used += self.cost_after(prev, g);
            if used > budget {
                break;
            }
            start = at;
        }
        // White space after the mark goes, a whole cluster at a time: a space
        // carrying a combining mark is one cluster, and the mark stays with it.
        let rest = &text[start..];
        let rest = rest
            .grapheme_indices(true)
            .find(|(_, g)| !g.chars().all(char::is_whitespace))
            .map_or("", |(at, _)| &rest[at..]);
        let mut out = String::from(MARK);
        // Escaped after the mark: the first character is not at a line start
        // any more, so it never costs more than it did above.
        let mut prev = MARK.chars().last();
        let mut cost = mark;
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

/// Whether `text` may be cut at byte `at`: a grapheme-cluster boundary (the
/// tests' oracle, from the same library).
pub fn is_cluster_boundary(text: &str, at: usize) -> bool {
    at == 0 || at == text.len() || text.grapheme_indices(true).any(|(i, _)| i == at)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts whose clusters are many characters: Vietnamese precomposed and
    /// decomposed (NFD: e + U+0323 + U+0302), Hindi (vowel signs, viramas),
    /// emoji ZWJ sequences, skin tones, keycaps, flags, CRLF.
    const CLUSTERED: &[&str] = &[
        "Người dùng đã đăng nhập thất bại",
        "Nguye\u{0323}\u{0302}n Va\u{0306}n A\u{0300} đã tải lên tệp",
        "नमस्ते दुनिया, क्षत्रिय श्री हिन्दी",
        "ok 👩‍💻 👨‍👩‍👧‍👦 👍🏽 1️⃣ 🇻🇳🇫🇷🇩🇪 🏴󠁧󠁢󠁳󠁣󠁴󠁿 end",
        "line one\r\nline two",
    ];

    /// Every cut of `text` at every limit is a whole-cluster prefix plus the mark.
    fn assert_clean_cuts(esc: &Escaper, text: &str) {
        let total = esc.cost_of(text);
        for max in 0..=total + 1 {
            let f = esc.fit(text, max);
            assert!(f.cost <= max, "{max}: {:?}", f.text);
            if !f.cut {
                assert_eq!(f.text, esc.escape(text));
                continue;
            }
            if f.text.is_empty() {
                continue;
            }
            let kept = f.text.strip_suffix(MARK).expect("mark");
            if esc.escape(text) != text {
                continue; // escaped text is checked by the sinks' tests
            }
            assert!(text.starts_with(kept), "{max}: {kept:?}");
            assert!(
                is_cluster_boundary(text, kept.len()),
                "{max}: cut inside a cluster after {kept:?}"
            );
        }
    }

    #[test]
    fn cuts_never_split_a_cluster() {
        for text in CLUSTERED {
            assert_clean_cuts(&PLAIN, text);
        }
    }

    #[test]
    fn ends_keep_whole_clusters_too() {
        for text in CLUSTERED {
            for max in 1..=PLAIN.cost_of(text) {
                let f = PLAIN.fit_end(text, max);
                assert!(f.cost <= max || f.text.is_empty(), "{max}: {:?}", f.text);
                if let Some(rest) = f.text.strip_prefix(MARK) {
                    let at = text.len() - rest.len();
                    assert!(text.ends_with(rest), "{max}: {rest:?}");
                    assert!(is_cluster_boundary(text, at), "{max}: {rest:?}");
                }
            }
        }
    }

    /// Text made of the pieces clusters are built from, in any order, and any
    /// character at all.
    fn clustery_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            prop::sample::select(vec![
                "a",
                "e",
                " ",
                "\r",
                "\n",
                "\r\n",
                "ệ",
                "\u{0323}",
                "\u{0302}",
                "\u{0300}",
                "न",
                "\u{094D}",
                "\u{093E}",
                "\u{200D}",
                "👩",
                "💻",
                "🏽",
                "🇻",
                "🇳",
                "\u{FE0F}",
                "\u{20E3}",
                "1",
                "\u{E0067}",
                "\u{E007F}",
                "🏴",
            ])
            .prop_map(str::to_string),
            any::<char>().prop_map(String::from),
        ];
        prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]
        #[test]
        fn no_cut_of_any_text_splits_a_cluster(text in clustery_text()) {
            assert_clean_cuts(&PLAIN, &text);
            for max in 1..=PLAIN.cost_of(&text) {
                let f = PLAIN.fit_end(&text, max);
                if let Some(rest) = f.text.strip_prefix(MARK) {
                    proptest::prop_assert!(text.ends_with(rest));
                    proptest::prop_assert!(is_cluster_boundary(&text, text.len() - rest.len()));
                }
            }
        }
    }

    #[test]
    fn the_oracle_knows_what_a_hand_table_missed() {
        // A Devanagari vowel sign (U+093E) and virama (U+094D) belong to the
        // letter before them: the old hand-made table of marks let a cut fall there.
        let hindi = "नमस्ते";
        let after_sa = "नमस".len();
        assert!(!is_cluster_boundary(hindi, after_sa), "स्ते is one cluster");
        assert!(is_cluster_boundary(hindi, "नम".len()));
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
    fn lengths() {
        assert_eq!(utf16_len("a😀"), 3);
        assert_eq!(chars("a😀"), 2);
    }
}
