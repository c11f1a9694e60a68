//! Correlation between records (`remember` / `recall`), like fail2ban's
//! multi-line ids: a rule keeps a record's data under a key, and a later rule
//! takes it into its own event. Open WebUI logs `authenticate_user: <email>`
//! before the sign-in's access line, which alone says whether it worked; the
//! pair becomes one `user.login` event with the email. Entries are kept in
//! record order per followed source and consumed by the first recall.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Hit, Limiter, Rule};

/// Most entries kept per key (a burst of sign-ins that never complete).
const MAX_PER_KEY: usize = 256;

/// Data fields as a rule produced them.
type Data = Vec<(String, String)>;

#[derive(Default)]
pub struct Memory {
    entries: HashMap<String, VecDeque<(DateTime<Utc>, Data)>>,
}

impl Memory {
    pub fn remember(&mut self, key: &str, at: DateTime<Utc>, data: Data) {
        let q = self.entries.entry(key.to_string()).or_default();
        if q.len() >= MAX_PER_KEY {
            q.pop_front();
        }
        q.push_back((at, data));
    }

    /// The oldest entry under `key` no older than `within` before `at`, taken out.
    pub fn recall(&mut self, key: &str, within: Duration, at: DateTime<Utc>) -> Option<Data> {
        let q = self.entries.get_mut(key)?;
        let window = chrono::Duration::from_std(within).unwrap_or(chrono::Duration::MAX);
        while q.front().is_some_and(|(t, _)| at - *t > window) {
            q.pop_front();
        }
        q.pop_front().map(|(_, d)| d)
    }
}

/// What happens to one hit before it becomes an event: recalled data merged
/// (the hit's own fields win), data remembered, then threshold and cooldown.
/// False when no event is to be made of it.
pub fn shape(
    memory: &mut Memory,
    limiter: &mut Limiter,
    rule: &Rule,
    hit: &mut Hit,
    at: DateTime<Utc>,
) -> bool {
    if let Some((key, within)) = &rule.recall {
        if let Some(found) = memory.recall(key, *within, at) {
            for (k, v) in found {
                if !hit.data.iter().any(|(own, _)| *own == k) {
                    hit.data.push((k, v));
                }
            }
        }
    }
    if let Some(key) = &rule.remember {
        memory.remember(key, at, hit.data.clone());
    }
    rule.fires && limiter.admit(rule, hit, at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSet;

    const PACK: &str = r#"
[[rule]]
id = "attempt"
match = 'authenticate_user: (?P<email>\S+)'
remember = "signin"

[[rule]]
id = "ok"
event = "user.login"
match = '"POST /api/v1/auths/signin HTTP/1.1" (?P<status>200)'
recall = { key = "signin", within = "10s" }

[[rule]]
id = "failed"
event = "user.login_failed"
match = '"POST /api/v1/auths/signin HTTP/1.1" (?P<status>400)'
recall = { key = "signin", within = "10s" }
threshold = { count = 2, within = "60s", group_by = "email" }
"#;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn signin_pairs_become_one_event_with_the_email() {
        let rs = RuleSet::from_texts(&[("t.toml".into(), PACK.into())]).unwrap();
        let (mut mem, mut lim) = (Memory::default(), Limiter::default());
        let mut run = |text: &str, at: DateTime<Utc>| -> Vec<(String, Vec<(String, String)>)> {
            let rec = crate::record::Record {
                stream: crate::record::Stream::Stdout,
                ts: Some(at),
                first_line: 1,
                text: text.into(),
                truncated_lines: 0,
                start: crate::record::Cursor::Offset(0),
                end: crate::record::Cursor::Offset(0),
            };
            let mut hits = Vec::new();
            rs.matches(&rec, &mut crate::rules::Scratch::default(), &mut hits);
            hits.into_iter()
                .filter_map(|mut h| {
                    let rule = &rs.rules()[h.rule];
                    shape(&mut mem, &mut lim, rule, &mut h, at)
                        .then(|| (rule.event.clone(), h.data))
                })
                .collect()
        };
        assert!(
            run("authenticate_user: a@example.com", t(0)).is_empty(),
            "remembering fires nothing"
        );
        let ok = run(r#""POST /api/v1/auths/signin HTTP/1.1" 200"#, t(1));
        assert_eq!(
            ok,
            vec![(
                "user.login".to_string(),
                vec![
                    ("status".into(), "200".into()),
                    ("email".into(), "a@example.com".into())
                ]
            )]
        );
        // Consumed: a second access line finds nothing, still fires.
        let again = run(r#""POST /api/v1/auths/signin HTTP/1.1" 200"#, t(2));
        assert_eq!(again[0].1, vec![("status".to_string(), "200".to_string())]);
        // Too old to pair.
        run("authenticate_user: old@example.com", t(10));
        let late = run(r#""POST /api/v1/auths/signin HTTP/1.1" 200"#, t(30));
        assert!(!late[0].1.iter().any(|(k, _)| k == "email"));
        // group_by on a recalled field: two failures for one email fire once.
        run("authenticate_user: eve@example.com", t(40));
        assert!(run(r#""POST /api/v1/auths/signin HTTP/1.1" 400"#, t(41)).is_empty());
        run("authenticate_user: eve@example.com", t(42));
        let burst = run(r#""POST /api/v1/auths/signin HTTP/1.1" 400"#, t(43));
        assert_eq!(burst.len(), 1);
        assert!(burst[0]
            .1
            .contains(&("email".to_string(), "eve@example.com".to_string())));
        assert!(burst[0].1.contains(&("count".to_string(), "2".to_string())));
    }
}
