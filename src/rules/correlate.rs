//! Correlation between records, like fail2ban's multi-line ids: a rule
//! `remember`s a record's data under a key, and another rule's event takes it
//! in — looking back (`recall`: the data was logged before, as Open WebUI's
//! `authenticate_user: <email>` before the sign-in's access line) or waiting
//! ahead (`wait_for`: the data comes after, as the audit log's acting user
//! after the access line). Keys are templates over the data, so records pair
//! per request (`audit {method} {path}`). The [`Correlator`] also runs each
//! event past threshold and cooldown; it is per followed source, in record
//! order, and every time in it is the record's own, so a replayed log pairs
//! as it did live.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::template::{Template, TemplateError};
use super::{Hit, Limiter, Rule};

/// Most entries kept per key (a burst of sign-ins that never complete).
const MAX_PER_KEY: usize = 256;
/// Remembered data nobody took is dropped after this long.
const MAX_AGE: chrono::Duration = chrono::Duration::hours(1);
/// Most events held at once; beyond it the oldest goes out without its data.
const MAX_WAITING: usize = 1_000;
/// Waits in a row that end without their record before a family is no longer
/// waited for (the audit log was switched off) — until one is seen again.
const MAX_MISSES: u32 = 10;

/// Data fields as a rule produced them.
type Data = Vec<(String, String)>;

/// A correlation key: a template over the data, and its family, the text
/// before the first field. `wait_for` only holds events once a record of its
/// family has been remembered in this source, so a log that never carries
/// the awaited records (audit log off) delays nothing.
#[derive(Debug, Clone)]
pub struct Key {
    template: Template,
    family: String,
    /// On a `remember` key: whether some rule recalls this family (set by the
    /// rule set); if none does, data no held event takes is not kept.
    pub recalled: bool,
}

impl Key {
    /// `known`: the field names the key may use (`None`: any, they may only
    /// exist at run time).
    pub fn parse(text: &str, known: Option<&[&str]>) -> Result<Key, TemplateError> {
        let template = Template::parse_with(text, known)?;
        let family = text.split('{').next().unwrap_or("").trim().to_string();
        Ok(Key {
            template,
            family,
            recalled: true,
        })
    }

    pub fn family(&self) -> &str {
        &self.family
    }

    pub fn render(&self, data: &Data) -> String {
        self.template
            .render(|k| data.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()))
    }
}

#[derive(Default)]
pub struct Memory {
    entries: HashMap<String, VecDeque<(DateTime<Utc>, Data)>>,
    stored: u64,
}

