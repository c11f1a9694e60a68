//! Sources: where log lines come from. Each source sends batches of [`Line`]s
//! (text, stream, time, position) into a bounded channel, so a slow pipeline
//! slows the reader instead of filling memory.
//!
//! `--source file:PATH` follows a file like `tail -F`; `--source stdin` reads
//! standard input to its end; `--source docker` follows the Open WebUI
//! container through the Docker Engine API.

pub mod docker;
pub mod file;
pub mod lines;
pub mod stdin;

use std::path::PathBuf;
use std::str::FromStr;

use crate::config::Since;
use crate::record::{Cursor, Line};

/// A batch of consecutive lines from one source.
pub type Batch = Vec<Line>;

/// What a source hands the pipeline.
#[derive(Debug)]
pub enum Input {
    Lines(Batch),
    /// A record that needs no assembly (a container lifecycle event).
    Record(crate::record::Record),
    /// The source (re)attached: where the next lines come from (a new container id).
    Attach(crate::record::Origin),
}

/// Where a source starts reading: its stored checkpoint, or — the first
/// time — where `BRIDGE_SINCE` says. Decided in one place (the `run`
/// command, which owns the outbox), for every source.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    Checkpoint(Cursor),
    Since(Since),
}

/// What `--source` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    Docker,
    File(PathBuf),
    Stdin,
}

impl FromStr for SourceSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<SourceSpec, String> {
        match s {
            "docker" => Ok(SourceSpec::Docker),
            "stdin" | "-" => Ok(SourceSpec::Stdin),
            _ => match s.strip_prefix("file:") {
                Some(p) if !p.is_empty() => Ok(SourceSpec::File(PathBuf::from(p))),
                _ => Err(format!(
                    "'{s}' is not a source; use docker, stdin or file:/path/to/log"
                )),
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
}
