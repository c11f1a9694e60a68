//! The built-in Open WebUI rule pack (`rules/`) against annotated excerpts of
//! real and reconstructed Open WebUI output, fail2ban style, through the real
//! binary: `owui-bridge test-rules --rules <repo>/rules/ <log>`.
//!
//! # Fixtures
//!
//! Every `tests/fixtures/logs/<version>-<format>.log` (the name starts with a
//! digit) is a log excerpt with annotations. A line starting with `#` is a
//! comment; `# expect:` lines say what the record that starts on the next log
//! line must fire:
//!
//! ```text
//! # Open WebUI 0.12.4, text format.            <- a comment
//! # expect: user.login email=admin@example.com status=200
//! 2026-11-27 08:01:43.862 | INFO     | uvicorn.protocols.http.httptools_impl:send:482 - 127.0.0.1:38012 - "POST /api/v1/auths/signin HTTP/1.1" 200
//! # expect: none   (anything after `none` is a comment)
//! 2026-11-27 08:01:45.367 | INFO     | open_webui.models.auths:authenticate_user:336 - authenticate_user: admin@example.com
//! ```
//!
//! * `# expect: <event> <field>…` — the record fires `<event>`. Each field is
//!   `key=value`, `key="value with spaces"` (`\"` and `\\` inside quotes), or
//!   `!key` (the event has no such data field). Fields not named are not
//!   checked. One line per event: a record that fires two events has two lines.
//! * `# expect: none` — the record fires nothing. Every record without an
//!   `# expect:` must fire nothing as well; `none` just says so where it matters.
//!
//! The events of each record must be exactly the annotated ones (names and
//! counts; order does not matter): a missing event, an extra one, or a field
//! with another value fails, and the failure lists every mismatch of the file
//! with its fixture line. Comment lines are removed before the log is run, so
//! records assemble as they would from Open WebUI itself; `test-rules` line
//! numbers are mapped back to the fixture's.
//!
//! Loguru timestamps give records their time (cooldowns, thresholds and
//! `recall` windows count in log time); lines without one (JSON mode, the
//! pre-loguru format) take the time they are read, i.e. all "now".

use std::collections::BTreeMap;
use std::path::PathBuf;

use owui_bridge::rules::RuleSet;

use crate::support::bridge::Scratch;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One expected event: its name and the fields to check (`None`: must be absent).
#[derive(Debug, Clone)]
struct Expected {
    event: String,
    fields: Vec<(String, Option<String>)>,
    /// The fixture line of the `# expect:` annotation.
    at: usize,
}

/// A fixture split into the log to run and what each record must fire.
struct Fixture {
    /// The log lines, annotations and comments removed.
    log: String,
    /// Log line number (1-based) → fixture line number.
    fixture_line: Vec<usize>,
    /// Log line number → expected events of the record starting there.
    expected: BTreeMap<usize, Vec<Expected>>,
    /// How many `# expect:` lines (events and `none`) the file has.
    annotations: usize,
}

fn parse_fixture(name: &str, text: &str) -> Fixture {
    let mut log = String::new();
    let mut fixture_line = vec![0];
    let mut expected: BTreeMap<usize, Vec<Expected>> = BTreeMap::new();
    let mut pending: Vec<Expected> = Vec::new();
    let mut pending_none = false;
    let mut annotations = 0;
    for (i, line) in text.lines().enumerate() {
        let at = i + 1;
        if let Some(rest) = line.strip_prefix("# expect:") {
            annotations += 1;
            let rest = rest.trim();
            if rest == "none" || rest.starts_with("none ") {
                pending_none = true;
            } else {
                pending.push(parse_expect(name, at, rest));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        log.push_str(line);
        log.push('\n');
        fixture_line.push(at);
        let n = fixture_line.len() - 1;
        assert!(
            !pending_none || pending.is_empty(),
            "{name}:{at}: a record is annotated both `none` and with events"
        );
        if !pending.is_empty() {
            expected.insert(n, std::mem::take(&mut pending));
        }
        pending_none = false;
    }
    assert!(
        pending.is_empty() && !pending_none,
        "{name}: `# expect:` at the end of the file, with no log line after it"
    );
    Fixture {
        log,
        fixture_line,
        expected,
        annotations,
    }
}

/// `<event> key=value key="quoted value" !key …`
fn parse_expect(name: &str, at: usize, text: &str) -> Expected {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut tok = String::new();
        let mut quoted = false;
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() && !quoted {
                break;
            }
            chars.next();
            match c {
                '"' => quoted = !quoted,
                '\\' if quoted => tok.push(chars.next().unwrap_or('\\')),
                _ => tok.push(c),
            }
        }
        assert!(!quoted, "{name}:{at}: unclosed quote in `# expect:`");
        tokens.push(tok);
    }
    let mut tokens = tokens.into_iter();
    let event = tokens
        .next()
        .unwrap_or_else(|| panic!("{name}:{at}: `# expect:` names no event"));
    assert!(
        !event.contains('='),
        "{name}:{at}: `# expect:` starts with the event name, not a field"
    );
    let fields = tokens
        .map(|t| {
            if let Some(key) = t.strip_prefix('!') {
                (key.to_string(), None)
            } else {
                let (k, v) = t.split_once('=').unwrap_or_else(|| {
                    panic!("{name}:{at}: field `{t}` is neither key=value nor !key")
                });
                (k.to_string(), Some(v.to_string()))
            }
        })
        .collect();
    Expected { event, fields, at }
}