impl Memory {
    pub fn remember(&mut self, key: String, at: DateTime<Utc>, data: Data) {
        self.stored += 1;
        if self.stored % 1024 == 0 {
            self.prune(at);
        }
        let q = self.entries.entry(key).or_default();
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

    /// Drops what is older than [`MAX_AGE`]: distinct keys (paths, emails)
    /// must not grow memory forever.
    fn prune(&mut self, at: DateTime<Utc>) {
        self.entries.retain(|_, q| {
            while q.front().is_some_and(|(t, _)| at - *t > MAX_AGE) {
                q.pop_front();
            }
            !q.is_empty()
        });
    }
}

/// An event that is ready: from the record being offered, or one that was
/// held and carries what its caller stored with it.
#[derive(Debug)]
pub enum Ready<T> {
    Current(Hit),
    Held(Hit, T),
}

struct Waiting<T> {
    key: String,
    family: String,
    /// Which record it came from: events of one record share the data.
    record: u64,
    /// Released once a record logged after this arrives without its data.
    until: DateTime<Utc>,
    /// Released at this wall-clock time when the log goes quiet.
    deadline: Instant,
    hit: Hit,
    context: T,
}

/// Per-source correlation state: remembered data, held events, limits.
/// `T` is what the caller needs to turn a held hit into an event later (its
/// record and rules).
pub struct Correlator<T> {
    memory: Memory,
    limiter: Limiter,
    waiting: VecDeque<Waiting<T>>,
    /// Families waited for, with the waits in a row that ended without data.
    families: HashMap<String, u32>,
    /// Whether the families waited for changed since last asked.
    changed: bool,
    /// Counts records ([`Correlator::begin_record`]).
    record: u64,
}

impl<T> Default for Correlator<T> {
    fn default() -> Self {
        Correlator {
            memory: Memory::default(),
            limiter: Limiter::default(),
            waiting: VecDeque::new(),
            families: HashMap::new(),
            changed: false,
            record: 0,
        }
    }
}

impl<T> Correlator<T> {
    /// One hit of `rule` on a record logged at `at`: recalled data merged
    /// (the hit's own fields win), `skip_after` looked up (and consumed),
    /// data remembered or handed to the event waiting for it, then threshold
    /// and cooldown, then `wait_for`. What is
    /// ready goes to `out`, oldest first; `context` is asked for only when
    /// this hit's event is held.
    pub fn offer(
        &mut self,
        rule: &Rule,
        mut hit: Hit,
        at: DateTime<Utc>,
        now: Instant,
        context: impl FnOnce() -> T,
        out: &mut Vec<Ready<T>>,
    ) {
        if let Some((key, within)) = &rule.recall {
            if let Some(found) = self.memory.recall(&key.render(&hit.data), *within, at) {
                merge(&mut hit.data, found);
            }
        }
        let skipped = rule.skip_after.as_ref().is_some_and(|(key, within)| {
            self.memory
                .recall(&key.render(&hit.data), *within, at)
                .is_some()
        });
        if let Some(key) = &rule.remember {
            if self.families.insert(key.family.clone(), 0).is_none() {
                self.changed = true;
            }
            let k = key.render(&hit.data);
            let first = self.waiting.iter().find(|w| w.key == k && at <= w.until);
            match first.map(|w| w.record) {
                // Every event of that record (user.login_failed and the
                // brute-force alarm on one access line) takes the data.
                Some(of) => {
                    let (done, wait): (VecDeque<_>, VecDeque<_>) =
                        std::mem::take(&mut self.waiting)
                            .into_iter()
                            .partition(|w| w.key == k && w.record == of);
                    self.waiting = wait;
                    for mut w in done {
                        merge(&mut w.hit.data, hit.data.clone());
                        out.push(Ready::Held(w.hit, w.context));
                    }
                }
                None if key.recalled => self.memory.remember(k, at, hit.data.clone()),
                None => {}
            }
        }
        if skipped {
            self.limiter.open(rule, &hit, at);
            return;
        }
        if !rule.fires || !self.limiter.admit(rule, &mut hit, at) {
            return;
        }
        match &rule.wait_for {
            Some((key, within)) if self.families.contains_key(&key.family) => {
                if self.waiting.len() >= MAX_WAITING {
                    if let Some(w) = self.waiting.pop_front() {
                        out.push(Ready::Held(w.hit, w.context));
                    }
                }
                self.waiting.push_back(Waiting {
                    key: key.render(&hit.data),
                    family: key.family.clone(),
                    record: self.record,
                    until: at + chrono::Duration::from_std(*within).unwrap_or(MAX_AGE),
                    deadline: now + *within,
                    hit,
                    context: context(),
                });
            }
            _ => out.push(Ready::Current(hit)),
        }
    }

    /// A new record, logged at `at()`, is about to be offered: held events
    /// whose window it is past (or whose clock deadline passed) are released.
    /// `at` is asked for only while events are held: reading a record's time
    /// costs, and most records meet no held event.
    pub fn begin_record(
        &mut self,
        at: impl FnOnce() -> DateTime<Utc>,
        now: Instant,
        out: &mut Vec<Ready<T>>,
    ) {
        self.record += 1;
        if !self.waiting.is_empty() {
            self.expire(Some(at()), now, out);
        }
    }

    /// Releases held events whose clock deadline passed (the log went quiet).
    pub fn expire_by_clock(&mut self, now: Instant, out: &mut Vec<Ready<T>>) {
        self.expire(None, now, out);
    }

    fn expire(&mut self, at: Option<DateTime<Utc>>, now: Instant, out: &mut Vec<Ready<T>>) {
        let mut i = 0;
        while i < self.waiting.len() {
            let w = &self.waiting[i];
            if at.is_some_and(|at| at > w.until) || now >= w.deadline {
                if let Some(w) = self.waiting.remove(i) {
                    self.missed(&w.family);
                    out.push(Ready::Held(w.hit, w.context));
                }
            } else {
                i += 1;
            }
        }
    }

    /// Counts a wait that ended without its record; enough in a row and the
    /// family is no longer waited for.
    fn missed(&mut self, family: &str) {
        if let Some(misses) = self.families.get_mut(family) {
            *misses += 1;
            if *misses >= MAX_MISSES {
                self.families.remove(family);
                self.changed = true;
            }
        }
    }

    /// After a rule reload: families no rule remembers any more are not
    /// waited for (a user switched the audit rule off).
    pub fn keep_families(&mut self, remembered: &HashSet<String>) {
        let before = self.families.len();
        self.families.retain(|f, _| remembered.contains(f));
        if self.families.len() != before {
            self.changed = true;
        }
    }

