//! A user's rule file: TOML, regexes, templates, durations, correlation keys.
//! Loading never panics; an error names the file and a line; a file that loads
//! matches its own text (and the built-in log shapes) without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use owui_bridge::record::{Cursor, Record, Stream};
use owui_bridge::rules::{RuleSet, Scratch};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    match RuleSet::from_texts(&[("fuzz.toml".to_string(), text.clone())]) {
        Err(e) => {
            let said = e.to_string();
            assert!(
                said.starts_with("fuzz.toml"),
                "an error that does not name the file: {said}"
            );
        }
        Ok(rules) => {
            let mut scratch = Scratch::default();
            let mut hits = Vec::new();
            for line in text.lines().take(64).chain([
                "2026-11-27 08:01:42.110 | INFO     | uvicorn.protocols.http.httptools_impl:send:482 - 127.0.0.1:38010 - \"POST /api/v1/auths/signup HTTP/1.1\" 200",
            ]) {
                let rec = Record {
                    stream: Stream::Stdout,
                    ts: None,
                    first_line: 1,
                    text: line.to_string(),
                    truncated_lines: 0,
                    start: Cursor::Line(0),
                    end: Cursor::Line(1),
                };
                rules.matches(&rec, &mut scratch, &mut hits);
                hits.clear();
            }
        }
    }
});
