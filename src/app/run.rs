//! `owui-bridge run`: builds the stages from the configuration and runs them
//! until SIGTERM or the end of the input. The wiring: one source (Docker, a
//! file, or standard input) → one pipeline per followed container → the
//! outbox → one delivery task per sink; the HTTP endpoint and the rule
//! watcher beside them. Decides where each source starts (its checkpoint, or
//! `BRIDGE_SINCE`) and the shutdown order.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use super::{load_config, load_rules, runtime, shutdown_signal, Fail, NO_RECEIVER};
use crate::cli::RunArgs;
use crate::config::{Config, Since};
use crate::outbox::{Outbox, OutboxError};
use crate::pipeline::{Clock, Output, Pipeline, Stats};
use crate::record::{Origin, Stream};
use crate::rules::RuleSet;
use crate::sink::{self, Route, Routes, Sink};
use crate::source::docker::{self, DockerConfig};
use crate::source::{file, stdin, Input, SourceSpec, Start};

/// How long shutdown waits for in-flight work before leaving it to the outbox.
const DRAIN: Duration = Duration::from_secs(8);

/// Batches of lines (one read each) between a file or stdin source and its
/// pipeline: enough to keep both busy, few enough to bound memory.
const IN_FLIGHT: usize = 2;

type PipelineTask = tokio::task::JoinHandle<Result<Stats, OutboxError>>;

pub(super) fn run(args: RunArgs) -> Result<ExitCode, Fail> {
    let cfg = load_config()?;
    crate::telemetry::init(&cfg.log_level, cfg.log_format);
    let source = args.source.unwrap_or(SourceSpec::Docker);
    let rules = Arc::new(load_rules(&cfg.rules)?);
    for w in cfg
        .warnings
        .iter()
        .chain(&super::filter_warnings(&cfg, &rules))
    {
        warn!("{w}");
    }
    let sinks = sink::build(&cfg).map_err(Fail::usage)?;
    if !args.dry_run && sinks.is_empty() {
        return Err(Fail::usage(format!(
            "{NO_RECEIVER}; or use --dry-run to print events instead"
        )));
    }
    let outbox = if args.dry_run {
        None
    } else {
        Some(Outbox::open(&cfg.state_dir).map_err(|e| Fail::usage(e.to_string()))?)
    };
    crate::memory::give_back();
    runtime()?.block_on(run_async(cfg, rules, source, sinks, outbox))
}

/// The one place that decides where a source starts.
fn start_of(outbox: Option<&Outbox>, key: &str, since: &Since) -> Start {
    match outbox.map(|o| o.checkpoint(key)) {
        Some(Ok(Some(cursor))) => Start::Checkpoint(cursor),
        Some(Err(e)) => {
            warn!(source = key, error = %e, "cannot read the checkpoint; starting where BRIDGE_SINCE says");
            Start::Since(since.clone())
        }
        _ => Start::Since(since.clone()),
    }
}

async fn run_async(
    cfg: Config,
    rules: Arc<RuleSet>,
    source: SourceSpec,
    sinks: Vec<(Sink, Route)>,
    outbox: Option<Outbox>,
) -> Result<ExitCode, Fail> {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    info!(rules = rules.rules().len(), files = %rules.files().join(", "), "rules loaded");
    crate::metrics::METRICS.set_rules_loaded(rules.rules().len());
    let routes = Routes::new(sinks.iter().map(|(_, r)| r.clone()).collect());
    let sink_tasks = match &outbox {
        Some(ob) => start_sinks(&cfg, sinks, ob, &routes, &shutdown_rx),
        None => Vec::new(),
    };
    let output = {
        let routes = routes.clone();
        move |outbox: &Option<Outbox>| match outbox {
            Some(ob) => Output::Outbox {
                outbox: ob.clone(),
                routes: routes.clone(),
            },
            None => Output::DryRun {
                routes: routes.clone(),
            },
        }
    };
    let (rules_tx, rules_rx) = watch::channel(rules.clone());
    tokio::spawn(crate::rules::reload::watch_rules(
        cfg.rules.clone(),
        rules_tx,
        shutdown_rx.clone(),
    ));
    if let Some(addr) = cfg.listen {
        let state = crate::server::ServerState {
            outbox: outbox.clone(),
            routes: routes.clone(),
            secret: cfg.inbound_secret.clone().map(|(t, k)| (t.0, k)),
            state_dir: cfg.state_dir.clone(),
            flood: Default::default(),
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
        let pipelines: Arc<Mutex<Vec<PipelineTask>>> = Default::default();
        let start = {
            let (pipelines, shutdown) = (pipelines.clone(), shutdown_rx.clone());
            let (rules_rx, outbox, since, lang) = (
                rules_rx.clone(),
                outbox.clone(),
                cfg.since.clone(),
                cfg.language,
            );
            Arc::new(
                move |key: String, origin: Origin, rx: mpsc::Receiver<Input>| {
                    let current = rules_rx.borrow().clone();
                    let from = start_of(outbox.as_ref(), &key, &since);
                    let p = Pipeline::new(current, key, origin, output(&outbox), Clock::Real, lang);
                    let task = tokio::spawn(p.run(rx, shutdown.clone(), Some(rules_rx.clone())));
                    pipelines
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(task);
                    from
                },
            )
        };
        let docker_cfg = DockerConfig {
            host: cfg.docker_host.clone(),
            target: cfg.container.clone(),
        };
        let mut source_task = tokio::spawn(docker::run(docker_cfg, start, shutdown_rx.clone()));
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
        flush(&outbox).await;
        return Ok(ExitCode::SUCCESS);
    }

    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    let (key, origin, source_task) = match &source {
        SourceSpec::File(path) => {
            let key = format!("file:{}", path.display());
            let from = start_of(outbox.as_ref(), &key, &cfg.since);
            let origin = Origin::local(Stream::File.as_str(), Some(path.display().to_string()));
            let task = tokio::spawn(file::follow(
                path.clone(),
                key.clone(),
                from,
                tx,
                shutdown_rx.clone(),
            ));
            (key, origin, task)
        }
        _ => (
            "stdin".to_string(),
            Origin::local(Stream::Stdin.as_str(), None),
            tokio::spawn(stdin::read_to_end(tx, shutdown_rx.clone())),
        ),
    };
    let pipeline = Pipeline::new(
        rules,
        key,
        origin,
        output(&outbox),
        Clock::Real,
        cfg.language,
    );
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
            flush(&outbox).await;
            tokio::select! {
                _ = wait_until_drained(ob) => {}
                _ = &mut signal => info!("stopping; undelivered events stay in the outbox"),
            }
        }
    }
    let _ = shutdown_tx.send(true);
    finish_sinks(sink_tasks).await;
    flush(&outbox).await;
    Ok(ExitCode::SUCCESS)
}

/// The last acks and checkpoints on disk before the process ends.
async fn flush(outbox: &Option<Outbox>) {
    if let Some(ob) = outbox {
        match tokio::time::timeout(DRAIN, ob.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                error!(error = %e, "could not store the last deliveries; they are sent again at the next start")
            }
            Err(_) => error!(
                "storing the last deliveries took too long; they are sent again at the next start"
            ),
        }
    }
}

/// Starts one delivery task per sink.
fn start_sinks(
    cfg: &Config,
    sinks: Vec<(Sink, Route)>,
    ob: &Outbox,
    routes: &Routes,
    shutdown: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for (s, route) in sinks {
        info!(sink = s.name(), to = %s.describe(), events = %route.events, "delivering");
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
    tasks
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
