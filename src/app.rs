//! Builds the stages from the configuration and runs the commands of spec §2.
//! Decides exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::cli::{CheckArgs, Cli, Command, ListenArgs, RunArgs, TestRulesArgs};
use crate::config::EventFilter;
use crate::config::{Config, ConfigError, Env, Since};
use crate::event::{hostname, record_time, Event, Origin};
use crate::outbox::Outbox;
use crate::pipeline::{Output, Pipeline};
use crate::record::{Assembler, Record, Stream};
use crate::rules::{Correlator, Hit, Ready, RuleSet, Scratch};
use crate::sink::{self, Delivery, Route, Sink};
use crate::source::docker::{self, DockerConfig, Target};
use crate::source::file::StartAt;
use crate::source::lines::LineSplitter;
use crate::source::{file, stdin, Input, SourceSpec};

/// How long shutdown waits for in-flight work before leaving it to the outbox.
const DRAIN: Duration = Duration::from_secs(8);

/// A failure that ends the program, with its exit code.
struct Fail {
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
}

pub fn main(cli: Cli) -> ExitCode {
    let result = match cli.command {
        None => run(cli.run),
        Some(Command::Run(args)) => run(args),
        Some(Command::Check(args)) => check(args),
        Some(Command::TestRules(args)) => test_rules(args),
        Some(Command::SendTest) => send_test(),
        Some(Command::Listen(args)) => listen(args),
        Some(Command::Events) => events(),
        Some(Command::Healthcheck) => healthcheck(),
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

fn load_config() -> Result<(Env, Config), Fail> {
    let env = Env::load().map_err(|e| Fail::usage(e.to_string()))?;
    let cfg = Config::from_env(&env).map_err(|errs: Vec<ConfigError>| Fail {
        code: 2,
        lines: errs.iter().map(|e| e.to_string()).collect(),
    })?;
    Ok((env, cfg))
}

fn load_rules(cfg: &Config) -> Result<RuleSet, Fail> {
    RuleSet::load(cfg.default_rules, &cfg.rules).map_err(|e| Fail::usage(e.to_string()))
}

fn runtime() -> Result<tokio::runtime::Runtime, Fail> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Fail::runtime(format!("cannot start: {e}")))
}

fn build_sinks(cfg: &Config) -> Result<Vec<(Sink, EventFilter)>, Fail> {
    sink::build(cfg).map_err(Fail::usage)
}

// ---- run -------------------------------------------------------------------

fn run(args: RunArgs) -> Result<ExitCode, Fail> {
    let (_env, cfg) = load_config()?;
    crate::telemetry::init(&cfg.log_level, cfg.log_format);
    let source = args.source.unwrap_or(SourceSpec::Docker);
    let rules = Arc::new(load_rules(&cfg)?);
    for w in &cfg.warnings {
        warn!("{w}");
    }
    let sinks = if args.dry_run {
        Vec::new()
    } else {
        build_sinks(&cfg)?
    };
    if !args.dry_run && sinks.is_empty() {
        return Err(Fail::usage("no receiver is configured: set WEBHOOK_URL (and WEBHOOK_SECRET), DISCORD_WEBHOOK_URL, SLACK_WEBHOOK_URL, or TELEGRAM_BOT_TOKEN with TELEGRAM_CHAT_ID, in the environment or .env; or use --dry-run to print events instead"));
    }
    let outbox = if args.dry_run {
        None
    } else {
        Some(Outbox::open(&cfg.state_dir).map_err(|e| Fail::usage(e.to_string()))?)
    };
    runtime()?.block_on(run_async(cfg, rules, source, sinks, outbox))
}

