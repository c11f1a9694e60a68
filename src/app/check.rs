//! `owui-bridge check`: validates the configuration and the rules, proves the
//! state directory writable, reaches the source (Docker and the container,
//! or the file), prints what will be used with secrets masked, and lists
//! every problem on its own line with the fix. Exit 0 or 2.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use super::{load_env, runtime, Fail, NO_RECEIVER};
use crate::cli::CheckArgs;
use crate::config::{Config, RuleSources, Target, INBOUND_PATH, WEBHOOK_URL_IS};
use crate::rules::RuleSet;
use crate::secret::mask_url;
use crate::source::docker::client;
use crate::source::SourceSpec;

pub(super) fn check(args: CheckArgs) -> Result<ExitCode, Fail> {
    let mut problems: Vec<String> = Vec::new();
    let mut out = std::io::stdout().lock();
    let env = load_env()?;
    let _ = writeln!(out, "owui-bridge {} check", env!("CARGO_PKG_VERSION"));
    match env.dotenv_path() {
        Some(p) => {
            let _ = writeln!(out, "settings: the environment and {}", p.display());
        }
        None => {
            let cwd =
                std::env::current_dir().map_or_else(|_| ".".into(), |d| d.display().to_string());
            let _ = writeln!(out, "settings: the environment only (no .env in {cwd})");
        }
    }
    let cfg = match Config::from_env(&env) {
        Ok(cfg) => {
            let _ = writeln!(out, "configuration: ok");
            for (k, v) in cfg.describe() {
                let _ = writeln!(out, "  {k} = {v}");
            }
            for w in &cfg.warnings {
                let _ = writeln!(out, "  warning: {w}");
            }
            if cfg.webhooks.is_empty() && cfg.chats.is_empty() {
                problems.push(format!("{NO_RECEIVER}, so events have somewhere to go"));
            }
            Some(cfg)
        }
        Err(errs) => {
            let _ = writeln!(out, "configuration: {} problem(s)", errs.len());
            problems.extend(errs.iter().map(|e| e.to_string()));
            None
        }
    };
    // The rules are checked even when another variable is wrong.
    let sources = match &cfg {
        Some(cfg) => Some(cfg.rules.clone()),
        None => RuleSources::from_env(&env).ok(),
    };
    if let Some(sources) = sources {
        match RuleSet::load(&sources) {
            Ok(rs) => {
                let _ = writeln!(
                    out,
                    "rules: ok, {} rules from {} ({} reached through the literal prefilter)",
                    rs.rules().len(),
                    rs.files().join(", "),
                    rs.prefiltered()
                );
                if let Some(cfg) = &cfg {
                    for w in super::filter_warnings(cfg, &rs) {
                        let _ = writeln!(out, "  warning: {w}");
                    }
                }
            }
            Err(e) => {
                let _ = writeln!(out, "rules: problem");
                problems.push(e.to_string());
            }
        }
    }
    if let Some(cfg) = &cfg {
        match crate::outbox::probe_writable(&cfg.state_dir) {
            Ok(()) => {
                let _ = writeln!(out, "state: ok, {} is writable", cfg.state_dir.display());
            }
            Err(e) => problems.push(format!("BRIDGE_STATE_DIR {}: {e}; point it at a writable folder (in Docker, mount a volume there)", cfg.state_dir.display())),
        }
    }
    match &args.source {
        None | Some(SourceSpec::Docker) => {}
        Some(SourceSpec::Stdin) => {
            let _ = writeln!(out, "source: stdin (nothing to reach)");
        }
        Some(SourceSpec::File(path)) => match std::fs::File::open(path) {
            Ok(f) if f.metadata().is_ok_and(|m| m.is_dir()) => problems.push(format!("--source file:{}: that is a folder; name the log file itself", path.display())),
            Ok(_) => {
                let _ = writeln!(out, "source: ok, {} is readable", path.display());
            }
            // tail -F waits for a file that does not exist yet: worth saying, not a failure.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let _ = writeln!(out, "source: {} does not exist yet; run waits for it", path.display());
            }
            Err(e) => problems.push(format!("--source file:{}: cannot read it: {e}; check the path and permissions (in Docker, mount the file into the container)", path.display())),
        },
    }
    if let Some(cfg) = &cfg {
        if let Ok(rt) = runtime() {
            for problem in rt.block_on(receivers_that_are_open_webui(cfg)) {
                let _ = writeln!(out, "receivers: problem");
                problems.push(problem);
            }
        }
    }
    if let (Some(cfg), None | Some(SourceSpec::Docker)) = (&cfg, &args.source) {
        match runtime().map(|rt| rt.block_on(check_docker(cfg))) {
            Ok(Ok(line)) => {
                let _ = writeln!(out, "docker: ok, {line}");
            }
            Ok(Err(problem)) => {
                let _ = writeln!(
                    out,
                    "docker: problem (only needed for --source docker, the default)"
                );
                problems.push(problem);
            }
            Err(f) => problems.extend(f.lines),
        }
    }
    drop(out);
    if problems.is_empty() {
        println!("all checks passed");
        return Ok(ExitCode::SUCCESS);
    }
    Err(Fail {
        code: 2,
        lines: problems,
    })
}

