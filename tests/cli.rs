//! The command line as a user meets it: `test-rules` on real Open WebUI
//! output, and clear one-line errors with exit code 2 for bad input.

use std::time::Duration;

use crate::support::bridge::{Running, Scratch};

const REAL_LOG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/logs/openwebui-0.12.4-info.log"
);
const RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/rules");

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn test_rules_prints_the_expected_events_of_a_real_log() {
    let s = Scratch::new();
    let out = s.output(&["test-rules", "--rules", RULES, REAL_LOG], &[], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let got: Vec<(u64, String, String)> = stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("each line is JSON");
            (
                v["line"].as_u64().unwrap(),
                v["rule"].as_str().unwrap().to_string(),
                v["event"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Each kind of error (logger, function, exception type) passes once: the
    // upload's failure cascades into three different ERROR records.
    let expected: Vec<(u64, &str, &str)> = vec![
        (106, "owui.error", "error.occurred"),
        (313, "owui.error", "error.occurred"),
        (320, "owui.user.signup", "user.created"),
        (322, "owui.user.login", "user.login"),
        (324, "owui.user.login_failed", "user.login_failed"),
        (328, "owui.user.added", "user.created"),
        (329, "owui.user.updated", "user.updated"),
        (331, "owui.file.uploaded", "file.uploaded"),
        (334, "owui.error", "error.occurred"),
        (351, "owui.error", "error.occurred"),
        (454, "owui.error", "error.occurred"),
        (455, "owui.file.deleted", "file.deleted"),
        (456, "owui.chat.created", "chat.created"),
        (
            460,
            "owui.provider.request_failed",
            "provider.request_failed",
        ),
        (461, "owui.error", "error.occurred"),
        (464, "owui.model.changed", "model.changed"),
        (465, "owui.model.changed", "model.changed"),
        (466, "owui.model.changed", "model.changed"),
        (467, "owui.chat.deleted", "chat.deleted"),
        (468, "owui.user.deleted", "user.deleted"),
        (470, "owui.user.login", "user.login"),
        (471, "owui.message.created", "message.created"),
    ];
    let expected: Vec<(u64, String, String)> = expected
        .into_iter()
        .map(|(n, r, e)| (n, r.into(), e.into()))
        .collect();
    assert_eq!(got, expected);
    // Field order and content of one line, exactly as spec §2 shows it.
    let first_upload = stdout
        .lines()
        .find(|l| l.contains("file.uploaded"))
        .unwrap();
    assert_eq!(
        first_upload,
        r#"{"line":331,"rule":"owui.file.uploaded","event":"file.uploaded","data":{"client_ip":"127.0.0.1","content_type":"text/plain","method":"POST","path":"/api/v1/files/","status":"200"}}"#
    );
    let deleted = stdout.lines().find(|l| l.contains("file.deleted")).unwrap();
    assert!(
        deleted.contains(r#""file_id":"93ad799e-fd5c-4376-8ea4-819f91672250""#),
        "{deleted}"
    );
    // The traceback after the ERROR header is part of its record, not a record of its own.
    let err = stderr(&out);
    assert!(
        err.contains("lines: 471, records: 117, records with no match: 88"),
        "{err}"
    );
    assert!(
        err.contains("owui.model.changed") && err.contains("3  model.changed"),
        "{err}"
    );
}

#[test]
fn test_rules_reads_standard_input_and_shows_missed_records() {
    let s = Scratch::new();
    let input = b"2026-11-27 08:01:50.392 | INFO     | uvicorn.protocols.http.httptools_impl:send:482 - 127.0.0.1:1 - \"POST /api/v1/files/ HTTP/1.1\" 200\n2026-11-27 08:01:50.393 | INFO     | x:y:1 - nothing\n";
    let out = s.output(&["test-rules", "--show-missed", "-"], &[], input);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    let err = stderr(&out);
    assert!(
        err.contains("missed (line 2): 2026-11-27 08:01:50.393 | INFO     | x:y:1 - nothing"),
        "{err}"
    );
}

/// Every bad input: exit 2, one line that names the problem, no panic.
fn assert_clear_failure(out: &std::process::Output, must_contain: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("owui-bridge: "), "{err}");
    for m in must_contain {
        assert!(err.contains(m), "expected {m:?} in {err}");
    }
}

#[test]
fn invalid_rule_file_names_file_line_column_and_fix() {
    let s = Scratch::new();
    let bad = s.path("bad.toml");
    std::fs::write(&bad, "[[rule]]\nid = \"login-failed\"\nevent = \"user.login_failed\"\nmatch = 'user=(\\w+ failed'\n").unwrap();
    let out = s.output(
        &["test-rules", "--rules", bad.to_str().unwrap(), REAL_LOG],
        &[],
        b"",
    );
    assert_clear_failure(
        &out,
        &[
            "bad.toml:4:15:",
            "rule 'login-failed'",
            "unclosed group",
            "test-rules",
        ],
    );

    // The same file given to `run` stops it before it starts, just as clearly.
    let out = s.output(
        &["run", "--source", "stdin", "--dry-run"],
        &[("BRIDGE_RULES", bad.to_str().unwrap())],
        b"",
    );
    assert_clear_failure(&out, &["bad.toml:4:15:"]);

    std::fs::write(&bad, "[[rule]]\nid = \"x\"\nevent = \"a.b\"\nmach = 'x'\n").unwrap();
    let out = s.output(
        &["test-rules", "--rules", bad.to_str().unwrap(), REAL_LOG],
        &[],
        b"",
    );
    assert_clear_failure(
        &out,
        &[
            "bad.toml:4:1:",
            "unknown field `mach`",
            "check the spelling",
        ],
    );
}

#[test]
fn invalid_boolean_is_one_clear_line() {
    let s = Scratch::new();
    let out = s.output(
        &["run", "--source", "stdin"],
        &[
            ("ENABLE_WEBHOOKS", "ture"),
            ("WEBHOOK_URL", "http://127.0.0.1:9/"),
        ],
        b"",
    );
    assert_clear_failure(
        &out,
        &["invalid value for ENABLE_WEBHOOKS: 'ture' is not a boolean"],
    );
}

#[test]
fn a_bad_docker_host_stops_the_bridge_with_the_fix() {
    let s = Scratch::new();
    for (bad, why) in [
        ("socket-proxy:2375", "not a Docker endpoint"),
        ("tcp://socket-proxy", "is not tcp://host:port"),
        ("ssh://me@host", "not supported"),
    ] {
        let out = s.output(
            &["run"],
            &[("WEBHOOK_URL", "http://127.0.0.1:9/"), ("DOCKER_HOST", bad)],
            b"",
        );
        assert_clear_failure(
            &out,
            &["invalid value for DOCKER_HOST", why, "tcp://host:port"],
        );
    }
    // Standard input needs no Docker, but a wrong value is still wrong.
    let out = s.output(
        &["run", "--source", "stdin", "--dry-run"],
        &[("OPENWEBUI_CONTAINER", "open webui")],
        b"",
    );
    assert_clear_failure(&out, &["OPENWEBUI_CONTAINER", "docker ps"]);
}

#[test]
fn missing_secret_file_is_one_clear_line_and_check_lists_it() {
    let s = Scratch::new();
    let env = [
        ("WEBHOOK_URL", "http://127.0.0.1:9/"),
        ("WEBHOOK_SECRET_FILE", "/run/secrets/nope"),
    ];
    let out = s.output(&["run", "--source", "stdin"], &env, b"");
    assert_clear_failure(
        &out,
        &["WEBHOOK_SECRET_FILE", "/run/secrets/nope", "No such file"],
    );
    let out = s.output(&["check"], &env, b"");
    assert_clear_failure(&out, &["WEBHOOK_SECRET_FILE"]);
}

#[test]
fn dotenv_file_is_read_and_check_masks_secrets() {
    let s = Scratch::new();
    std::fs::write(s.path(".env"), "ENABLE_WEBHOOKS=true\nWEBHOOK_URL=https://hooks.example.com/services/T000/B000/XXXXsecretpath\nWEBHOOK_SECRET=hunter2-very-secret\nWEBHOOK_EVENTS=user.*,file.uploaded\n").unwrap();
    // No Docker socket here, so check reports that (exit 2) — the rest still prints.
    let out = s.output(
        &["check"],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
        b"",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("configuration: ok"), "{stdout}");
    assert!(stdout.contains("sink webhook = https://hooks.example.com/services/**** (events: user.*,file.uploaded, signed)"), "{stdout}");
    assert!(
        stderr(&out).contains("the socket does not exist"),
        "{}",
        stderr(&out)
    );
    for secret in ["hunter2", "XXXXsecretpath", "T000"] {
        assert!(
            !stdout.contains(secret) && !stderr(&out).contains(secret),
            "{secret} leaked: {stdout}"
        );
    }
    // The environment wins over .env, as in docker-compose.
    let out = s.output(&["check"], &[("WEBHOOK_EVENTS", "chat.*")], b"");
    assert!(String::from_utf8_lossy(&out.stdout).contains("(events: chat.*, signed)"));
}

#[test]
fn check_lists_every_problem_with_its_variable() {
    let s = Scratch::new();
    let out = s.output(
        &["check"],
        &[
            ("WEBHOOK_URL", "not a url"),
            ("WEBHOOK_TIMEOUT", "soon"),
            ("BRIDGE_DEFAULT_RULES", "maybe"),
        ],
        b"",
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains(
            "owui-bridge: invalid value for WEBHOOK_URL: has no http:// or https:// in front"
        ),
        "{err}"
    );
    assert!(
        err.contains("owui-bridge: invalid value for WEBHOOK_TIMEOUT: 'soon' is not a duration"),
        "{err}"
    );
    assert!(
        err.contains(
            "owui-bridge: invalid value for BRIDGE_DEFAULT_RULES: 'maybe' is not a boolean"
        ),
        "{err}"
    );
}

#[test]
fn dry_run_prints_the_payload_of_each_event() {
    let s = Scratch::new();
    let log = std::fs::read(REAL_LOG).unwrap();
    let out = s.output(&["run", "--source", "stdin", "--dry-run"], &[], &log);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 22);
    let up = events
        .iter()
        .find(|e| e["event"] == "file.uploaded")
        .unwrap();
    assert_eq!(up["timestamp"], "2026-11-27T08:01:50.392Z");
    assert_eq!(up["source"]["stream"], "stdin");
    assert!(up["id"].as_str().unwrap().starts_with("evt_"));
    assert!(up["log"]
        .as_str()
        .unwrap()
        .ends_with(r#""POST /api/v1/files/ HTTP/1.1" 200"#));
    let err = events
        .iter()
        .find(|e| e["event"] == "error.occurred")
        .unwrap();
    assert!(
        err["log"].as_str().unwrap().contains("Traceback")
            || err["log"].as_str().unwrap().lines().count() > 1,
        "{}",
        err["log"]
    );
    assert!(!s.path("state").exists(), "--dry-run stores nothing");
}

/// `docker logs -f open-webui | owui-bridge run --source stdin`: the pipe stays
/// open for as long as the container runs, so a stop must not wait for it to
/// end. Found by hand: SIGTERM used to leave the bridge waiting on the read.
#[test]
fn stdin_source_stops_on_sigterm_while_its_input_stays_open() {
    use std::io::Write;
    let s = Scratch::new();
    let log = std::fs::File::create(s.path("bridge.log")).unwrap();
    let mut cmd = s.command(&["run", "--source", "stdin", "--dry-run"], &[]);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(log);
    let mut child = cmd.spawn().expect("spawn owui-bridge");
    let mut input = child.stdin.take().expect("stdin");
    let bridge = Running {
        child,
        log: s.path("bridge.log"),
    };
    let line = "2026-11-27 08:01:50.446 | ERROR    | open_webui.main:x:1 - boom\n\
                2026-11-27 08:01:50.500 | INFO     | open_webui.main:x:2 - next\n";
    input.write_all(line.as_bytes()).unwrap();
    input.flush().unwrap();
    assert!(
        bridge.wait_for_log("dry run:", Duration::from_secs(15)),
        "the line written to stdin never became an event: {}",
        bridge.log_text()
    );
    let status = bridge
        .terminate()
        .expect("still running 15 s after SIGTERM, waiting on standard input");
    assert!(status.success(), "{status:?}");
    drop(input);
}

#[test]
fn test_rules_applies_cooldown_and_threshold_by_log_time() {
    let s = Scratch::new();
    let rules = s.path("limits.toml");
    std::fs::write(
        &rules,
        r#"[record]
start = '^\d{4}-'

[[rule]]
id = "storm"
event = "error.occurred"
match = '\| ERROR +\| (?P<logger>\S+) - (?P<error_message>.*)'
cooldown = "30s"

[[rule]]
id = "brute"
event = "security.login_failures"
match = 'signin failed for (?P<email>\S+)'
threshold = { count = 3, within = "60s", group_by = "email" }
"#,
    )
    .unwrap();
    let log = "\
2026-11-27 08:00:00.000 | ERROR    | a:b:1 - boom
2026-11-27 08:00:10.000 | ERROR    | a:b:1 - boom
2026-11-27 08:00:20.000 | ERROR    | a:b:1 - boom
2026-11-27 08:00:40.000 | ERROR    | a:b:1 - boom
2026-11-27 08:01:00.000 | INFO     | x - signin failed for eve@example.com
2026-11-27 08:01:05.000 | INFO     | x - signin failed for bob@example.com
2026-11-27 08:01:10.000 | INFO     | x - signin failed for eve@example.com
2026-11-27 08:01:50.000 | INFO     | x - signin failed for eve@example.com
";
    let out = s.output(
        &["test-rules", "--rules", rules.to_str().unwrap()],
        &[],
        log.as_bytes(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary: Vec<(u64, &str, Option<&str>)> = lines
        .iter()
        .map(|v| {
            (
                v["line"].as_u64().unwrap(),
                v["rule"].as_str().unwrap(),
                v["data"]["suppressed"]
                    .as_str()
                    .or(v["data"]["count"].as_str()),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, "storm", None),
            (4, "storm", Some("2")),
            (8, "brute", Some("3"))
        ]
    );
    assert!(
        stderr(&out).contains("hits held back by threshold or cooldown: 5"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn events_prints_the_catalogue_with_a_users_own_rules() {
    let s = Scratch::new();
    let own = s.path("own.toml");
    std::fs::write(
        &own,
        "[[rule]]\nid = \"local.disk\"\nevent = \"disk.full\"\ndescription = \"The disk is full\"\nmatch = 'No space left'\n\n[[rule]]\nid = \"owui.chat.deleted_all\"\nenabled = false\n",
    )
    .unwrap();
    let out = s.output(&["events"], &[("BRIDGE_RULES", own.to_str().unwrap())], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("23 events from 55 rules (builtin:docker.toml, builtin:openwebui.toml, "),
        "{text}"
    );
    for seed in [
        "message.created",
        "message.updated",
        "message.deleted",
        "file.uploaded",
        "file.deleted",
        "user.created",
        "user.updated",
        "error.occurred",
        "model.changed",
        "chat.created",
        "user.deleted",
        "user.login",
        "user.login_failed",
        "chat.deleted",
        "chat.updated",
        "provider.request_failed",
        "security.login_failures",
    ] {
        assert!(
            text.contains(&format!("\n{seed}  [log level: ")),
            "{seed} in {text}"
        );
    }
    assert!(
        text.contains("disk.full  [log level: INFO]\n    local.disk"),
        "{text}"
    );
    assert!(text.contains("    owui.chat.deleted  "), "{text}");
    assert!(!text.contains("owui.chat.deleted_all"), "disabled: {text}");
    // Rules without an event are listed apart, by id, so they can be disabled too.
    let helpers = text
        .split("Correlation rules")
        .nth(1)
        .expect("a section for correlation rules");
    for id in [
        "owui.audit ",
        "owui.signin.attempt ",
        "owui.file.content_type ",
    ] {
        assert!(helpers.contains(id), "{id} in {helpers}");
    }
}