async fn run_async(
    cfg: Config,
    rules: Arc<RuleSet>,
    source: SourceSpec,
    sinks: Vec<(Sink, EventFilter)>,
    outbox: Option<Outbox>,
) -> Result<ExitCode, Fail> {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    info!(rules = rules.rules().len(), files = %rules.files().join(", "), "rules loaded");
    crate::server::set_rules_loaded(rules.rules().len());
    let (output, sink_tasks) = start_sinks(&cfg, sinks, outbox.as_ref(), &shutdown_rx);
    let (rules_tx, rules_rx) = watch::channel(rules.clone());
    tokio::spawn(crate::rules::reload::watch_rules(
        cfg.default_rules,
        cfg.rules.clone(),
        rules_tx,
        shutdown_rx.clone(),
    ));
    if let Some(addr) = cfg.listen {
        let routes = match &output {
            Output::Outbox { routes, .. } => routes.clone(),
            Output::DryRun => Vec::new(),
        };
        let state = crate::server::ServerState {
            outbox: outbox.clone(),
            routes,
            secret: cfg.inbound_secret.clone().map(|(t, k)| (t.0, k)),
            state_dir: cfg.state_dir.clone(),
        };
        let server_shutdown = shutdown_rx.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::server::serve(addr, state, server_shutdown).await {
                error!(addr = %addr, error = %e, "cannot serve the HTTP endpoint (health, metrics, inbound webhook); set BRIDGE_LISTEN to a free address:port, or off");
            }
        });
    }

    let signal = shutdown_signal();
    tokio::pin!(signal);
    if source == SourceSpec::Docker {
        let pipelines: Arc<std::sync::Mutex<Vec<PipelineTask>>> = Default::default();
        let start = {
            let (output, pipelines, shutdown) =
                (output.clone(), pipelines.clone(), shutdown_rx.clone());
            let rules_rx = rules_rx.clone();
            Arc::new(
                move |key: String, origin: Origin, rx: mpsc::Receiver<Input>| {
                    let current = rules_rx.borrow().clone();
                    let p = Pipeline::new(current, key, origin, output.clone());
                    let task = tokio::spawn(p.run(rx, shutdown.clone(), Some(rules_rx.clone())));
                    pipelines
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(task);
                },
            )
        };
        let docker_cfg = DockerConfig {
            host: cfg.docker_host.clone(),
            target: Target::parse(&cfg.container),
            since: cfg.since.clone(),
        };
        let mut source_task = tokio::spawn(docker::run(
            docker_cfg,
            start,
            outbox.clone(),
            shutdown_rx.clone(),
        ));
        tokio::select! {
            _ = &mut signal => {}
            _ = &mut source_task => {}
        }
        info!("stopping: finishing the work in flight; undelivered events stay in the outbox");
        let _ = shutdown_tx.send(true);
        let _ = tokio::time::timeout(DRAIN, source_task).await;
        let tasks: Vec<PipelineTask> =
            std::mem::take(&mut *pipelines.lock().unwrap_or_else(|p| p.into_inner()));
        for t in tasks {
            if let Ok(Ok(Err(e))) = tokio::time::timeout(DRAIN, t).await {
                error!(error = %e, "could not store the last events and checkpoint");
            }
        }
        finish_sinks(sink_tasks).await;
        return Ok(ExitCode::SUCCESS);
    }

    let (tx, rx) = mpsc::channel(64);
    let host = hostname();
    let (source_key, origin, source_task) = match &source {
        SourceSpec::File(path) => {
            let key = format!("file:{}", path.display());
            let checkpoint = outbox
                .as_ref()
                .map(|o| o.checkpoint(&key))
                .transpose()
                .map_err(|e| Fail::runtime(e.to_string()))?
                .flatten();
            let start = match checkpoint {
                Some(cursor) => StartAt::Resume(cursor),
                None if cfg.since == Since::Now => StartAt::End,
                None => StartAt::Beginning,
            };
            let origin = Origin {
                container: None,
                container_id: None,
                stream: Stream::File.as_str().into(),
                host,
                file: Some(path.display().to_string()),
            };
            (
                key,
                origin,
                tokio::spawn(file::follow(path.clone(), start, tx, shutdown_rx.clone())),
            )
        }
        _ => {
            let origin = Origin {
                container: None,
                container_id: None,
                stream: Stream::Stdin.as_str().into(),
                host,
                file: None,
            };
            (
                "stdin".to_string(),
                origin,
                tokio::spawn(stdin::read_to_end(tx)),
            )
        }
    };
    let pipeline = Pipeline::new(rules, source_key, origin, output);
    let mut pipeline_task =
        tokio::spawn(pipeline.run(rx, shutdown_rx.clone(), Some(rules_rx.clone())));
    let mut interrupted = false;
    let stats = tokio::select! {
        r = &mut pipeline_task => r,
        _ = &mut signal => {
            interrupted = true;
            info!("stopping: finishing the work in flight; undelivered events stay in the outbox");
            let _ = shutdown_tx.send(true);
            match tokio::time::timeout(DRAIN, &mut pipeline_task).await {
                Ok(r) => r,
                Err(_) => return Ok(ExitCode::SUCCESS),
            }
        }
    };
    let stats = match stats {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(Fail::runtime(e.to_string())),
        Err(e) => return Err(Fail::runtime(format!("internal error: {e}"))),
    };
    if let Ok(Err(e)) = source_task.await {
        error!(error = %e, "reading the log failed");
        let _ = shutdown_tx.send(true);
        return Err(Fail::runtime(e.to_string()));
    }
    info!(
        lines = stats.lines,
        records = stats.records,
        events = stats.events,
        "input finished"
    );

    // Standard input has ended: deliver what is queued, then stop.
    if source == SourceSpec::Stdin && !interrupted {
        if let Some(ob) = &outbox {
            tokio::select! {
                _ = wait_until_drained(ob) => {}
                _ = &mut signal => info!("stopping; undelivered events stay in the outbox"),
            }
        }
    }
    let _ = shutdown_tx.send(true);
    finish_sinks(sink_tasks).await;
    Ok(ExitCode::SUCCESS)
}