/// What `test-rules` said: per log line, the (rule, event, data) of each event.
type Actual = BTreeMap<usize, Vec<(String, String, BTreeMap<String, String>)>>;

fn run_test_rules(name: &str, log: &str) -> Actual {
    let s = Scratch::new();
    let path = s.path(name);
    std::fs::write(&path, log).expect("write log");
    let rules = repo().join("rules");
    let out = s.output(
        &[
            "test-rules",
            "--rules",
            rules.to_str().expect("utf-8 path"),
            path.to_str().expect("utf-8 path"),
        ],
        &[],
        b"",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{name}: test-rules failed ({}): {stderr}",
        out.status
    );
    let mut actual: Actual = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}: bad JSON {line}: {e}"));
        let n = v["line"].as_u64().expect("line") as usize;
        actual.entry(n).or_default().push((
            v["rule"].as_str().unwrap_or_default().to_string(),
            v["event"].as_str().unwrap_or_default().to_string(),
            data_of(&v),
        ));
    }
    actual
}

/// The `data` object of a JSON line, as strings.
fn data_of(v: &serde_json::Value) -> BTreeMap<String, String> {
    v["data"]
        .as_object()
        .expect("data")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

fn fits(e: &Expected, event: &str, data: &BTreeMap<String, String>) -> bool {
    e.event == event
        && e.fields.iter().all(|(k, v)| match v {
            Some(v) => data.get(k) == Some(v),
            None => !data.contains_key(k),
        })
}

/// Every mismatch between the annotations and what the pack fired.
fn check_fixture(name: &str, text: &str) -> Vec<String> {
    let fx = parse_fixture(name, text);
    let mut problems = Vec::new();
    if fx.annotations == 0 {
        problems.push(format!("{name}: no `# expect:` annotation at all"));
        return problems;
    }
    let actual = run_test_rules(name, &fx.log);
    let mut lines: Vec<usize> = fx.expected.keys().chain(actual.keys()).copied().collect();
    lines.sort_unstable();
    lines.dedup();
    for n in lines {
        let at = fx.fixture_line.get(n).copied().unwrap_or(0);
        let mut want: Vec<&Expected> = fx
            .expected
            .get(&n)
            .map(|v| v.iter().collect())
            .unwrap_or_default();
        let got = actual.get(&n).cloned().unwrap_or_default();
        // First the events that fit an expectation exactly; what is left over on
        // either side is a mismatch. A left-over event with the name of a
        // left-over expectation is its near miss: reported once, against it.
        let mut extra: Vec<&(String, String, BTreeMap<String, String>)> = Vec::new();
        for g in &got {
            match want.iter().position(|e| fits(e, &g.1, &g.2)) {
                Some(i) => {
                    want.remove(i);
                }
                None => extra.push(g),
            }
        }
        for e in want {
            let got = match extra.iter().position(|(_, ev, _)| *ev == e.event) {
                Some(i) => {
                    let (rule, _, data) = extra.remove(i);
                    format!("{rule}: {data:?}")
                }
                None => "no such event".to_string(),
            };
            problems.push(format!(
                "{name}:{at}: expected (line {}) {} {:?} — got {got}",
                e.at, e.event, e.fields
            ));
        }
        for (rule, event, data) in extra {
            problems.push(format!(
                "{name}:{at}: unexpected {event} (rule {rule}) with data {data:?}"
            ));
        }
    }
    problems
}

fn fixtures() -> Vec<PathBuf> {
    let dir = repo().join("tests/fixtures/logs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/logs")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "log")
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect();
    files.sort();
    files
}

