//! `threshold` and `cooldown` (spec §5): turning many hits into fewer events.
//!
//! A threshold holds hits until `count` of them fall within `within` (per
//! `group_by` value), then fires once and starts counting afresh. A cooldown
//! lets one event through per period and counts the rest, so the next event
//! can say how many were suppressed. Time is the record's own time, so a
//! replayed log behaves as it did live. State is in memory: a restart starts
//! windows afresh.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};

use super::{Hit, Rule};

#[derive(Default)]
struct Group {
    /// Times of held hits inside the threshold window, oldest first.
    hits: VecDeque<DateTime<Utc>>,
    last_seen: Option<DateTime<Utc>>,
    /// The threshold's window: idle state is kept at least this long.
    window: Duration,
}

#[derive(Default)]
struct Cooling {
    last_fired: Option<DateTime<Utc>>,
    suppressed: u64,
    last_seen: Option<DateTime<Utc>>,
    /// The cooldown: idle state is kept at least this long.
    period: Duration,
}

/// Threshold state per (rule, group) and cooldown state per cooldown key:
/// `cooldown_key` lets events of several rules share one period (one error
/// storm, one message), while distinct keys (other errors) pass.
#[derive(Default)]
pub struct Limiter {
    groups: HashMap<(String, String), Group>,
    cooling: HashMap<String, Cooling>,
    admitted: u64,
}

impl Limiter {
    /// Whether `hit` becomes an event now. May add `count` (threshold) and
    /// `suppressed` (cooldown) to its data — or, with `cooldown_count`, that
    /// field with the hits the event stands for (itself included).
    pub fn admit(&mut self, rule: &Rule, hit: &mut Hit, at: DateTime<Utc>) -> bool {
        if rule.threshold.is_none() && rule.cooldown.is_none() {
            return true;
        }
        self.admitted += 1;
        if self.admitted % 4096 == 0 {
            self.prune(at);
        }
        let group_value = group_value(rule, hit);
        let cooldown_key = cooldown_key(rule, hit, &group_value);
        let g = self
            .groups
            .entry((rule.id.clone(), group_value))
            .or_default();
        g.last_seen = Some(at);

        if let Some(t) = &rule.threshold {
            let within = Duration::from_std(t.within).unwrap_or(Duration::MAX);
            g.window = within;
            g.hits.push_back(at);
            while g.hits.front().is_some_and(|&first| at - first >= within) {
                g.hits.pop_front();
            }
            if (g.hits.len() as u32) < t.count {
                return false;
            }
            let n = g.hits.len();
            g.hits.clear();
            set(hit, "count", n.to_string());
        }
        if let Some(cd) = rule.cooldown {
            let cd = Duration::from_std(cd).unwrap_or(Duration::MAX);
            let c = self.cooling.entry(cooldown_key).or_default();
            c.last_seen = Some(at);
            c.period = cd;
            if c.last_fired.is_some_and(|last| at - last < cd) {
                c.suppressed += 1;
                return false;
            }
            match &rule.cooldown_count {
                Some(name) => set(hit, name, (c.suppressed + 1).to_string()),
                None if c.suppressed > 0 => set(hit, "suppressed", c.suppressed.to_string()),
                None => {}
            }
            c.suppressed = 0;
            c.last_fired = Some(at);
        }
        true
    }

    /// Starts `rule`'s cooldown for `hit` at `at` without an event: the hit
    /// belongs to one that was already sent (a new chat's first save, whose
    /// `chat.created` opened the chat's window). Later hits inside the period
    /// are held back and counted as usual.
    pub fn open(&mut self, rule: &Rule, hit: &Hit, at: DateTime<Utc>) {
        let Some(cd) = rule.cooldown else {
            return;
        };
        let key = cooldown_key(rule, hit, &group_value(rule, hit));
        let c = self.cooling.entry(key).or_default();
        c.last_seen = Some(at);
        c.period = Duration::from_std(cd).unwrap_or(Duration::MAX);
        c.last_fired = Some(at);
        c.suppressed = 0;
    }

    /// Drops state idle for a day (or its own window or period, if longer),
    /// so a stream of distinct emails or error kinds cannot grow memory
    /// forever. A pruned cooldown forgets its count of held-back events.
    fn prune(&mut self, now: DateTime<Utc>) {
        let kept = |seen: Option<DateTime<Utc>>, span: Duration| {
            seen.is_some_and(|t| now - t < span.max(Duration::days(1)))
        };
        self.groups.retain(|_, g| kept(g.last_seen, g.window));
        self.cooling.retain(|_, c| kept(c.last_seen, c.period));
    }
}