type PipelineTask =
    tokio::task::JoinHandle<Result<crate::pipeline::Stats, crate::outbox::OutboxError>>;

/// Starts one delivery task per sink; returns where the pipelines send events.
fn start_sinks(
    cfg: &Config,
    sinks: Vec<(Sink, EventFilter)>,
    outbox: Option<&Outbox>,
    shutdown: &watch::Receiver<bool>,
) -> (Output, Vec<tokio::task::JoinHandle<()>>) {
    let Some(ob) = outbox else {
        return (Output::DryRun, Vec::new());
    };
    let mut routes = Vec::new();
    let mut tasks = Vec::new();
    for (s, events) in sinks {
        info!(sink = s.name(), to = %s.describe(), events = %events, "delivering");
        routes.push(Route {
            sink: s.name().to_string(),
            events,
        });
        tasks.push(tokio::spawn(sink::deliver_forever(
            s,
            ob.clone(),
            cfg.webhook_max_age,
            shutdown.clone(),
        )));
    }
    if let Ok(p) = ob.pending_by_sink() {
        for (sink, n) in p
            .iter()
            .filter(|(s, _)| !routes.iter().any(|r| &r.sink == *s))
        {
            warn!(sink = %sink, pending = n, "events wait in the outbox for a receiver that is no longer configured");
        }
    }
    (
        Output::Outbox {
            outbox: ob.clone(),
            routes,
        },
        tasks,
    )
}

async fn finish_sinks(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for t in tasks {
        let _ = tokio::time::timeout(DRAIN, t).await;
    }
}

