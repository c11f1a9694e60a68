//! Following a file like `tail -F`: read to the end, wait for more, and
//! notice when the file is truncated (start again at 0) or replaced by
//! rotation (finish the old file, then read the new one from its start).
//! Positions carry the file's inode, so a resume after rotation starts the
//! new file at 0 instead of at an offset that belonged to the old one.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncSeekExt, SeekFrom};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use super::lines::LineSplitter;
use super::{Input, SourceError, Start};
use crate::config::Since;
use crate::health::{self, SourceState};
use crate::record::{Cursor, Stream};

/// Where to begin reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StartAt {
    Beginning,
    End,
    Resume(Cursor),
}

impl StartAt {
    /// For a file, `BRIDGE_SINCE=now` means its end, any other value its beginning.
    fn of(start: &Start) -> StartAt {
        match start {
            Start::Checkpoint(c) => StartAt::Resume(*c),
            Start::Since(Since::Now) => StartAt::End,
            Start::Since(_) => StartAt::Beginning,
        }
    }
}

const POLL: Duration = Duration::from_millis(200);

struct Opened {
    file: File,
    ino: u64,
    offset: u64,
}

async fn open_at(path: &Path, start: StartAt) -> Result<Opened, std::io::Error> {
    let mut file = File::open(path).await?;
    let meta = file.metadata().await?;
    let ino = meta.ino();
    let offset = match start {
        StartAt::Beginning => 0,
        StartAt::End => meta.len(),
        StartAt::Resume(Cursor::File { ino: i, offset }) if i == ino && offset <= meta.len() => {
            offset
        }
        StartAt::Resume(_) => 0,
    };
    file.seek(SeekFrom::Start(offset)).await?;
    Ok(Opened { file, ino, offset })
}

/// Follows `path` until `shutdown` turns true or the receiver goes away.
/// `key` names the source for `/readyz`.
pub async fn follow(
    path: PathBuf,
    key: String,
    start: Start,
    tx: mpsc::Sender<Input>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), SourceError> {
    let start = StartAt::of(&start);
    let shown = path.display().to_string();
    let mut waiting_logged = false;
    let mut cur = loop {
        match open_at(&path, start).await {
            Ok(o) => break o,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !waiting_logged {
                    warn!(file = %shown, "log file does not exist yet; waiting for it to appear");
                    health::set(
                        &key,
                        SourceState::Trouble(format!("log file {shown} does not exist yet")),
                    );
                    waiting_logged = true;
                }
                if wait(&mut shutdown).await {
                    return Ok(());
                }
            }
            Err(e) => {
                return Err(SourceError::Read {
                    path: shown,
                    reason: e.to_string(),
                })
            }
        }
    };
    info!(file = %shown, offset = cur.offset, "following file");
    health::set(
        &key,
        SourceState::Following(format!("following file {shown}")),
    );
    let mut splitter = LineSplitter::new(Stream::File, cur.offset, Some(cur.ino));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        let n = cur
            .file
            .read(&mut buf)
            .await
            .map_err(|e| SourceError::Read {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
        if n > 0 {
            let mut batch = Vec::new();
            splitter.push(&buf[..n], &mut batch);
            cur.offset += n as u64;
            if !batch.is_empty() && tx.send(Input::Lines(batch)).await.is_err() {
                return Ok(());
            }
            continue;
        }
        // At the end of what is written: has the file been replaced or cut?
        match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.ino() != cur.ino => {
                let mut batch = Vec::new();
                splitter.finish(&mut batch);
                if !batch.is_empty() && tx.send(Input::Lines(batch)).await.is_err() {
                    return Ok(());
                }
                // When the new file is not readable yet, try again after the pause.
                if let Ok(o) = open_at(&path, StartAt::Beginning).await {
                    info!(file = %shown, "file was rotated; reading the new file from its start");
                    cur = o;
                    splitter = LineSplitter::new(Stream::File, 0, Some(cur.ino));
                    continue;
                }
            }
            Ok(meta) if meta.len() < cur.offset => {
                info!(file = %shown, "file was truncated; reading it again from the start");
                cur.file
                    .seek(SeekFrom::Start(0))
                    .await
                    .map_err(|e| SourceError::Read {
                        path: shown.clone(),
                        reason: e.to_string(),
                    })?;
                cur.offset = 0;
                splitter = LineSplitter::new(Stream::File, 0, Some(cur.ino));
                continue;
            }
            _ => {}
        }
        if wait(&mut shutdown).await {
            return Ok(());
        }
    }
}

/// Waits one poll interval; true when shutdown came first.
async fn wait(shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(POLL) => *shutdown.borrow(),
        r = shutdown.changed() => r.is_err() || *shutdown.borrow(),
    }
}
