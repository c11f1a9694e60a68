//! The commands of spec §2, one module each, and what they share: loading
//! the configuration and the rules, the async runtime, the shutdown signal,
//! and exit codes (0 ok, 1 runtime failure, 2 usage or configuration error),
//! decided here and nowhere else.

mod check;
mod events;
mod healthcheck;
mod listen;
mod run;
mod send_test;
mod test_rules;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::config::{Config, ConfigError, Env, RuleSources};
use crate::rules::RuleSet;

/// What to say when there is nowhere to send events.
const NO_RECEIVER: &str = "no receiver is configured: set WEBHOOK_URL (and WEBHOOK_SECRET), DISCORD_WEBHOOK_URL, SLACK_WEBHOOK_URL, or TELEGRAM_BOT_TOKEN with TELEGRAM_CHAT_ID, in the environment or .env";

/// A failure that ends the program, with its exit code.
pub(crate) struct Fail {
    code: u8,
    lines: Vec<String>,
}

impl Fail {
    fn usage(line: impl Into<String>) -> Fail {
        Fail {
            code: 2,
            lines: vec![line.into()],
        }
    }
    fn runtime(line: impl Into<String>) -> Fail {
        Fail {
            code: 1,
            lines: vec![line.into()],
        }
    }
    fn config(errs: Vec<ConfigError>) -> Fail {
        Fail {
            code: 2,
            lines: errs.iter().map(ToString::to_string).collect(),
        }
    }
}

pub fn main(cli: Cli) -> ExitCode {
    let result = match cli.command {
        None => run::run(cli.run),
        Some(Command::Run(args)) => run::run(args),
        Some(Command::Check(args)) => check::check(args),
        Some(Command::TestRules(args)) => test_rules::test_rules(args),
        Some(Command::SendTest) => send_test::send_test(),
        Some(Command::Listen(args)) => listen::listen(args),
        Some(Command::Events) => events::events(),
        Some(Command::Healthcheck) => healthcheck::healthcheck(),
    };
    match result {
        Ok(code) => code,
        Err(fail) => {
            for line in fail.lines {
                eprintln!("owui-bridge: {line}");
            }
            ExitCode::from(fail.code)
        }
    }
}

fn load_env() -> Result<Env, Fail> {
    Env::load().map_err(|e| Fail::usage(e.to_string()))
}

fn load_config() -> Result<Config, Fail> {
    Config::from_env(&load_env()?).map_err(Fail::config)
}

fn load_rules(sources: &RuleSources) -> Result<RuleSet, Fail> {
    RuleSet::load(sources).map_err(|e| Fail::usage(e.to_string()))
}

/// The rules `run` would load, read from the environment alone.
fn run_rules() -> Result<RuleSet, Fail> {
    let sources = RuleSources::from_env(&load_env()?).map_err(|e| Fail::usage(e.to_string()))?;
    load_rules(&sources)
}

/// One thread runs every task: the bridge waits on I/O nearly all the time,
/// and on this kind of machine each wake-up of a second worker thread costs
/// more CPU than the work it would share (measured: about 15 % less CPU per
/// delivered event than two workers). Commits to disk have their own thread
/// (the outbox writer), file reads tokio's blocking pool.
/// Event filters that name events no rule produces (a typo, or an event of
/// the old guide the rules call otherwise), with the nearest known name.
fn filter_warnings(cfg: &Config, rules: &RuleSet) -> Vec<String> {
    let mut known: Vec<&str> = rules
        .rules()
        .iter()
        .filter(|r| r.fires)
        .map(|r| r.event.as_str())
        .collect();
    known.push("bridge.test");
    known.sort_unstable();
    known.dedup();
    let mut filters: Vec<(&str, &crate::config::EventFilter)> = cfg
        .webhooks
        .iter()
        .map(|w| (crate::config::WebhookConfig::EVENTS_VAR, &w.events))
        .chain(cfg.chats.iter().map(|c| (c.events_var, &c.events)))
        .collect();
    filters.sort_by_key(|(var, _)| *var);
    filters.dedup_by_key(|(var, _)| *var);
    let mut out = Vec::new();
    for (var, filter) in filters {
        for (name, near) in filter.unknown(&known) {
            let hint = match near {
                Some(n) => format!("did you mean {n}?"),
                None => "'owui-bridge events' lists the events the rules produce".into(),
            };
            let what = if name.contains('*') {
                "matches no event the rules produce"
            } else {
                "is no event the rules produce"
            };
            out.push(format!("{var}: '{name}' {what}; {hint} (events sent to POST /api/v1/webhook may have any name)"));
        }
    }
    out
}

fn runtime() -> Result<tokio::runtime::Runtime, Fail> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Fail::runtime(format!("cannot start: {e}")))
}

/// SIGTERM (what `docker stop` sends) or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
