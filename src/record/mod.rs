//! Records: the unit rules see. A record is one log entry — a single line, or a
//! header line with its continuation lines (a traceback) — from one stream.
//!
//! `line::Line` is what a source hands over; `assemble` turns lines into records;
//! `origin` says where they came from; `time` reads when they were logged.

pub mod assemble;
mod line;
pub mod origin;
mod start;
pub mod time;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use assemble::{AssembleConfig, Assembler};
pub use line::Line;
pub use origin::Origin;

/// Which output of the followed program a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
    /// A followed file: the program's two outputs were already mixed.
    File,
    Stdin,
    /// The container's lifecycle, from Docker's event stream.
    Docker,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::File => "file",
            Stream::Stdin => "stdin",
            Stream::Docker => "docker",
        }
    }
}

/// A position in a source that can be stored and resumed from. What it counts is
/// the source's business; the pipeline only stores the last safe one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cursor {
    /// Byte offset into the file with this inode (the start of a line).
    File { ino: u64, offset: u64 },
    /// Line count of a stream that cannot be re-read (stdin); used only for ids.
    Line(u64),
    /// Byte offset in an anonymous text (tests, `test-rules`).
    Offset(u64),
    /// A Docker log position: the daemon's timestamp of a line, and how many
    /// lines (frames) with exactly that timestamp come before it.
    Docker { ts_ns: i64, seq: u32 },
}

impl Cursor {
    /// Orders positions of one source.
    pub fn order_key(&self) -> (i64, u64) {
        match *self {
            Cursor::File { offset, .. } | Cursor::Offset(offset) => (0, offset),
            Cursor::Line(n) => (0, n),
            Cursor::Docker { ts_ns, seq } => (ts_ns, u64::from(seq)),
        }
    }
}

/// A complete record handed to the rules.
#[derive(Debug, Clone)]
pub struct Record {
    pub stream: Stream,
    pub ts: Option<DateTime<Utc>>,
    /// 1-based number of the record's first line.
    pub first_line: u64,
    pub text: String,
    /// Lines dropped because the record was longer than `max_lines` / `max_bytes`.
    pub truncated_lines: u64,
    /// Where the record's first line starts: resuming here re-reads the whole record.
    pub start: Cursor,
    /// Where the line after the record starts.
    pub end: Cursor,
}

impl Record {
    /// When it was logged: the source's time (Docker's), else the time at its
    /// start (loguru's, or the `ts` of a JSON line), if any.
    pub fn logged_at(&self) -> Option<DateTime<Utc>> {
        self.ts.or_else(|| time::log_time(&self.text))
    }
}
