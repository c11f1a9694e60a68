//! Splitting a byte stream into [`Line`]s with their positions. Lines are
//! zero-copy views of one reused buffer; a line longer than the cap is cut
//! (and marked) so one runaway write cannot exhaust memory. [`read_lines`]
//! drives a splitter over a reader to its end, on a thread of its own.

use std::io::{ErrorKind, Read};

use bytes::{Bytes, BytesMut};

use crate::record::{Cursor, Line, Stream};

/// Longest line kept whole (Docker's partial lines are merged up to this too).
pub const MAX_LINE: usize = 1 << 20;
const CUT_MARK: &[u8] = b" [owui-bridge: line truncated]";

pub struct LineSplitter {
    stream: Stream,
    pending: BytesMut,
    /// Offset of `pending[0]` in the source.
    offset: u64,
    /// Number of lines emitted so far.
    number: u64,
    ino: Option<u64>,
    /// Bytes of the current over-long line still being skipped.
    skipping: bool,
}

impl LineSplitter {
    /// `ino`: the file identity for cursors, or `None` for streams that cannot be re-read.
    pub fn new(stream: Stream, offset: u64, ino: Option<u64>) -> LineSplitter {
        LineSplitter {
            stream,
            pending: BytesMut::with_capacity(64 * 1024),
            offset,
            number: 0,
            ino,
            skipping: false,
        }
    }

    fn cursor(&self, offset: u64) -> Cursor {
        match self.ino {
            Some(ino) => Cursor::File { ino, offset },
            None => Cursor::Line(offset),
        }
    }

    /// Appends bytes; pushes every complete line to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Line>) {
        self.pending.extend_from_slice(chunk);
        let mut start_at = 0;
        while let Some(i) = memchr::memchr(b'\n', &self.pending[start_at..]) {
            let end = start_at + i;
            if self.skipping {
                self.skipping = false;
                let consumed = self.pending.split_to(end + 1);
                self.offset += consumed.len() as u64;
                start_at = 0;
                continue;
            }
            let mut raw = self.pending.split_to(end + 1);
            let len = raw.len() as u64;
            raw.truncate(raw.len() - 1);
            if raw.len() > MAX_LINE {
                raw.truncate(MAX_LINE);
                raw.extend_from_slice(CUT_MARK);
            }
            self.emit(raw.freeze(), len, out);
            start_at = 0;
        }
        if self.pending.len() > MAX_LINE && !self.skipping {
            let mut cut = self.pending.split_to(MAX_LINE);
            let len = cut.len() as u64;
            cut.extend_from_slice(CUT_MARK);
            self.emit(cut.freeze(), len, out);
            self.skipping = true;
        }
        if self.skipping
            && !self.pending.is_empty()
            && memchr::memchr(b'\n', &self.pending).is_none()
        {
            self.offset += self.pending.len() as u64;
            self.pending.clear();
        }
    }

    /// At the true end of input: the last line may lack its newline.
    pub fn finish(&mut self, out: &mut Vec<Line>) {
        if !self.pending.is_empty() && !self.skipping {
            let raw = self.pending.split().freeze();
            let len = raw.len() as u64;
            self.emit(raw, len, out);
        }
        self.pending.clear();
        self.skipping = false;
    }

    fn emit(&mut self, text: Bytes, consumed: u64, out: &mut Vec<Line>) {
        self.number += 1;
        let start = self.offset;
        self.offset += consumed;
        let (start, end) = match self.ino {
            Some(_) => (self.cursor(start), self.cursor(self.offset)),
            None => (Cursor::Line(self.number), Cursor::Line(self.number + 1)),
        };
        out.push(Line::new(text, self.stream, None, self.number, start, end));
    }
}

/// Reads `input` to its end, `chunk` bytes at a time, and hands the lines of
/// each read to `send` (at the end, the last line even without its newline).
/// Stops early, without error, when `send` says nobody takes lines any more.
/// Blocking: for a thread of its own (stdin, `test-rules`), so the thread
/// that matches never waits for input and the line checks run beside it.
pub fn read_lines(
    mut input: impl Read,
    splitter: &mut LineSplitter,
    chunk: usize,
    mut send: impl FnMut(Vec<Line>) -> bool,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; chunk];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let mut lines = Vec::new();
        splitter.push(&buf[..n], &mut lines);
        if !lines.is_empty() && !send(lines) {
            return Ok(());
        }
    }
    let mut lines = Vec::new();
    splitter.finish(&mut lines);
    if !lines.is_empty() {
        send(lines);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(input: &[u8], chunk: usize) -> Vec<(String, u64, Cursor)> {
        let mut s = LineSplitter::new(Stream::File, 0, Some(1));
        let mut out = Vec::new();
        for c in input.chunks(chunk.max(1)) {
            s.push(c, &mut out);
        }
        s.finish(&mut out);
        out.iter().map(seen).collect()
    }

    /// What a test compares of a line: its text, number and start.
    fn seen(l: &Line) -> (String, u64, Cursor) {
        (
            String::from_utf8_lossy(l.text()).into_owned(),
            l.number,
            l.start,
        )
    }

    #[test]
    fn every_chunking_gives_the_same_lines() {
        let input = b"first\nsecond line\n\nlast without newline";
        let whole = split_all(input, input.len());
        assert_eq!(whole.len(), 4);
        assert_eq!(
            whole[1],
            ("second line".into(), 2, Cursor::File { ino: 1, offset: 6 })
        );
        assert_eq!(whole[3].0, "last without newline");
        for chunk in 1..input.len() {
            assert_eq!(split_all(input, chunk), whole, "chunk size {chunk}");
        }
    }

    #[test]
    fn over_long_lines_are_cut_and_marked() {
        let mut input = vec![b'x'; MAX_LINE + 10];
        input.extend_from_slice(b"\nnext\n");
        let lines = split_all(&input, 4096);
        assert_eq!(lines.len(), 2);
        assert!(lines[0].0.ends_with("[owui-bridge: line truncated]"));
        assert_eq!(lines[1].0, "next");
        assert_eq!(
            lines[1].2,
            Cursor::File {
                ino: 1,
                offset: MAX_LINE as u64 + 11
            }
        );
    }

    /// Any read sizes give the same lines, the last one without its newline
    /// included; a receiver that goes away stops the reading.
    #[test]
    fn read_lines_hands_over_every_line_and_stops_when_nobody_takes_them() {
        let input = b"one\ntwo\n\nthree without newline".repeat(50);
        let whole = split_all(&input, input.len());
        for chunk in [1, 3, 64, 4096] {
            let mut s = LineSplitter::new(Stream::File, 0, Some(1));
            let mut got = Vec::new();
            read_lines(&input[..], &mut s, chunk, |lines| {
                got.extend(lines.iter().map(seen));
                true
            })
            .unwrap();
            assert_eq!(got, whole, "chunk {chunk}");
        }
        let mut s = LineSplitter::new(Stream::File, 0, Some(1));
        let mut calls = 0;
        read_lines(&input[..], &mut s, 8, |_| {
            calls += 1;
            false
        })
        .unwrap();
        assert_eq!(calls, 1, "no read after the receiver left");
    }
}
