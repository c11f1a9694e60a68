//! The Docker source: follows the Open WebUI container (or every container
//! with a label) through the Docker Engine API, like `docker logs -f` but
//! resumable, and turns its lifecycle events into records.
//!
//! One follower task per container name, each feeding its own pipeline. A
//! follower attaches with `since` = its last position (checkpoint on start)
//! and skips what was already read ([`frames::Framer`]); when the stream ends
//! it asks Docker whether the container still runs and re-attaches (a proxy
//! or the daemon cut it) or waits for it to start again. Docker's event
//! stream wakes followers at once and yields lifecycle records. Nothing here
//! gives up: a missing daemon or container is waited for, said once.

pub mod client;
pub mod frames;
pub mod lifecycle;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::query_parameters::{EventsOptions, LogsOptions};
use bollard::Docker;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::{mpsc, watch, Notify};
use tracing::{debug, info, warn};

use self::client::{classify, is_not_found, DockerError};
use self::frames::{FrameError, Framer};
use self::lifecycle::{Lifecycle, Translator};
use super::{Input, Start};
use crate::config::{DockerHost, Since, Target};
use crate::health::{self, SourceState};
use crate::metrics::{Metrics, METRICS};
use crate::record::{Cursor, Origin, Stream};
use crate::shutdown::sleep_or_shutdown;

/// How long a running container's stream may stay silent before re-attaching
/// (a half-open connection is otherwise never noticed).
const WATCHDOG: Duration = Duration::from_secs(300);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const POLL_STOPPED: Duration = Duration::from_secs(5);

pub struct DockerConfig {
    pub host: DockerHost,
    pub target: Target,
}

/// Starts a pipeline for one container, `(checkpoint key, origin, input)`,
/// and says where its follower starts reading.
pub type StartPipeline = Arc<dyn Fn(String, Origin, mpsc::Receiver<Input>) -> Start + Send + Sync>;

struct Follower {
    tx: mpsc::Sender<Input>,
    wake: Arc<Notify>,
}

