//! Following a file like `tail -F`: read to the end, wait for more, and
//! notice when the file is truncated (start again at 0) or replaced by
//! rotation (finish the old file, then read the new one from its start).
//! Positions carry the file's inode, so a resume after rotation starts the
//! new file at 0 instead of at an offset that belonged to the old one.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

fn open_at(path: &Path, start: StartAt) -> Result<Opened, std::io::Error> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    let ino = meta.ino();
    let offset = match start {
        StartAt::Beginning => 0,
        StartAt::End => meta.len(),
        StartAt::Resume(Cursor::File { ino: i, offset }) if i == ino && offset <= meta.len() => {
            offset
        }
        StartAt::Resume(_) => 0,
    };
    file.seek(SeekFrom::Start(offset))?;
    Ok(Opened { file, ino, offset })
}

/// Follows `path` until `shutdown` turns true or the receiver goes away.
/// `key` names the source for `/readyz`. Reading and splitting lines run on a
/// blocking thread of their own: a backlog then takes a second core while the
/// pipeline matches, and no read pays for a hop to the blocking pool.
pub async fn follow(
    path: PathBuf,
    key: String,
    start: Start,
    tx: mpsc::Sender<Input>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), SourceError> {
    let shown = path.display().to_string();
    tokio::task::spawn_blocking(move || follow_blocking(&path, &key, start, &tx, &shutdown))
        .await
        .unwrap_or_else(|e| {
            Err(SourceError::Read {
                path: shown,
                reason: format!("internal error: {e}"),
            })
        })
}

/// Bytes read at a time.
const CHUNK: usize = 128 * 1024;

fn follow_blocking(
    path: &Path,
    key: &str,
    start: Start,
    tx: &mpsc::Sender<Input>,
    shutdown: &watch::Receiver<bool>,
) -> Result<(), SourceError> {
    let mut start = StartAt::of(&start);
    let shown = path.display().to_string();
    let read_error = |e: std::io::Error| SourceError::Read {
        path: shown.clone(),
        reason: e.to_string(),
    };
    let mut waiting_logged = false;
    let mut cur = loop {
        match open_at(path, start) {
            Ok(o) => break o,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // All of a file that appears later is news, whatever the start said.
                start = StartAt::Beginning;
                if !waiting_logged {
                    warn!(file = %shown, "log file does not exist yet; waiting for it to appear");
                    health::set(
                        key,
                        SourceState::Trouble(format!("log file {shown} does not exist yet")),
                    );
                    waiting_logged = true;
                }
                if wait(tx, shutdown) {
                    return Ok(());
                }
            }
            Err(e) => return Err(read_error(e)),
        }
    };
    info!(file = %shown, offset = cur.offset, "following file");
    health::set(
        key,
        SourceState::Following(format!("following file {shown}")),
    );
    let mut splitter = LineSplitter::new(Stream::File, cur.offset, Some(cur.ino));
    let mut buf = vec![0u8; CHUNK];
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        let n = match cur.file.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e)),
        };
        if n > 0 {
            let mut batch = Vec::new();
            splitter.push(&buf[..n], &mut batch);
            cur.offset += n as u64;
            if !batch.is_empty() && tx.blocking_send(Input::Lines(batch)).is_err() {
                return Ok(());
            }
            continue;
        }
        // At the end of what is written: has the file been replaced or cut?
        match std::fs::metadata(path) {
            Ok(meta) if meta.ino() != cur.ino => {
                let mut batch = Vec::new();
                splitter.finish(&mut batch);
                if !batch.is_empty() && tx.blocking_send(Input::Lines(batch)).is_err() {
                    return Ok(());
                }
                // When the new file is not readable yet, try again after the pause.
                if let Ok(o) = open_at(path, StartAt::Beginning) {
                    info!(file = %shown, "file was rotated; reading the new file from its start");
                    cur = o;
                    splitter = LineSplitter::new(Stream::File, 0, Some(cur.ino));
                    continue;
                }
            }
            Ok(meta) if meta.len() < cur.offset => {
                info!(file = %shown, "file was truncated; reading it again from the start");
                cur.file.seek(SeekFrom::Start(0)).map_err(read_error)?;
                cur.offset = 0;
                splitter = LineSplitter::new(Stream::File, 0, Some(cur.ino));
                continue;
            }
            _ => {}
        }
        if wait(tx, shutdown) {
            return Ok(());
        }
    }
}

