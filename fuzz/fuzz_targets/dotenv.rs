//! `.env` as docker compose reads it: never a panic; an error names a line
//! that exists and says how to fix it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use owui_bridge::config::dotenv;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lookup = |name: &str| (name == "HOME").then(|| "/home/user".to_string());
    match dotenv::parse(text, &lookup) {
        Ok(vars) => {
            for (k, _) in vars {
                assert!(!k.is_empty(), "an empty variable name was accepted");
            }
        }
        Err(e) => {
            let lines = text.split('\n').count().max(1);
            assert!(e.line >= 1 && e.line <= lines, "line {} of {lines}", e.line);
            assert!(!e.reason.is_empty());
        }
    }
});
