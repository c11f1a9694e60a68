//! Event-name filters (`WEBHOOK_EVENTS`, `DISCORD_EVENTS`, …): comma-separated
//! names or globs where `*` matches any run of characters.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter {
    patterns: Vec<String>,
}

impl EventFilter {
    pub fn all() -> EventFilter {
        EventFilter {
            patterns: vec!["*".into()],
        }
    }

    pub fn parse(v: &str) -> Result<EventFilter, String> {
        let patterns: Vec<String> = v
            .split(',')
            .map(|p| p.trim().to_ascii_lowercase())
            .filter(|p| !p.is_empty())
            .collect();
        if patterns.is_empty() {
            return Err("lists no event names; use * for every event, or names such as user.*,file.uploaded".into());
        }
        if let Some(bad) = patterns.iter().find(|p| {
            !p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-*".contains(c))
        }) {
            return Err(format!("'{bad}' is not an event name or glob (letters, digits, '.', '_', '-' and '*' only)"));
        }
        Ok(EventFilter { patterns })
    }

    pub fn allows(&self, event: &str) -> bool {
        self.patterns
            .iter()
            .any(|p| glob_match(p.as_bytes(), event.as_bytes()))
    }
}

impl EventFilter {
    /// Each name or glob of the filter that no event in `known` matches,
    /// with the closest known name when one is near (a typo).
    pub fn unknown<'a>(&'a self, known: &[&'a str]) -> Vec<(&'a str, Option<&'a str>)> {
        self.patterns
            .iter()
            .filter(|p| !known.iter().any(|k| glob_match(p.as_bytes(), k.as_bytes())))
            .map(|p| (p.as_str(), nearest(p, known)))
            .collect()
    }
}

/// The known name closest to `p` by edits (a glob's `*` aside), if close.
fn nearest<'a>(p: &str, known: &[&'a str]) -> Option<&'a str> {
    let bare: String = p.chars().filter(|c| *c != '*').collect();
    let limit = (bare.len() / 4).clamp(2, 4);
    known
        .iter()
        .map(|k| (edits(&bare, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance.
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

impl fmt::Display for EventFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.patterns.join(","))
    }
}

/// Iterative glob with `*` only; linear in practice for event names.
fn glob_match(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while si < s.len() {
        if pi < p.len() && p[pi] != b'*' && p[pi] == s[si].to_ascii_lowercase() {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            pi += 1;
            mark = si;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let f = EventFilter::parse("user.*, file.uploaded").unwrap();
        assert!(f.allows("user.created"));
        assert!(f.allows("user.login_failed"));
        assert!(f.allows("file.uploaded"));
        assert!(!f.allows("file.deleted"));
        assert!(!f.allows("users"));
        assert!(EventFilter::all().allows("anything.at.all"));
        assert!(EventFilter::parse("*.deleted")
            .unwrap()
            .allows("chat.deleted"));
        assert!(EventFilter::parse(" , ").is_err());
        assert!(EventFilter::parse("user created").is_err());
    }

    #[test]
    fn unknown_names_get_the_nearest_known_one() {
        let known = [
            "message.created",
            "user.created",
            "file.uploaded",
            "chat.deleted",
        ];
        let f = EventFilter::parse("message.create,user.*,flie.uploaded,test,chat.*,nothing.*")
            .unwrap();
        assert_eq!(
            f.unknown(&known),
            [
                ("message.create", Some("message.created")),
                ("flie.uploaded", Some("file.uploaded")),
                ("test", None),
                ("nothing.*", None),
            ]
        );
        assert!(EventFilter::all().unknown(&known).is_empty());
    }
}