/// The value of the threshold's `group_by` field ("" without one).
fn group_value(rule: &Rule, hit: &Hit) -> String {
    let group_by = rule.threshold.as_ref().and_then(|t| t.group_by.as_deref());
    group_by
        .and_then(|g| hit.data.iter().find(|(k, _)| k == g))
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// Which cooldown a hit counts against: its `cooldown_key` rendered, or the
/// rule's own per group.
fn cooldown_key(rule: &Rule, hit: &Hit, group_value: &str) -> String {
    match &rule.cooldown_key {
        Some(k) => k.render(|f| {
            hit.data
                .iter()
                .find(|(n, _)| n == f)
                .map(|(_, v)| v.as_str())
        }),
        None => format!("{}\0{group_value}", rule.id),
    }
}

fn set(hit: &mut Hit, key: &str, value: String) {
    hit.data.retain(|(k, _)| k != key);
    hit.data.push((key.to_string(), value));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSet;

    fn rule(extra: &str) -> Rule {
        let text = format!("[[rule]]\nid = \"r\"\nevent = \"security.login_failures\"\nmatch = '(?P<email>\\S+) failed'\n{extra}\n");
        RuleSet::from_texts(&[("t.toml".into(), text)])
            .unwrap()
            .rules()[0]
            .clone()
    }

    fn hit(email: &str) -> Hit {
        Hit {
            rule: 0,
            data: vec![("email".into(), email.into())],
        }
    }

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn threshold_fires_at_the_count_within_the_window_per_group() {
        let r = rule("threshold = { count = 3, within = \"60s\", group_by = \"email\" }");
        let mut l = Limiter::default();
        assert!(!l.admit(&r, &mut hit("a"), t(0)));
        assert!(!l.admit(&r, &mut hit("b"), t(1)));
        assert!(!l.admit(&r, &mut hit("a"), t(30)));
        let mut h = hit("a");
        assert!(l.admit(&r, &mut h, t(59)), "third hit for a inside 60 s");
        assert!(h.data.contains(&("count".into(), "3".into())));
        // Counting starts afresh after firing.
        assert!(!l.admit(&r, &mut hit("a"), t(60)));
    }

    #[test]
    fn threshold_window_edge_is_exclusive() {
        let r = rule("threshold = { count = 2, within = \"60s\" }");
        let mut l = Limiter::default();
        assert!(!l.admit(&r, &mut hit("a"), t(0)));
        assert!(
            !l.admit(&r, &mut hit("a"), t(60)),
            "a hit exactly 60 s old has left the window"
        );
        assert!(l.admit(&r, &mut hit("a"), t(119)));
    }

    #[test]
    fn cooldown_suppresses_and_reports_the_count() {
        let r = rule("cooldown = \"30s\"");
        let mut l = Limiter::default();
        assert!(l.admit(&r, &mut hit("a"), t(0)));
        assert!(!l.admit(&r, &mut hit("a"), t(10)));
        assert!(!l.admit(&r, &mut hit("b"), t(29)));
        let mut h = hit("a");
        assert!(
            l.admit(&r, &mut h, t(30)),
            "the cooldown has passed at exactly 30 s"
        );
        assert!(h.data.contains(&("suppressed".into(), "2".into())));
        let mut h = hit("a");
        assert!(l.admit(&r, &mut h, t(61)));
        assert!(!h.data.iter().any(|(k, _)| k == "suppressed"));
    }

    #[test]
    fn a_cooldown_key_is_shared_across_rules_and_separates_distinct_keys() {
        let text = r#"
[[rule]]
id = "a"
event = "error.occurred"
match = 'A (?P<error_type>\w+)'
cooldown = "60s"
cooldown_key = "errors {error_type}"

[[rule]]
id = "b"
event = "error.occurred"
match = 'B (?P<error_type>\w+)'
cooldown = "60s"
cooldown_key = "errors {error_type}"
"#;
        let rs = RuleSet::from_texts(&[("t.toml".into(), text.into())]).unwrap();
        let (a, b) = (&rs.rules()[0], &rs.rules()[1]);
        let err = |rule: usize, ty: &str| Hit {
            rule,
            data: vec![("error_type".into(), ty.into())],
        };
        let mut l = Limiter::default();
        assert!(l.admit(a, &mut err(0, "KeyError"), t(0)));
        assert!(
            !l.admit(b, &mut err(1, "KeyError"), t(5)),
            "same key, other rule: shared period"
        );
        assert!(
            l.admit(b, &mut err(1, "ValueError"), t(6)),
            "another error passes"
        );
        assert!(!l.admit(a, &mut err(0, "KeyError"), t(59)));
        let mut h = err(0, "KeyError");
        assert!(l.admit(a, &mut h, t(60)));
        assert!(h.data.contains(&("suppressed".into(), "2".into())));
    }

    #[test]
    fn idle_state_is_pruned_after_a_day_or_its_own_period() {
        let short = rule("cooldown = \"30s\"\ncooldown_key = \"e {email}\"");
        let mut long = rule("cooldown = \"48h\"");
        long.id = "long".into();
        let mut l = Limiter::default();
        for i in 0..100 {
            assert!(l.admit(&short, &mut hit(&format!("e{i}")), t(i)));
            assert!(
                !l.admit(&short, &mut hit(&format!("e{i}")), t(i + 1)),
                "suppressed"
            );
        }
        assert!(l.admit(&long, &mut hit("x"), t(0)));
        l.prune(t(2 * 86_400 - 10));
        assert_eq!(
            l.cooling.len(),
            1,
            "only the 48 h cooldown is still within its period"
        );
        l.prune(t(3 * 86_400));
        assert!(l.cooling.is_empty());
    }

    #[test]
    fn rules_without_limits_always_pass() {
        let r = rule("");
        let mut l = Limiter::default();
        assert!((0..10).all(|i| l.admit(&r, &mut hit("a"), t(i))));
    }
}
