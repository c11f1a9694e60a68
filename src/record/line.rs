//! A line as a source hands it over: its bytes, where it came from and
//! where it sits in the source. Its own module so that the fact it records
//! about its bytes (plain UTF-8, checked once) cannot be broken from outside:
//! the fields that hold it are private here.

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::{Cursor, Stream};

/// One line from a source, without its line ending.
#[derive(Debug, Clone)]
pub struct Line {
    text: Bytes,
    /// `text` is valid UTF-8 without ESC (no terminal colours): the
    /// assembler takes it as it is. Checked once, by [`Line::new`], where the
    /// source cut the line — for a file or `test-rules`, on the reading
    /// thread, so the thread that matches does not scan the bytes again.
    plain: bool,
    pub stream: Stream,
    /// When the program wrote it, if the source knows (Docker does).
    pub ts: Option<DateTime<Utc>>,
    /// 1-based number of the line in the source, for people (`test-rules`).
    pub number: u64,
    /// Where this line starts and where the next one starts.
    pub start: Cursor,
    pub end: Cursor,
}

impl Line {
    pub fn new(
        text: Bytes,
        stream: Stream,
        ts: Option<DateTime<Utc>>,
        number: u64,
        start: Cursor,
        end: Cursor,
    ) -> Line {
        let plain = std::str::from_utf8(&text).is_ok() && memchr::memchr(0x1b, &text).is_none();
        Line {
            text,
            plain,
            stream,
            ts,
            number,
            start,
            end,
        }
    }

    /// The raw bytes, as the source read them.
    pub fn text(&self) -> &[u8] {
        &self.text
    }

    /// The text, when it is plain UTF-8 (see `plain`); `None` when it needs
    /// decoding or has colour codes to strip.
    pub fn plain_text(&self) -> Option<&str> {
        if !self.plain {
            return None;
        }
        // SAFETY: `plain` is true only when `new` found these very bytes to
        // be UTF-8, and both fields are private and never change afterwards.
        Some(unsafe { std::str::from_utf8_unchecked(&self.text) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &[u8]) -> Line {
        Line::new(
            Bytes::copy_from_slice(text),
            Stream::File,
            None,
            1,
            Cursor::Offset(0),
            Cursor::Offset(text.len() as u64 + 1),
        )
    }

    /// Only valid UTF-8 without colour codes skips the assembler's decoding;
    /// the rest keeps its raw bytes for it.
    #[test]
    fn only_plain_utf8_is_taken_as_it_is() {
        assert_eq!(line(b"plain ascii").plain_text(), Some("plain ascii"));
        assert_eq!(
            line("tiếng Việt".as_bytes()).plain_text(),
            Some("tiếng Việt")
        );
        assert_eq!(line(b"").plain_text(), Some(""));
        for raw in [
            &b"bad \xff byte"[..],
            b"\x1b[32mINFO\x1b[0m",
            b"cut \xe1\xbb",
        ] {
            let l = line(raw);
            assert_eq!(l.plain_text(), None, "{raw:?}");
            assert_eq!(l.text(), raw);
        }
    }
}