/// Runs until `shutdown` turns true.
pub async fn run(
    cfg: DockerConfig,
    start_pipeline: StartPipeline,
    mut shutdown: watch::Receiver<bool>,
) {
    let host = cfg.host.to_string();
    let Some(docker) = connect_until_ready(&cfg, &host, &mut shutdown).await else {
        return;
    };
    let mut followers: HashMap<String, Follower> = HashMap::new();
    let follower_shutdown = shutdown.clone();
    let spawn = |name: &str, followers: &mut HashMap<String, Follower>| {
        if followers.contains_key(name) {
            return;
        }
        let (tx, rx) = mpsc::channel(256);
        let key = format!("docker:{name}");
        let origin = Origin::container(name, None);
        let resume = resume_position(&start_pipeline(key.clone(), origin, rx));
        let wake = Arc::new(Notify::new());
        let f = ContainerFollower {
            docker: docker.clone(),
            host: host.clone(),
            name: name.to_string(),
            key: key.clone(),
            tx: tx.clone(),
            wake: wake.clone(),
            shutdown: follower_shutdown.clone(),
        };
        tokio::spawn(f.run(resume));
        followers.insert(name.to_string(), Follower { tx, wake });
    };
    match &cfg.target {
        Target::Name(n) => spawn(n, &mut followers),
        Target::Label(l) => match client::names_with_label(&docker, l).await {
            Ok(names) if names.is_empty() => {
                warn!(label = %l, "no container has this label yet; waiting for one to start");
                health::set(
                    "docker",
                    SourceState::WaitingForStart(format!(
                        "no container has the label {l} yet; waiting for one to start"
                    )),
                );
            }
            Ok(names) => names.iter().for_each(|n| spawn(n, &mut followers)),
            Err(e) => {
                warn!(error = %classify(&host, &e), "cannot list containers; waiting for start events")
            }
        },
    }

    let mut translator = Translator::default();
    let mut since = format_since(chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default());
    let mut last_seen: Option<(i64, String, String)> = None;
    let mut backoff = Duration::from_secs(1);
    let mut lost: Option<&'static str> = None;
    loop {
        let opts = EventsOptions {
            since: Some(since.clone()),
            until: None,
            filters: Some(event_filters(&cfg.target)),
        };
        let mut events = docker.events(Some(opts));
        loop {
            let item = tokio::select! {
                item = events.next() => item,
                _ = shutdown.changed() => return,
            };
            let msg = match item {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    let why = classify(&host, &e);
                    if lost.is_none() {
                        warn!(reason = %why, "lost Docker's event stream; reconnecting with backoff");
                    }
                    lost = Some(why.kind());
                    break;
                }
                None => break,
            };
            if lost.take().is_some() {
                info!("Docker's event stream is back");
            }
            backoff = Duration::from_secs(1);
            let Some(ev) = Lifecycle::from_message(&msg) else {
                continue;
            };
            since = format_since(ev.time_ns);
            let key = (ev.time_ns, ev.id.clone(), ev.action.clone());
            if last_seen.as_ref() == Some(&key) {
                continue; // `since` is inclusive: the last event comes again after a reconnect
            }
            last_seen = Some(key);
            if !wanted(&cfg.target, &ev) || is_own(&ev.id) {
                continue;
            }
            if ev.action == "start" && matches!(cfg.target, Target::Label(_)) {
                spawn(&ev.name, &mut followers);
            }
            let name = if followers.contains_key(&ev.name) {
                ev.name.clone()
            } else {
                followed_name(&cfg.target)
            };
            if let Some(f) = followers.get(&name) {
                if let Some(rec) = translator.record(&ev) {
                    let _ = f.tx.send(Input::Record(rec)).await;
                }
                if matches!(
                    ev.action.as_str(),
                    "start" | "restart" | "die" | "destroy" | "rename"
                ) {
                    f.wake.notify_one();
                }
            }
        }
        if sleep_or_shutdown(backoff, &mut shutdown).await {
            return;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn followed_name(t: &Target) -> String {
    match t {
        Target::Name(n) => n.clone(),
        Target::Label(_) => String::new(),
    }
}

/// Docker's `container=` event filter matches prefixes (`web` also matches
/// `web-2`); keep only the container really followed.
fn wanted(t: &Target, ev: &Lifecycle) -> bool {
    match t {
        Target::Name(n) => ev.name == *n || (n.len() >= 12 && ev.id.starts_with(n.as_str())),
        Target::Label(_) => true,
    }
}

fn is_own(id: &str) -> bool {
    client::own_container_prefix().is_some_and(|p| id.starts_with(&p))
}

fn event_filters(t: &Target) -> HashMap<String, Vec<String>> {
    let mut f = HashMap::new();
    f.insert("type".to_string(), vec!["container".to_string()]);
    f.insert(
        "event".to_string(),
        lifecycle::ACTIONS.iter().map(|s| s.to_string()).collect(),
    );
    match t {
        Target::Name(n) => f.insert("container".to_string(), vec![n.clone()]),
        Target::Label(l) => f.insert("label".to_string(), vec![l.clone()]),
    };
    f
}

fn format_since(ns: i64) -> String {
    format!(
        "{}.{:09}",
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000)
    )
}

/// Where to begin: the checkpoint, or the time `BRIDGE_SINCE` names.
fn resume_position(start: &Start) -> (i64, u32) {
    if let Start::Checkpoint(Cursor::Docker { ts_ns, seq }) = start {
        return (*ts_ns, *seq);
    }
    let now = chrono::Utc::now();
    let at = match start {
        Start::Since(Since::Ago(d)) => now - chrono::Duration::from_std(*d).unwrap_or_default(),
        Start::Since(Since::At(t)) => *t,
        // A checkpoint of another kind cannot be a Docker position: start now.
        Start::Since(Since::Now) | Start::Checkpoint(_) => now,
    };
    (at.timestamp_nanos_opt().unwrap_or_default(), 0)
}

async fn connect_until_ready(
    cfg: &DockerConfig,
    host: &str,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Docker> {
    let mut backoff = Duration::from_secs(1);
    let mut said: Option<&'static str> = None;
    loop {
        match client::connect(&cfg.host).await {
            Ok(d) => {
                info!(docker = %host, "connected to Docker");
                health::clear("docker");
                return Some(d);
            }
            Err(e) => {
                if said != Some(e.kind()) {
                    warn!("{e}; retrying until it works");
                    health::set("docker", SourceState::Trouble(e.to_string()));
                    said = Some(e.kind());
                }
            }
        }
        if sleep_or_shutdown(backoff, shutdown).await {
            return None;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// What became of one item of the log stream.
enum Frame {
    Taken,
    End,
}

/// What the follower last told the user, so each state is said once.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Said {
    Nothing,
    Following(String),
    Missing,
    Stopped,
    Trouble(String),
}

struct ContainerFollower {
    docker: Docker,
    host: String,
    name: String,
    /// Its checkpoint and health key, `docker:<name>`.
    key: String,
    tx: mpsc::Sender<Input>,
    wake: Arc<Notify>,
    shutdown: watch::Receiver<bool>,
}

impl ContainerFollower {
    async fn run(mut self, start: (i64, u32)) {
        let mut resume = start;
        let mut framer = Framer::new(Some(resume));
        let mut said = Said::Nothing;
        let mut attached = false;
        let mut backoff = Duration::from_secs(1);
        loop {
            if *self.shutdown.borrow() {
                return;
            }
            let wake = self.wake.clone();
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let info = match self.docker.inspect_container(&self.name, None).await {
                Ok(info) => info,
                Err(e) if is_not_found(&e) => {
                    if said != Said::Missing {
                        let seen = client::container_names(&self.docker).await;
                        warn!(container = %self.name, docker = %self.host, seen = %seen.join(", "), "container not found; waiting for it to appear (set OPENWEBUI_CONTAINER to its exact name or id)");
                        health::set(
                            &self.key,
                            SourceState::Trouble(format!(
                                "container '{}' not found on {}; waiting for it",
                                self.name, self.host
                            )),
                        );
                        said = Said::Missing;
                    }
                    if self.wait(notified, POLL_STOPPED).await {
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    self.trouble(&mut said, classify(&self.host, &e));
                    if self.wait(notified, backoff).await {
                        return;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            backoff = Duration::from_secs(1);
            let id = info.id.clone().unwrap_or_default();
            let running = info.state.as_ref().and_then(|s| s.running).unwrap_or(false);
            if is_own(&id) {
                if said != Said::Trouble("own".into()) {
                    warn!(container = %self.name, "this is the bridge's own container; it is not followed (set OPENWEBUI_CONTAINER to Open WebUI's container)");
                    said = Said::Trouble("own".into());
                }
                if self.wait(notified, POLL_STOPPED).await {
                    return;
                }
                continue;
            }
            let short: String = id.chars().take(12).collect();
            let origin = Origin::container(&self.name, Some(short.clone()));
            if self.tx.send(Input::Attach(origin)).await.is_err() {
                return;
            }
            if attached {
                Metrics::add(&METRICS.docker_reconnects, 1);
            }
            attached = true;
            if running {
                health::set(
                    &self.key,
                    SourceState::Following(format!("following container {} ({short})", self.name)),
                );
            }
            if running && said != Said::Following(id.clone()) {
                info!(container = %self.name, id = %short, "following container");
                said = Said::Following(id.clone());
            }
            framer.reattach(Some(resume));
            let opts = LogsOptions {
                follow: running,
                stdout: true,
                stderr: true,
                since: Framer::since_secs(Some(resume)),
                until: 0,
                timestamps: true,
                tail: "all".into(),
            };
            let mut logs = self.docker.logs(&id, Some(opts));
            let mut lines = Vec::new();
            'stream: loop {
                let first = tokio::select! {
                    item = tokio::time::timeout(WATCHDOG, logs.next()) => item,
                    _ = self.shutdown.changed() => return,
                };
                let Ok(mut item) = first else {
                    debug!(container = %self.name, "no output for a while; re-attaching to be sure the stream is alive");
                    break;
                };
                // Every frame already here goes in one batch: one hand-over
                // to the pipeline for a burst of lines.
                loop {
                    match self.take_frame(item, &mut framer, &mut lines, &mut said) {
                        Frame::Taken => {}
                        Frame::End => break 'stream,
                    }
                    match logs.next().now_or_never() {
                        Some(next) => item = next,
                        None => break,
                    }
                }
                if let Some(last) = lines.last() {
                    if let Cursor::Docker { ts_ns, seq } = last.end {
                        resume = (ts_ns, seq);
                    }
                    if self
                        .tx
                        .send(Input::Lines(std::mem::take(&mut lines)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
            // The stream ended: stopped container, cut connection, or watchdog.
            let still_running = match self.docker.inspect_container(&id, None).await {
                Ok(i) => i.state.as_ref().and_then(|s| s.running).unwrap_or(false),
                Err(e) if client::is_going_away(&e) => false,
                Err(e) => {
                    // Docker itself is the problem, not the container: say so, back off, ask again.
                    self.trouble(&mut said, classify(&self.host, &e));
                    if self.wait(notified, backoff).await {
                        return;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            if still_running {
                if self.wait(notified, Duration::from_millis(200)).await {
                    return;
                }
                continue;
            }
            if said != Said::Stopped && said != Said::Missing {
                info!(container = %self.name, "container is not running; waiting for it to start");
                health::set(
                    &self.key,
                    SourceState::WaitingForStart(format!(
                        "container {} is not running; waiting for it to start",
                        self.name
                    )),
                );
                said = Said::Stopped;
            }
            if self.wait(notified, POLL_STOPPED).await {
                return;
            }
        }
    }

    /// One item of the log stream into `lines`; `End` when the stream is over
    /// (ended, failed, or the daemon wrote an error into it).
    fn take_frame(
        &self,
        item: Option<Result<LogOutput, bollard::errors::Error>>,
        framer: &mut Framer,
        lines: &mut Vec<crate::record::Line>,
        said: &mut Said,
    ) -> Frame {
        let out = match item {
            None => return Frame::End,
            Some(Err(e)) => {
                if !client::is_going_away(&e) {
                    self.trouble(said, classify(&self.host, &e));
                }
                return Frame::End;
            }
            Some(Ok(out)) => out,
        };
        let (stream, bytes) = match out {
            LogOutput::StdErr { message } => (Stream::Stderr, message),
            LogOutput::StdOut { message }
            | LogOutput::Console { message }
            | LogOutput::StdIn { message } => (Stream::Stdout, message),
        };
        match framer.push(stream, &bytes, lines) {
            Ok(()) => Frame::Taken,
            Err(FrameError::Daemon(msg)) => {
                warn!(container = %self.name, error = %msg, "Docker reported an error in the log stream; re-attaching");
                Frame::End
            }
            Err(FrameError::NoTimestamp) => {
                debug!(container = %self.name, "a log frame without timestamp was skipped");
                Frame::Taken
            }
        }
    }

    fn trouble(&self, said: &mut Said, e: DockerError) {
        let text = e.to_string();
        if *said != Said::Trouble(e.kind().into()) {
            warn!(container = %self.name, "{text}; retrying until it works");
            health::set(&self.key, SourceState::Trouble(text.clone()));
            *said = Said::Trouble(e.kind().into());
        }
    }

    /// Waits for a wake-up, `d`, or shutdown (true).
    async fn wait(
        &mut self,
        notified: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>,
        d: Duration,
    ) -> bool {
        if *self.shutdown.borrow() {
            return true;
        }
        tokio::select! {
            _ = notified => false,
            _ = tokio::time::sleep(d) => false,
            r = self.shutdown.changed() => r.is_err() || *self.shutdown.borrow(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_seconds_dot_nanos() {
        assert_eq!(
            format_since(1_700_000_000_000_000_123),
            "1700000000.000000123"
        );
    }

    #[test]
    fn prefix_matches_of_the_event_filter_are_dropped() {
        let ev = |name: &str| Lifecycle {
            action: "start".into(),
            id: "abcdef0123456789".into(),
            name: name.into(),
            attributes: HashMap::new(),
            time_ns: 0,
        };
        let t = Target::Name("web".into());
        assert!(wanted(&t, &ev("web")));
        assert!(!wanted(&t, &ev("web-2")));
        assert!(wanted(&Target::Name("abcdef012345".into()), &ev("other")));
    }
}