    /// Families to wait for from the start (remembered by an earlier run, so
    /// the first events after a restart wait too).
    pub fn wait_for_families(&mut self, families: impl IntoIterator<Item = String>) {
        for f in families {
            self.families.entry(f).or_insert(0);
        }
    }

    /// The families waited for now, when that set changed since last asked.
    pub fn families_changed(&mut self) -> Option<Vec<String>> {
        if !self.changed {
            return None;
        }
        self.changed = false;
        let mut all: Vec<String> = self.families.keys().cloned().collect();
        all.sort();
        Some(all)
    }

    /// Releases every held event (end of input).
    pub fn drain(&mut self, out: &mut Vec<Ready<T>>) {
        out.extend(
            self.waiting
                .drain(..)
                .map(|w| Ready::Held(w.hit, w.context)),
        );
    }

    /// When the next held event is due, for the caller's timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.waiting.iter().map(|w| w.deadline).min()
    }

    /// What the held events were stored with (a checkpoint must not pass their records).
    pub fn held(&self) -> impl Iterator<Item = &T> {
        self.waiting.iter().map(|w| &w.context)
    }
}

/// Adds `found`'s fields that `own` does not have. Fields named `_…` exist
/// only to build keys and stay with their record.
fn merge(own: &mut Data, found: Data) {
    for (k, v) in found {
        if !k.starts_with('_') && !own.iter().any(|(o, _)| *o == k) {
            own.push((k, v));
        }
    }
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

[[rule]]
id = "audit"
match = 'AUDIT (?P<_method>[A-Z]+) (?P<_path>\S+) by (?P<actor_email>\S+)'
remember = "audit {_method} {_path}"

[[rule]]
id = "deleted"
event = "chat.deleted"
match = '"(?P<_method>DELETE) (?P<_path>/api/v1/chats/(?P<chat_id>\w+)) HTTP/1.1" 200'
wait_for = { key = "audit {_method} {_path}", within = "2s" }

[[rule]]
id = "new_chat"
event = "chat.created"
match = '(?P<client_ip>\S+) "POST /api/v1/chats/new HTTP/1.1" 200'
remember = "new chat {client_ip}"

[[rule]]
id = "saved"
event = "chat.updated"
match = '(?P<client_ip>\S+) "POST /api/v1/chats/(?P<chat_id>c[0-9]+) HTTP/1.1" 200'
skip_after = { key = "new chat {client_ip}", within = "1m" }
cooldown = "5m"
cooldown_key = "chat {chat_id}"
cooldown_count = "saves"
"#;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    type Out = Vec<(String, Vec<(String, String)>, &'static str)>;

    /// Runs records through the correlator; events come out named, with data
    /// and the text of the record they were made of.
    struct Run {
        rs: RuleSet,
        c: Correlator<&'static str>,
        start: Instant,
    }

    impl Run {
        fn new() -> Run {
            let rs = RuleSet::from_texts(&[("t.toml".into(), PACK.into())]).unwrap();
            Run {
                rs,
                c: Correlator::default(),
                start: Instant::now(),
            }
        }

        fn ready(&self, ready: Vec<Ready<&'static str>>, current: &'static str) -> Out {
            ready
                .into_iter()
                .map(|r| {
                    let (h, text) = match r {
                        Ready::Current(h) => (h, current),
                        Ready::Held(h, text) => (h, text),
                    };
                    (self.rs.rules()[h.rule].event.clone(), h.data, text)
                })
                .collect()
        }

        fn line(&mut self, text: &'static str, at: DateTime<Utc>) -> Out {
            self.line_at(text, at, self.start)
        }

        fn line_at(&mut self, text: &'static str, at: DateTime<Utc>, now: Instant) -> Out {
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
            self.rs
                .matches(&rec, &mut crate::rules::Scratch::default(), &mut hits);
            let mut ready = Vec::new();
            self.c.begin_record(|| at, now, &mut ready);
            for h in hits {
                let rule = &self.rs.rules()[h.rule];
                self.c.offer(rule, h, at, now, || text, &mut ready);
            }
            self.ready(ready, text)
        }
    }

    /// An event's data as receivers see it (without `_…` key fields).
    fn data(out: &Out, i: usize) -> Vec<(&str, &str)> {
        out[i]
            .1
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn signin_pairs_become_one_event_with_the_email() {
        let mut run = Run::new();
        assert!(
            run.line("authenticate_user: a@example.com", t(0))
                .is_empty(),
            "remembering fires nothing"
        );
        let ok = run.line(r#""POST /api/v1/auths/signin HTTP/1.1" 200"#, t(1));
        assert_eq!(ok[0].0, "user.login");
        assert_eq!(
            data(&ok, 0),
            [("status", "200"), ("email", "a@example.com")]
        );
        // Consumed: a second access line finds nothing, still fires.
        let again = run.line(r#""POST /api/v1/auths/signin HTTP/1.1" 200"#, t(2));
        assert_eq!(data(&again, 0), [("status", "200")]);
        // Too old to pair.
        run.line("authenticate_user: old@example.com", t(10));
        let late = run.line(r#""POST /api/v1/auths/signin HTTP/1.1" 200"#, t(30));
        assert_eq!(data(&late, 0), [("status", "200")]);
        // group_by on a recalled field: two failures for one email fire once.
        run.line("authenticate_user: eve@example.com", t(40));
        assert!(run
            .line(r#""POST /api/v1/auths/signin HTTP/1.1" 400"#, t(41))
            .is_empty());
        run.line("authenticate_user: eve@example.com", t(42));
        let burst = run.line(r#""POST /api/v1/auths/signin HTTP/1.1" 400"#, t(43));
        assert_eq!(burst.len(), 1);
        assert!(data(&burst, 0).contains(&("email", "eve@example.com")));
        assert!(data(&burst, 0).contains(&("count", "2")));
    }

    const DELETE_A: &str = r#""DELETE /api/v1/chats/a HTTP/1.1" 200"#;
    const DELETE_B: &str = r#""DELETE /api/v1/chats/b HTTP/1.1" 200"#;
    const AUDIT_A: &str = "AUDIT DELETE /api/v1/chats/a by alice@example.com";
    const AUDIT_B: &str = "AUDIT DELETE /api/v1/chats/b by bob@example.com";

    #[test]
    fn the_first_save_after_a_new_chat_fires_nothing_and_opens_its_window() {
        let mut r = Run::new();
        let created = r.line(r#"10.0.0.1 "POST /api/v1/chats/new HTTP/1.1" 200"#, t(0));
        assert_eq!(
            created[0].0, "chat.created",
            "remembering does not stop the event"
        );
        let save = r#"10.0.0.1 "POST /api/v1/chats/c1 HTTP/1.1" 200"#;
        assert!(
            r.line(save, t(5)).is_empty(),
            "the new chat's first save is not an update"
        );
        for s in [20, 60, 200] {
            assert!(
                r.line(save, t(s)).is_empty(),
                "inside the window chat.created opened"
            );
        }
        let other = r.line(r#"10.0.0.2 "POST /api/v1/chats/c2 HTTP/1.1" 200"#, t(210));
        assert_eq!(other.len(), 1, "another chat has a window of its own");
        assert!(data(&other, 0).contains(&("saves", "1")));
        let later = r.line(save, t(5 + 300));
        assert!(
            data(&later, 0).contains(&("saves", "4")),
            "the three held back and this one: {later:?}"
        );
        assert!(r.line(save, t(310)).is_empty(), "a new window opened");
        // Only once per new chat, and only shortly after it.
        r.line(r#"10.0.0.1 "POST /api/v1/chats/new HTTP/1.1" 200"#, t(1000));
        assert_eq!(
            r.line(r#"10.0.0.1 "POST /api/v1/chats/c3 HTTP/1.1" 200"#, t(1061))
                .len(),
            1,
            "a save more than a minute after the new chat is an update"
        );
    }

    #[test]
    fn nothing_waits_before_the_awaited_kind_of_record_was_ever_seen() {
        let mut run = Run::new();
        let out = run.line(DELETE_A, t(0));
        assert_eq!(out.len(), 1, "audit log off: the event goes out at once");
        assert_eq!(
            data(&out, 0),
            [("chat_id", "a")],
            "key-only fields stay out"
        );
    }

    #[test]
    fn a_held_event_takes_the_data_of_the_record_that_follows_it() {
        let mut run = Run::new();
        run.line(AUDIT_A, t(0)); // the family is now known
        assert!(
            run.line(DELETE_A, t(1)).is_empty(),
            "held for its audit line"
        );
        assert!(run.line(DELETE_B, t(1)).is_empty());
        // Out of order: b's audit line first; each pairs by its own key.
        let b = run.line(AUDIT_B, t(2));
        assert_eq!(b.len(), 1);
        assert_eq!(
            b[0].2, DELETE_B,
            "the event is made of the access line's record"
        );
        assert_eq!(
            data(&b, 0),
            [("chat_id", "b"), ("actor_email", "bob@example.com")]
        );
        let a = run.line(AUDIT_A, t(2));
        assert_eq!(
            data(&a, 0),
            [("chat_id", "a"), ("actor_email", "alice@example.com")]
        );
        assert!(run.c.held().next().is_none());
    }

    #[test]
    fn two_records_logged_in_the_same_millisecond_pair_one_each() {
        let mut run = Run::new();
        run.line(AUDIT_B, t(0));
        assert!(run.line(DELETE_A, t(1)).is_empty());
        assert!(
            run.line(DELETE_A, t(1)).is_empty(),
            "a second request, same time"
        );
        let first = run.line(AUDIT_A, t(1));
        assert_eq!(first.len(), 1, "one audit record completes one request");
        let second = run.line("AUDIT DELETE /api/v1/chats/a by carol@example.com", t(1));
        assert_eq!(
            data(&second, 0),
            [("chat_id", "a"), ("actor_email", "carol@example.com")]
        );
    }

    #[test]
    fn a_held_event_goes_out_without_the_data_when_the_wait_ends() {
        let mut run = Run::new();
        run.line(AUDIT_B, t(0));
        assert!(run.line(DELETE_A, t(10)).is_empty());
        // By log time: a record logged after the window releases it first.
        let out = run.line("unrelated", t(13));
        assert_eq!(out.len(), 1);
        assert_eq!(data(&out, 0), [("chat_id", "a")]);
        // The late audit line pairs with nothing and is kept for nobody.
        assert!(run.line(AUDIT_A, t(14)).is_empty());

        // By the clock, when the log goes quiet.
        assert!(run.line(DELETE_A, t(20)).is_empty());
        let due = run
            .c
            .next_deadline()
            .expect("a deadline for the held event");
        let mut ready = Vec::new();
        run.c
            .expire_by_clock(due - Duration::from_millis(1), &mut ready);
        assert!(ready.is_empty(), "not before its deadline");
        run.c.expire_by_clock(due, &mut ready);
        assert_eq!(ready.len(), 1);

        // At the end of input, without waiting.
        assert!(run.line(DELETE_B, t(30)).is_empty());
        let mut ready = Vec::new();
        run.c.drain(&mut ready);
        assert_eq!(ready.len(), 1);
    }

    #[test]
    fn a_family_whose_records_stop_coming_is_no_longer_waited_for() {
        let mut run = Run::new();
        run.line(AUDIT_B, t(0));
        assert_eq!(run.c.families_changed(), Some(vec!["audit".to_string()]));
        assert_eq!(run.c.families_changed(), None, "told once");
        // The audit log is switched off: every wait ends without its record.
        for i in 0..MAX_MISSES as i64 {
            let out = run.line(DELETE_A, t(10 * i + 10));
            // This one is held; the one before it went out without an actor.
            assert_eq!(out.len(), usize::from(i > 0));
        }
        let out = run.line(DELETE_A, t(10 * MAX_MISSES as i64 + 10));
        assert_eq!(out.len(), 2, "the last held one, and this one at once");
        assert_eq!(run.c.families_changed(), Some(vec![]));
        // It comes back: waited for again.
        run.line(AUDIT_B, t(1000));
        assert!(run.line(DELETE_A, t(1001)).is_empty());
        assert_eq!(run.c.families_changed(), Some(vec!["audit".to_string()]));
    }

    #[test]
    fn a_reload_without_the_remembering_rule_stops_the_waits() {
        let mut run = Run::new();
        run.line(AUDIT_B, t(0));
        run.c.families_changed();
        run.c.keep_families(&HashSet::from(["audit".to_string()]));
        assert_eq!(
            run.c.families_changed(),
            None,
            "still remembered: unchanged"
        );
        run.c.keep_families(&HashSet::new());
        assert_eq!(run.c.families_changed(), Some(vec![]));
        assert_eq!(run.line(DELETE_A, t(1)).len(), 1, "out at once");
    }

    #[test]
    fn families_from_an_earlier_run_are_waited_for_at_once() {
        let mut run = Run::new();
        run.c.wait_for_families(["audit".to_string()]);
        assert!(
            run.line(DELETE_A, t(0)).is_empty(),
            "held from the first record"
        );
        let a = run.line(AUDIT_A, t(0));
        assert_eq!(
            data(&a, 0),
            [("chat_id", "a"), ("actor_email", "alice@example.com")]
        );
    }

    #[test]
    fn remembered_data_is_dropped_after_an_hour() {
        let mut m = Memory::default();
        m.remember("old".into(), t(0), vec![]);
        for i in 0..2048 {
            m.remember(format!("k{i}"), t(4000), vec![]);
        }
        assert!(!m.entries.contains_key("old"));
        assert!(m.recall("k1", Duration::from_secs(60), t(4001)).is_some());
    }
}
