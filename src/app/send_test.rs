//! `owui-bridge send-test`: one `bridge.test` event to every configured
//! sink now, one line per sink saying whether it arrived (and, if not, what
//! to do). Exit 1 when any failed.

use std::collections::BTreeMap;
use std::process::ExitCode;

use chrono::Utc;

use super::{load_config, runtime, Fail, NO_RECEIVER};
use crate::event::{Event, Identity, Parts, Severity};
use crate::record::Origin;
use crate::sink::{self, Delivery};

pub(super) fn send_test() -> Result<ExitCode, Fail> {
    let cfg = load_config()?;
    let sinks = sink::build(&cfg).map_err(Fail::usage)?;
    if sinks.is_empty() {
        return Err(Fail::usage(NO_RECEIVER));
    }
    let mut origin = Origin::local("bridge", None);
    origin.container = Some(cfg.container.to_string());
    let data = BTreeMap::from([(
        "message".to_string(),
        "Test event from owui-bridge send-test".to_string(),
    )]);
    let ev = Event::build(
        Identity::Now {
            event: "bridge.test",
        },
        Parts {
            event: "bridge.test".into(),
            rule: "bridge".into(),
            severity: Severity::Info,
            message: Some(crate::sink::chat::words(cfg.language).test_message.into()),
            timestamp: Utc::now(),
            source: origin,
            data,
            log: "",
        },
    );
    let failed = runtime()?.block_on(async {
        let mut failed = 0;
        for (s, _) in &sinks {
            match s.deliver(&ev).await {
                Delivery::Delivered => println!("{}: ok ({})", s.name(), s.describe()),
                Delivery::RetryLater { reason, .. } | Delivery::Reject { reason } => {
                    failed += 1;
                    println!("{}: failed ({}): {reason}", s.name(), s.describe());
                }
            }
        }
        failed
    });
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
