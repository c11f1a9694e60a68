//! Standard input as a source: read to the end, then close the channel.

use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::lines::LineSplitter;
use super::{Input, SourceError};
use crate::record::Stream;

pub async fn read_to_end(tx: mpsc::Sender<Input>) -> Result<(), SourceError> {
    crate::health::set(
        "stdin",
        crate::health::SourceState::Following("reading standard input".into()),
    );
    let mut input = tokio::io::stdin();
    let mut splitter = LineSplitter::new(Stream::Stdin, 0, None);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = input.read(&mut buf).await.map_err(|e| SourceError::Read {
            path: "standard input".into(),
            reason: e.to_string(),
        })?;
        let mut batch = Vec::new();
        if n == 0 {
            splitter.finish(&mut batch);
            if !batch.is_empty() {
                let _ = tx.send(Input::Lines(batch)).await;
            }
            return Ok(());
        }
        splitter.push(&buf[..n], &mut batch);
        if !batch.is_empty() && tx.send(Input::Lines(batch)).await.is_err() {
            return Ok(());
        }
    }
}
