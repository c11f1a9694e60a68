//! Standard input as a source: read to the end on a thread of its own, then
//! close the channel.
//!
//! The thread is never joined: a read of standard input cannot be
//! interrupted, and `docker logs -f … | owui-bridge run --source stdin` may
//! wait on it for hours. So a stop does not wait for it either: the source
//! returns at once and the thread ends with the process.

use tokio::sync::{mpsc, oneshot, watch};

use super::lines::{read_lines, LineSplitter};
use super::{Input, SourceError};
use crate::record::Stream;

/// Bytes read at a time.
const CHUNK: usize = 64 * 1024;

/// Reads standard input until its end (then the channel closes: the pipeline
/// flushes every record) or until `shutdown` turns true.
pub async fn read_to_end(
    tx: mpsc::Sender<Input>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), SourceError> {
    crate::health::set(
        "stdin",
        crate::health::SourceState::Following("reading standard input".into()),
    );
    let (done, result) = oneshot::channel();
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut splitter = LineSplitter::new(Stream::Stdin, 0, None);
            let read = read_lines(std::io::stdin().lock(), &mut splitter, CHUNK, |lines| {
                tx.blocking_send(Input::Lines(lines)).is_ok()
            });
            // The channel closes here, with `tx`, whether anyone still waits or not.
            let _ = done.send(read);
        })
        .map_err(|e| unreadable(&e))?;
    tokio::select! {
        read = result => match read {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(unreadable(&e)),
            // The thread ended without a word: it can only have panicked.
            Err(_) => Err(SourceError::Read {
                path: "standard input".into(),
                reason: "the reading thread stopped unexpectedly".into(),
            }),
        },
        Ok(_) = shutdown.wait_for(|stop| *stop) => Ok(()),
    }
}

fn unreadable(e: &std::io::Error) -> SourceError {
    SourceError::Read {
        path: "standard input".into(),
        reason: e.to_string(),
    }
}