fn check_named(file: &str) {
    let path = repo().join("tests/fixtures/logs").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    let problems = check_fixture(file, &text);
    assert!(
        problems.is_empty(),
        "{} mismatch(es):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// One test per fixture, so a failure names the version and format at once.
macro_rules! fixture_tests {
    ($($test:ident => $file:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_named($file);
            }
        )*

        #[test]
        fn every_fixture_has_its_test() {
            let known: &[&str] = &[$($file),*];
            for f in fixtures() {
                let name = f.file_name().unwrap().to_string_lossy().to_string();
                assert!(
                    known.contains(&name.as_str()),
                    "{name} has no test: add it to fixture_tests! in tests/rulepack.rs"
                );
            }
        }
    };
}

fixture_tests! {
    pack_on_0_5_0_pre_loguru => "0.5.0-preloguru.log",
    pack_on_0_5_20_text_with_suffix => "0.5.20-text-suffix.log",
    pack_on_0_6_22_text => "0.6.22-text.log",
    pack_on_0_6_22_debug_form_data => "0.6.22-debug.log",
    pack_on_0_9_2_json_lost_exceptions => "0.9.2-json.log",
    pack_on_0_11_0_text => "0.11.0-text.log",
    pack_on_0_11_0_json => "0.11.0-json.log",
    pack_on_0_11_0_audit_on_stdout => "0.11.0-audit-stdout.log",
    pack_on_0_12_4_real_capture => "0.12.4-text.log",
    pack_on_0_12_4_sign_in_security => "0.12.4-security.log",
    pack_on_0_12_4_noise_fires_nothing => "0.12.4-noise.log",
    pack_on_0_12_4_real_audit_on_stdout => "0.12.4-audit-real.log",
    pack_on_0_12_4_real_debug_payloads => "0.12.4-debug-real.log",
    pack_on_0_12_4_real_json => "0.12.4-json-real.log",
}

#[test]
fn annotations_parse_as_documented() {
    let fx = parse_fixture(
        "t",
        "# a comment\n# expect: user.login email=a@b.c msg=\"two words \\\"q\\\"\" !count\nline one\ncontinued\n# expect: none   (why)\nline three\n",
    );
    assert_eq!(fx.log, "line one\ncontinued\nline three\n");
    assert_eq!(fx.fixture_line, vec![0, 3, 4, 6]);
    assert_eq!(fx.annotations, 2);
    let e = &fx.expected[&1][0];
    assert_eq!(e.event, "user.login");
    assert_eq!(
        e.fields,
        vec![
            ("email".to_string(), Some("a@b.c".to_string())),
            ("msg".to_string(), Some("two words \"q\"".to_string())),
            ("count".to_string(), None),
        ]
    );
    assert!(!fx.expected.contains_key(&3));
    let data: BTreeMap<String, String> = [("email", "a@b.c"), ("msg", "two words \"q\"")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert!(fits(e, "user.login", &data));
    let mut with_count = data.clone();
    with_count.insert("count".into(), "5".into());
    assert!(!fits(e, "user.login", &with_count));
    assert!(!fits(e, "user.logout", &data));
}

/// The harness itself: a wrong field, an event nobody annotated and an
/// annotated event that does not come are each reported, with the fixture line.
#[test]
fn mismatches_are_reported_with_their_line() {
    let text = "\
2026-11-27 08:01:43.617 | INFO     | open_webui.models.auths:authenticate_user:336 - authenticate_user: admin@example.com
# expect: user.login email=eve@example.com
2026-11-27 08:01:43.862 | INFO     | uvicorn.protocols.http.httptools_impl:send:482 - 127.0.0.1:38012 - \"POST /api/v1/auths/signin HTTP/1.1\" 200
2026-11-27 08:01:44.110 | INFO     | uvicorn.protocols.http.httptools_impl:send:482 - 127.0.0.1:38010 - \"POST /api/v1/auths/signup HTTP/1.1\" 200
# expect: file.deleted
2026-11-27 08:01:45.000 | INFO     | uvicorn.protocols.http.httptools_impl:send:482 - 127.0.0.1:38010 - \"GET /api/v1/files/ HTTP/1.1\" 200
";
    let problems = check_fixture("self-test.log", text);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[0].starts_with("self-test.log:3: expected (line 2) user.login"));
    assert!(problems[0].contains("admin@example.com"), "{}", problems[0]);
    assert!(problems[1].starts_with("self-test.log:4: unexpected user.created"));
    assert!(problems[2].starts_with("self-test.log:6: expected (line 5) file.deleted"));
    assert!(problems[2].ends_with("got no such event"));
}

/// Every rule of the built-in pack says what it is, how it reads in a chat, and
/// at which Open WebUI log level its records appear.
#[test]
fn every_builtin_rule_has_description_message_and_level() {
    let set = RuleSet::load(&Default::default()).expect("the built-in pack loads");
    let levels = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "docker"];
    let mut problems = Vec::new();
    for r in set.rules() {
        if r.description.trim().is_empty() {
            problems.push(format!("{}: no description", r.id));
        }
        if !levels.contains(&r.level.as_str()) {
            problems.push(format!("{}: level '{}'", r.id, r.level));
        }
        if r.fires && r.message.is_none() {
            problems.push(format!(
                "{}: fires {} but has no [rule.message]",
                r.id, r.event
            ));
        }
    }
    // In the Open WebUI pack the level is written out, never left to the default.
    let text =
        std::fs::read_to_string(repo().join("rules/openwebui.toml")).expect("openwebui.toml");
    let raw: toml::Table = toml::from_str(&text).expect("openwebui.toml is TOML");
    let rules = raw["rule"].as_array().expect("[[rule]]");
    for r in rules {
        let id = r["id"].as_str().unwrap_or("?");
        if r.get("level").is_none() {
            problems.push(format!("{id}: no explicit level"));
        }
    }
    assert!(
        rules.len() > 30,
        "the Open WebUI pack has {} rules",
        rules.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// docs/events.md, the catalogue, covers every event and every rule of the pack.
#[test]
fn the_catalogue_names_every_event_and_rule() {
    let doc = std::fs::read_to_string(repo().join("docs/events.md")).expect("docs/events.md");
    let set = RuleSet::load(&Default::default()).expect("the built-in pack loads");
    let mut missing = Vec::new();
    for r in set
        .rules()
        .iter()
        .filter(|r| r.origin.ends_with("openwebui.toml"))
    {
        if !doc.contains(&format!("`{}`", r.id)) {
            missing.push(format!("rule `{}`", r.id));
        }
        if r.fires && !doc.contains(&format!("`{}`", r.event)) {
            missing.push(format!("event `{}`", r.event));
        }
    }
    missing.dedup();
    assert!(
        missing.is_empty(),
        "docs/events.md lacks: {}",
        missing.join(", ")
    );
}

/// `test-rules` predicts `run`: on every fixture (and the real capture), the
/// events of `test-rules` and of `run --source stdin --dry-run` are the same
/// events with the same data — both go through one pipeline.
#[test]
fn test_rules_and_run_dry_run_give_the_same_events() {
    let mut compared = 0;
    for path in fixture_logs() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        compared += assert_same_events(&name, &parse_fixture(&name, &text).log);
    }
    assert!(compared > 100, "{compared} events compared");
}

/// The same on logs no one wrote: runs of lines from every fixture, cut at
/// any line and spliced in any order (half records, tracebacks without their
/// head, an audit line far from its access line, repeats inside cooldowns).
#[test]
fn test_rules_and_run_agree_on_spliced_logs() {
    use proptest::prelude::*;
    let lines: Vec<Vec<String>> = fixture_logs()
        .iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let text = std::fs::read_to_string(path).unwrap();
            let log = parse_fixture(&name, &text).log;
            log.lines().map(str::to_string).collect()
        })
        .filter(|l: &Vec<String>| !l.is_empty())
        .collect();
    let pieces = prop::collection::vec(
        (0..lines.len(), any::<prop::sample::Index>(), 1usize..12),
        1..30,
    );
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(24));
    runner
        .run(&pieces, |pieces| {
            let mut log = String::new();
            for (file, at, len) in pieces {
                let from = at.index(lines[file].len());
                for line in lines[file].iter().skip(from).take(len) {
                    log.push_str(line);
                    log.push('\n');
                }
            }
            assert_same_events("spliced", &log);
            Ok(())
        })
        .unwrap();
}