async fn wait_until_drained(ob: &Outbox) {
    loop {
        match ob.pending_by_sink() {
            Ok(p) if p.values().all(|&n| n == 0) => return,
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

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

// ---- check -----------------------------------------------------------------

fn check(args: CheckArgs) -> Result<ExitCode, Fail> {
    let mut problems: Vec<String> = Vec::new();
    let mut out = std::io::stdout().lock();
    let env = Env::load().map_err(|e| Fail::usage(e.to_string()))?;
    let _ = writeln!(out, "owui-bridge {} check", env!("CARGO_PKG_VERSION"));
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
                problems.push("no receiver is configured: set WEBHOOK_URL (and WEBHOOK_SECRET) so events have somewhere to go".into());
            }
            Some(cfg)
        }
        Err(errs) => {
            let _ = writeln!(out, "configuration: {} problem(s)", errs.len());
            problems.extend(errs.iter().map(|e| e.to_string()));
            None
        }
    };
    let default_rules = env
        .bool("BRIDGE_DEFAULT_RULES")
        .ok()
        .flatten()
        .unwrap_or(true);
    let rule_paths = cfg.as_ref().map(|c| c.rules.clone()).unwrap_or_default();
    match RuleSet::load(default_rules, &rule_paths) {
        Ok(rs) => {
            let _ = writeln!(
                out,
                "rules: ok, {} rules from {} ({} reached through the literal prefilter)",
                rs.rules().len(),
                rs.files().join(", "),
                rs.prefiltered()
            );
        }
        Err(e) => {
            let _ = writeln!(out, "rules: problem");
            problems.push(e.to_string());
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
    let host = docker::client::host_label(cfg.docker_host.as_deref());
    let client = tokio::time::timeout(
        Duration::from_secs(10),
        docker::client::connect(cfg.docker_host.as_deref()),
    )
    .await
    .map_err(|_| format!("Docker at {host} did not answer within 10 s; check DOCKER_HOST"))?
    .map_err(|e| e.to_string())?;
    let version = client
        .version()
        .await
        .ok()
        .and_then(|v| v.version)
        .unwrap_or_else(|| "?".into());
    match Target::parse(&cfg.container) {
        Target::Name(name) => match client.inspect_container(&name, None).await {
            Ok(info) => {
                let running = info.state.as_ref().and_then(|s| s.running).unwrap_or(false);
                let state = if running { "running" } else { "not running (the bridge waits for it to start)" };
                Ok(format!("Docker {version} at {host}; container '{name}' found, {state}"))
            }
            Err(e) if docker::client::is_not_found(&e) => {
                let seen = docker::client::container_names(&client).await;
                let seen = if seen.is_empty() { "none".to_string() } else { seen.join(", ") };
                Err(format!("OPENWEBUI_CONTAINER: no container '{name}' on {host}; containers there: {seen}. Set OPENWEBUI_CONTAINER to the exact name or id (the bridge keeps waiting for it otherwise)"))
            }
            Err(e) => Err(docker::client::classify(&host, &e).to_string()),
        },
        Target::Label(label) => match docker::client::names_with_label(&client, &label).await {
            Ok(names) if names.is_empty() => Err(format!("OPENWEBUI_CONTAINER: no container on {host} has the label {label}; add it to Open WebUI's service (labels:) or name the container instead")),
            Ok(names) => Ok(format!("Docker {version} at {host}; label {label} matches {}", names.join(", "))),
            Err(e) => Err(docker::client::classify(&host, &e).to_string()),
        },
    }
}

// ---- test-rules ------------------------------------------------------------

fn test_rules(args: TestRulesArgs) -> Result<ExitCode, Fail> {
    let rules = if args.rules.is_empty() {
        run_rules()?
    } else {
        RuleSet::load(false, &args.rules).map_err(|e| Fail::usage(e.to_string()))?
    };

    let input = read_input(args.file.as_deref())?;
    let records = assemble_all(&rules, &input);
    let mut hits_per_rule = vec![0u64; rules.rules().len()];
    let mut offered = 0u64;
    // Held events carry their record's first line number.
    let mut correlator: Correlator<u64> = Correlator::default();
    let mut ready = Vec::new();
    // One fixed "now": a replay waits by log time only, never by the clock.
    let now = Instant::now();
    let mut missed = 0u64;
    let mut scratch = Scratch::default();
    let mut hits = Vec::new();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut err = std::io::stderr().lock();
    let mut print = |line: u64, h: &Hit, out: &mut dyn Write| {
        hits_per_rule[h.rule] += 1;
        let rule = &rules.rules()[h.rule];
        let data: BTreeMap<&str, &str> = h
            .data
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let line = TestHit {
            line,
            rule: &rule.id,
            event: &rule.event,
            data,
        };
        let _ = writeln!(out, "{}", serde_json::to_string(&line).unwrap_or_default());
    };
    let mut emit = |ready: &mut Vec<Ready<u64>>, current: u64, out: &mut dyn Write| {
        for r in ready.drain(..) {
            match r {
                Ready::Current(h) => print(current, &h, out),
                Ready::Held(h, line) => print(line, &h, out),
            }
        }
    };
    for rec in &records {
        let at = record_time(rec);
        correlator.begin_record(at, now, &mut ready);
        hits.clear();
        rules.matches(rec, &mut scratch, &mut hits);
        if hits.is_empty() {
            missed += 1;
            if args.show_missed {
                let _ = writeln!(err, "missed (line {}): {}", rec.first_line, rec.text);
            }
        }
        for h in hits.drain(..) {
            let rule = &rules.rules()[h.rule];
            offered += u64::from(rule.fires);
            correlator.offer(rule, h, at, now, || rec.first_line, &mut ready);
        }
        emit(&mut ready, rec.first_line, &mut out);
    }
    correlator.drain(&mut ready);
    emit(&mut ready, 0, &mut out);
    let held = offered - hits_per_rule.iter().sum::<u64>();
    let _ = out.flush();
    let lines = input.iter().filter(|&&b| b == b'\n').count()
        + usize::from(!input.is_empty() && !input.ends_with(b"\n"));
    let _ = writeln!(
        err,
        "lines: {lines}, records: {}, records with no match: {missed}",
        records.len()
    );
    if held > 0 {
        let _ = writeln!(err, "hits held back by threshold or cooldown: {held}");
    }
    let _ = writeln!(err, "events per rule:");
    let width = rules.rules().iter().map(|r| r.id.len()).max().unwrap_or(0);
    for (rule, n) in rules.rules().iter().zip(&hits_per_rule) {
        let _ = writeln!(err, "  {:width$}  {n:>6}  {}", rule.id, rule.event);
    }
    Ok(ExitCode::SUCCESS)
}

fn read_input(file: Option<&Path>) -> Result<Vec<u8>, Fail> {
    match file {
        None => read_stdin(),
        Some(p) if p == Path::new("-") => read_stdin(),
        Some(p) => {
            std::fs::read(p).map_err(|e| Fail::usage(format!("cannot read {}: {e}", p.display())))
        }
    }
}

fn read_stdin() -> Result<Vec<u8>, Fail> {
    let mut buf = Vec::new();
    std::io::stdin()
        .read_to_end(&mut buf)
        .map_err(|e| Fail::runtime(format!("cannot read standard input: {e}")))?;
    Ok(buf)
}

/// One `test-rules` output line, fields in the order spec §2 shows.
#[derive(serde::Serialize)]
struct TestHit<'a> {
    line: u64,
    rule: &'a str,
    event: &'a str,
    data: BTreeMap<&'a str, &'a str>,
}

/// Records of a whole text at once (no flush by silence: the text is complete).
pub fn assemble_all(rules: &RuleSet, input: &[u8]) -> Vec<Record> {
    let mut splitter = LineSplitter::new(Stream::File, 0, None);
    let mut lines = Vec::new();
    splitter.push(input, &mut lines);
    splitter.finish(&mut lines);
    let mut asm = Assembler::new(rules.assemble_config().clone());
    let now = Instant::now();
    let mut records = Vec::new();
    for l in &lines {
        asm.push(l, now, &mut |r| records.push(r));
    }
    asm.flush_all(&mut |r| records.push(r));
    records
}

// ---- send-test ---------------------------------------------------------------

fn send_test() -> Result<ExitCode, Fail> {
    let (_env, cfg) = load_config()?;
    let sinks = build_sinks(&cfg)?;
    if sinks.is_empty() {
        return Err(Fail::usage("no receiver is configured: set WEBHOOK_URL (and WEBHOOK_SECRET), DISCORD_WEBHOOK_URL, SLACK_WEBHOOK_URL, or TELEGRAM_BOT_TOKEN with TELEGRAM_CHAT_ID, in the environment or .env"));
    }
    let origin = Origin {
        container: Some(cfg.container.clone()),
        container_id: None,
        stream: "bridge".into(),
        host: hostname(),
        file: None,
    };
    let mut data = BTreeMap::new();
    data.insert(
        "message".to_string(),
        "Test event from owui-bridge send-test".to_string(),
    );
    let ev = Event::synthetic(
        "bridge.test",
        data,
        &origin,
        "✅ owui-bridge can reach this channel",
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

/// The rules `run` would load: the built-in packs unless BRIDGE_DEFAULT_RULES=false, then BRIDGE_RULES.
fn run_rules() -> Result<RuleSet, Fail> {
    let env = Env::load().map_err(|e| Fail::usage(e.to_string()))?;
    let builtin = env
        .bool("BRIDGE_DEFAULT_RULES")
        .map_err(|e| Fail::usage(e.to_string()))?
        .unwrap_or(true);
    let extra: Vec<std::path::PathBuf> = env
        .get("BRIDGE_RULES")
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(Into::into)
                .collect()
        })
        .unwrap_or_default();
    RuleSet::load(builtin, &extra).map_err(|e| Fail::usage(e.to_string()))
}

// ---- events ------------------------------------------------------------------

fn events() -> Result<ExitCode, Fail> {
    let rules = run_rules()?;
    let mut by_event: BTreeMap<&str, Vec<&crate::rules::Rule>> = BTreeMap::new();
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
    let line = |out: &mut dyn Write, r: &crate::rules::Rule| {
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

// ---- healthcheck ---------------------------------------------------------------

fn healthcheck() -> Result<ExitCode, Fail> {
    let (_env, cfg) = load_config()?;
    let Some(addr) = cfg.listen else {
        println!(
            "BRIDGE_LISTEN is off, so there is no endpoint to ask; treating the bridge as healthy"
        );
        return Ok(ExitCode::SUCCESS);
    };
    match runtime()?.block_on(crate::server::probe(addr)) {
        Ok(()) => {
            println!("ok");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(Fail::runtime(format!("not healthy: {e}"))),
    }
}

// ---- listen --------------------------------------------------------------------

fn listen(args: ListenArgs) -> Result<ExitCode, Fail> {
    let env = Env::load().map_err(|e| Fail::usage(e.to_string()))?;
    let secret = env
        .secret("WEBHOOK_SECRET")
        .map_err(|e| Fail::usage(e.to_string()))?;
    let key = match &secret {
        Some(s) => Some(
            crate::config::SecretKey::from_secret(s)
                .map_err(|r| Fail::usage(format!("invalid value for WEBHOOK_SECRET: {r}")))?,
        ),
        None => None,
    };
    runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .map_err(|e| {
                Fail::usage(format!(
                    "cannot listen on {}: {e}; choose another --addr",
                    args.addr
                ))
            })?;
        println!(
            "listening on http://{}/ — set WEBHOOK_URL=http://{}/ and run 'owui-bridge send-test'",
            args.addr, args.addr
        );
        if key.is_none() {
            println!("WEBHOOK_SECRET is not set here, so signatures cannot be checked");
        }
        let app = axum::Router::new().fallback(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let key = key.clone();
                async move {
                    println!(
                        "{}",
                        crate::sink::verify::describe_delivery(&headers, &body, key.as_ref())
                    );
                    axum::http::StatusCode::OK
                }
            },
        );
        let signal = shutdown_signal();
        axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await
            .map_err(|e| Fail::runtime(e.to_string()))?;
        Ok(ExitCode::SUCCESS)
    })
}