/// Reaches the daemon and finds what `OPENWEBUI_CONTAINER` names.
async fn check_docker(cfg: &Config) -> Result<String, String> {
    let host = cfg.docker_host.to_string();
    let docker = tokio::time::timeout(Duration::from_secs(10), client::connect(&cfg.docker_host))
        .await
        .map_err(|_| format!("Docker at {host} did not answer within 10 s; check DOCKER_HOST"))?
        .map_err(|e| e.to_string())?;
    let version = docker
        .version()
        .await
        .ok()
        .and_then(|v| v.version)
        .unwrap_or_else(|| "?".into());
    match &cfg.container {
        Target::Name(name) => match docker.inspect_container(name, None).await {
            Ok(info) => {
                let running = info.state.as_ref().and_then(|s| s.running).unwrap_or(false);
                let state = if running { "running" } else { "not running (the bridge waits for it to start)" };
                Ok(format!("Docker {version} at {host}; container '{name}' found, {state}"))
            }
            Err(e) if client::is_not_found(&e) => {
                let seen = client::container_names(&docker).await;
                let seen = if seen.is_empty() { "none".to_string() } else { seen.join(", ") };
                Err(format!("OPENWEBUI_CONTAINER: no container '{name}' on {host}; containers there: {seen}. Set OPENWEBUI_CONTAINER to the exact name or id (the bridge keeps waiting for it otherwise)"))
            }
            Err(e) => Err(client::classify(&host, &e).to_string()),
        },
        Target::Label(label) => match client::names_with_label(&docker, label).await {
            Ok(names) if names.is_empty() => Err(format!("OPENWEBUI_CONTAINER: no container on {host} has the label {label}; add it to Open WebUI's service (labels:) or name the container instead")),
            Ok(names) => Ok(format!("Docker {version} at {host}; label {label} matches {}", names.join(", "))),
            Err(e) => Err(client::classify(&host, &e).to_string()),
        },
    }
}

/// A WEBHOOK_URL ending in the old guide's `/api/v1/webhook` (not this
/// bridge's) is asked, at `/api/config` of the same server, whether it is Open
/// WebUI: then every event would be refused (HTTP 405).
async fn receivers_that_are_open_webui(cfg: &Config) -> Vec<String> {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(_) => return Vec::new(),
    };
    let mut problems = Vec::new();
    for w in &cfg.webhooks {
        if w.url.path().trim_end_matches('/') != INBOUND_PATH {
            continue;
        }
        let mut config = w.url.clone();
        config.set_path("/api/config");
        config.set_query(None);
        let Ok(answer) = client.get(config).send().await else {
            continue;
        };
        let Ok(body) = answer.bytes().await else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
            continue;
        };
        if v.get("version").is_some() && v.get("features").is_some() {
            let version = v["version"].as_str().unwrap_or("?");
            problems.push(format!(
                "WEBHOOK_URL {} is Open WebUI itself (version {version} answers there): it takes no events and refuses each with HTTP 405. {WEBHOOK_URL_IS}",
                mask_url(&w.url)
            ));
        }
    }
    problems
}