/// Waits one poll interval; true when the bridge stops or nobody reads any more.
fn wait(tx: &mpsc::Sender<Input>, shutdown: &watch::Receiver<bool>) -> bool {
    std::thread::sleep(POLL);
    *shutdown.borrow() || tx.is_closed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    /// Lines (text and where each starts) until `want` arrived or 10 s passed.
    async fn take(rx: &mut mpsc::Receiver<Input>, want: usize) -> Vec<(String, Cursor)> {
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while got.len() < want {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(Input::Lines(batch))) => got.extend(
                    batch
                        .iter()
                        .map(|l| (String::from_utf8_lossy(l.text()).into_owned(), l.start)),
                ),
                Ok(Some(other)) => panic!("a file source sent {other:?}"),
                Ok(None) | Err(_) => break,
            }
        }
        got
    }

    fn texts(lines: &[(String, Cursor)]) -> Vec<&str> {
        lines.iter().map(|(t, _)| t.as_str()).collect()
    }

    fn start(
        path: &Path,
        start: Start,
    ) -> (
        mpsc::Receiver<Input>,
        watch::Sender<bool>,
        tokio::task::JoinHandle<Result<(), SourceError>>,
    ) {
        let (tx, rx) = mpsc::channel(2);
        let (stop, shutdown) = watch::channel(false);
        let task = tokio::spawn(follow(
            path.to_path_buf(),
            "file:test".into(),
            start,
            tx,
            shutdown,
        ));
        (rx, stop, task)
    }

    /// The source ends cleanly within a few polls.
    async fn assert_stops(task: tokio::task::JoinHandle<Result<(), SourceError>>) {
        let ended = tokio::time::timeout(Duration::from_secs(5), task).await;
        assert!(
            matches!(ended, Ok(Ok(Ok(())))),
            "the source did not stop: {ended:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn follows_appends_truncation_and_rotation_then_stops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, "one\ntwo\n").unwrap();
        let old_ino = std::fs::metadata(&path).unwrap().ino();
        let (mut rx, stop, task) = start(&path, Start::Since(Since::Ago(Duration::from_secs(60))));
        assert_eq!(texts(&take(&mut rx, 2).await), ["one", "two"]);

        // A line written in two pieces arrives once, whole.
        append(&path, "thr");
        tokio::time::sleep(POLL * 2).await;
        append(&path, "ee\n");
        let three = take(&mut rx, 1).await;
        assert_eq!(texts(&three), ["three"]);
        assert_eq!(
            three[0].1,
            Cursor::File {
                ino: old_ino,
                offset: 8
            }
        );

        // Cut shorter than what was read: read again from the start.
        std::fs::write(&path, "cut\n").unwrap();
        assert_eq!(texts(&take(&mut rx, 1).await), ["cut"]);

        // Rotated: the old file's last words, then the new file from its start.
        let rotated = dir.path().join("app.log.1");
        std::fs::rename(&path, &rotated).unwrap();
        append(&rotated, "last of the old file");
        tokio::time::sleep(POLL * 2).await;
        std::fs::write(&path, "first of the new file\n").unwrap();
        let new_ino = std::fs::metadata(&path).unwrap().ino();
        let got = take(&mut rx, 2).await;
        assert_eq!(
            texts(&got),
            ["last of the old file", "first of the new file"]
        );
        assert_eq!(
            got[1].1,
            Cursor::File {
                ino: new_ino,
                offset: 0
            }
        );

        stop.send(true).unwrap();
        assert_stops(task).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn resumes_at_its_checkpoint_only_in_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, "seen\nnot yet\n").unwrap();
        let ino = std::fs::metadata(&path).unwrap().ino();

        let (mut rx, stop, task) = start(&path, Start::Checkpoint(Cursor::File { ino, offset: 5 }));
        assert_eq!(texts(&take(&mut rx, 1).await), ["not yet"]);
        stop.send(true).unwrap();
        assert_stops(task).await;

        // A checkpoint from another file (rotated while the bridge was down) means this one is new.
        let other = Cursor::File {
            ino: ino + 1,
            offset: 5,
        };
        let (mut rx, stop, task) = start(&path, Start::Checkpoint(other));
        assert_eq!(texts(&take(&mut rx, 2).await), ["seen", "not yet"]);
        stop.send(true).unwrap();
        assert_stops(task).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waits_for_a_missing_file_and_stops_when_nobody_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("later.log");
        let (mut rx, _stop, task) = start(&path, Start::Since(Since::Now));
        tokio::time::sleep(POLL * 2).await;
        std::fs::write(&path, "hello\n").unwrap();
        assert_eq!(texts(&take(&mut rx, 1).await), ["hello"]);
        drop(rx);
        assert_stops(task).await;
    }
}
