//! Hot reload of rule files and folders. A change is noticed through `notify`
//! (inotify) on the files' folders — which also catches editors that save by
//! writing a new file and renaming it over the old one — and, as a fallback
//! for mounts that deliver no events, by comparing file sizes and times every
//! two seconds. The new set is compiled first and swapped in whole; a broken
//! file is reported with file, line and column and the running rules stay.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use super::RuleSet;
use crate::config::RuleSources;
use crate::metrics::{Metrics, METRICS};

const POLL: Duration = Duration::from_secs(2);
const SETTLE: Duration = Duration::from_millis(200);

/// What the rule files look like on disk: changes when any file changes.
type Fingerprint = Vec<(PathBuf, u64, Option<SystemTime>)>;

fn fingerprint(paths: &[PathBuf]) -> Fingerprint {
    let mut out = Vec::new();
    for p in paths {
        let mut files = vec![p.clone()];
        if p.is_dir() {
            files = std::fs::read_dir(p)
                .map(|rd| {
                    rd.filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|f| f.extension().is_some_and(|x| x == "toml"))
                        .collect()
                })
                .unwrap_or_default();
            files.sort();
        }
        for f in files {
            let meta = std::fs::metadata(&f).ok();
            out.push((
                f,
                meta.as_ref().map(|m| m.len()).unwrap_or(0),
                meta.and_then(|m| m.modified().ok()),
            ));
        }
    }
    out
}

/// Watches `paths` until `shutdown`; sends each valid new rule set on `tx`.
pub async fn watch_rules(
    sources: RuleSources,
    tx: watch::Sender<Arc<RuleSet>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let paths = &sources.paths;
    if paths.is_empty() {
        return;
    }
    let (kick_tx, mut kick_rx) = mpsc::channel::<()>(1);
    let _watcher = start_notify(paths, kick_tx);
    let mut seen = fingerprint(paths);
    let mut poll = tokio::time::interval(POLL);
    loop {
        tokio::select! {
            _ = kick_rx.recv() => tokio::time::sleep(SETTLE).await,
            _ = poll.tick() => {}
            _ = shutdown.changed() => return,
        }
        while kick_rx.try_recv().is_ok() {}
        let now = fingerprint(paths);
        if now == seen {
            continue;
        }
        seen = now;
        match RuleSet::load(&sources) {
            Ok(new) => {
                let old: BTreeSet<String> =
                    tx.borrow().rules().iter().map(|r| r.id.clone()).collect();
                let ids: BTreeSet<String> = new.rules().iter().map(|r| r.id.clone()).collect();
                let added = ids.difference(&old).count();
                let removed = old.difference(&ids).count();
                info!(
                    "rules reloaded: {} rules, +{added} −{removed}",
                    new.rules().len()
                );
                METRICS.set_rules_loaded(new.rules().len());
                let _ = tx.send(Arc::new(new));
            }
            Err(e) => {
                Metrics::add(&METRICS.rule_reload_errors, 1);
                error!("rules not reloaded, the running rules stay: {e}");
            }
        }
    }
}

/// inotify on every folder involved; a failure only means we rely on polling.
fn start_notify(paths: &[PathBuf], kick: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    let mut watcher = match notify::recommended_watcher(
        move |_res: notify::Result<notify::Event>| {
            let _ = kick.try_send(());
        },
    ) {
        Ok(w) => w,
        Err(e) => {
            warn!(error = %e, "cannot watch rule files for changes; checking them every 2 s instead");
            return None;
        }
    };
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    for p in paths {
        let dir = if p.is_dir() {
            p.clone()
        } else {
            p.parent()
                .map(Path::to_path_buf)
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or_else(|| PathBuf::from("."))
        };
        dirs.insert(dir);
    }
    for d in dirs {
        if let Err(e) = watcher.watch(&d, RecursiveMode::NonRecursive) {
            warn!(folder = %d.display(), error = %e, "cannot watch this folder for rule changes; checking it every 2 s instead");
        }
    }
    Some(watcher)
}
