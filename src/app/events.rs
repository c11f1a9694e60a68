//! `owui-bridge events`: the event catalogue — each event with its rules, what
//! they recognise, and the Open WebUI log level at which they show — and the
//! correlation rules, by id, so a user's file can disable or replace them.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use super::{run_rules, Fail};
use crate::rules::Rule;

pub(super) fn events() -> Result<ExitCode, Fail> {
    let rules = run_rules()?;
    let mut by_event: BTreeMap<&str, Vec<&Rule>> = BTreeMap::new();
    for r in rules.rules().iter().filter(|r| r.fires) {
        by_event.entry(r.event.as_str()).or_default().push(r);
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{} events from {} rules ({})\n",
        by_event.len(),
        rules.rules().len(),
        rules.files().join(", ")
    );
    let line = |out: &mut dyn Write, r: &Rule| {
        let desc = if r.description.is_empty() {
            "(no description)"
        } else {
            r.description.as_str()
        };
        let _ = writeln!(out, "    {:<28} {desc}", r.id);
    };
    for (event, rs) in by_event {
        let mut levels: Vec<&str> = rs.iter().map(|r| r.level.as_str()).collect();
        levels.sort();
        levels.dedup();
        let _ = writeln!(out, "{event}  [log level: {}]", levels.join(", "));
        for r in rs {
            line(&mut out, r);
        }
    }
    // Their ids are what a user's file disables or replaces, so they are listed too.
    let helpers: Vec<_> = rules.rules().iter().filter(|r| !r.fires).collect();
    if !helpers.is_empty() {
        let _ = writeln!(
            out,
            "\nCorrelation rules (no event of their own; they give other events data):"
        );
        for r in helpers {
            line(&mut out, r);
        }
    }
    let _ = writeln!(
        out,
        "\nAlso: bridge.test (send-test) and whatever arrives on POST /api/v1/webhook."
    );
    Ok(ExitCode::SUCCESS)
}