fn fixture_logs() -> Vec<PathBuf> {
    let mut logs = fixtures();
    logs.push(repo().join("tests/fixtures/logs/openwebui-0.12.4-info.log"));
    logs
}

/// Asserts that `test-rules` and `run --dry-run` give the same events on
/// `log`; returns how many.
fn assert_same_events(name: &str, log: &str) -> usize {
    let rules = repo().join("rules");
    let rules = rules.to_str().expect("utf-8 path");
    let predicted: Vec<(String, BTreeMap<String, String>)> = run_test_rules(name, log)
        .into_values()
        .flatten()
        .map(|(_, event, data)| (event, data))
        .collect();
    let s = Scratch::new();
    let out = s.output(
        &["run", "--source", "stdin", "--dry-run"],
        &[("BRIDGE_DEFAULT_RULES", "false"), ("BRIDGE_RULES", rules)],
        log.as_bytes(),
    );
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ran: Vec<(String, BTreeMap<String, String>)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a payload");
            (
                v["event"].as_str().unwrap_or_default().to_string(),
                data_of(&v),
            )
        })
        .collect();
    // test-rules lists by record line; a held event is sent after later ones.
    let mut by_order = predicted.clone();
    by_order.sort();
    let mut ran_sorted = ran.clone();
    ran_sorted.sort();
    assert_eq!(
        ran_sorted, by_order,
        "{name}: run --dry-run and test-rules differ on:\n{log}"
    );
    ran.len()
}
