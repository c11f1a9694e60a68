//! Docker log frames → [`Line`]s, as a pure state machine.
//!
//! Each frame carries the daemon's timestamp (`timestamps=true`). A line
//! longer than 16 KiB arrives as several frames with the same timestamp, all
//! but the last without a trailing newline; they are merged per stream, up to
//! [`MAX_LINE`], and marked when cut. Positions are `(timestamp, how many
//! frames with that timestamp came before)`, so a reconnect with Docker's
//! whole-second, inclusive `since` can skip exactly what was already read.

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};

use crate::record::{Cursor, Line, Stream};
use crate::source::lines::MAX_LINE;

const CUT_MARK: &[u8] = b" [owui-bridge: line truncated]";

struct Partial {
    start: Cursor,
    /// Where a restart must resume to read this line whole without taking
    /// up the tail of a line already delivered: its start, or earlier when
    /// the other stream's line was still arriving in parts when it began.
    floor: Cursor,
    ts: DateTime<Utc>,
    buf: BytesMut,
    cut: bool,
}

/// Why a frame could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The daemon wrote an error into the stream (e.g. `Error grabbing logs: …`).
    Daemon(String),
    /// No timestamp where one must be.
    NoTimestamp,
}

pub struct Framer {
    /// Frames before this position were read before: skip them.
    skip_before: Option<(i64, u32)>,
    /// Timestamp of the previous frame and how many frames carried it.
    last_ts: Option<i64>,
    seq: u32,
    partial: [Option<Partial>; 2],
    number: u64,
}

impl Framer {
    /// `resume`: where reading stopped before (a `Cursor::Docker`), or `None`.
    pub fn new(resume: Option<(i64, u32)>) -> Framer {
        Framer {
            skip_before: resume,
            last_ts: None,
            seq: 0,
            partial: [None, None],
            number: 0,
        }
    }

    /// Before a new logs request that starts at `resume`: frames are counted
    /// afresh and unfinished partial lines are dropped (they are read again).
    pub fn reattach(&mut self, resume: Option<(i64, u32)>) {
        self.skip_before = resume;
        self.last_ts = None;
        self.seq = 0;
        self.partial = [None, None];
    }

    /// The whole-second `since` to ask Docker for (inclusive), from a resume position.
    pub fn since_secs(resume: Option<(i64, u32)>) -> i32 {
        resume
            .map(|(ts, _)| ts.div_euclid(1_000_000_000).clamp(0, i32::MAX as i64) as i32)
            .unwrap_or(0)
    }

    /// Feeds one frame's payload; pushes the line it completes, if any.
    pub fn push(
        &mut self,
        stream: Stream,
        payload: &[u8],
        out: &mut Vec<Line>,
    ) -> Result<(), FrameError> {
        if let Some(pos) = memchr::memmem::find(payload, b"Error grabbing logs") {
            if pos < 40 {
                return Err(FrameError::Daemon(
                    String::from_utf8_lossy(&payload[pos..]).trim().to_string(),
                ));
            }
        }
        let (ts, text) = split_timestamp(payload).ok_or(FrameError::NoTimestamp)?;
        let ts_ns = ts.timestamp_nanos_opt().unwrap_or_default();
        if self.last_ts == Some(ts_ns) {
            self.seq += 1;
        } else {
            self.last_ts = Some(ts_ns);
            self.seq = 0;
        }
        let here = Cursor::Docker {
            ts_ns,
            seq: self.seq,
        };
        let next = Cursor::Docker {
            ts_ns,
            seq: self.seq + 1,
        };
        if let Some((skip_ts, skip_seq)) = self.skip_before {
            if ts_ns < skip_ts || (ts_ns == skip_ts && self.seq < skip_seq) {
                return Ok(());
            }
            // Docker stops filtering after the first line at or past `since`
            // (timestamps need not be monotonic); so do we.
            self.skip_before = None;
        }
        let slot = usize::from(stream == Stream::Stderr);
        let complete = text.ends_with(b"\n");
        let body = text.strip_suffix(b"\n").unwrap_or(text);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        let other_floor = self.partial[1 - slot].as_ref().map(|p| p.floor);
        let part = self.partial[slot].get_or_insert_with(|| Partial {
            start: here,
            floor: other_floor
                .filter(|f| f.order_key() < here.order_key())
                .unwrap_or(here),
            ts,
            buf: BytesMut::new(),
            cut: false,
        });
        if !part.cut {
            let room = MAX_LINE.saturating_sub(part.buf.len());
            if body.len() > room {
                part.buf
                    .extend_from_slice(&body[..floor_boundary(body, room)]);
                part.buf.extend_from_slice(CUT_MARK);
                part.cut = true;
            } else {
                part.buf.extend_from_slice(body);
            }
        }
        if complete {
            if let Some(p) = self.partial[slot].take() {
                self.number += 1;
                out.push(Line::new(
                    Bytes::from(p.buf),
                    stream,
                    Some(p.ts),
                    self.number,
                    p.start,
                    self.resume_after(next),
                ));
            }
        }
        Ok(())
    }
}

impl Framer {
    /// Where reading may start again once the line ending before `next` is
    /// taken: `next`, or earlier when the other stream's long line is still
    /// arriving in parts — resuming past its first part would cut its head
    /// off, and resuming between the parts of a line already taken would
    /// make its tail a line of its own.
    fn resume_after(&self, next: Cursor) -> Cursor {
        self.partial
            .iter()
            .flatten()
            .map(|p| p.floor)
            .chain([next])
            .min_by_key(Cursor::order_key)
            .unwrap_or(next)
    }
}

/// Splits `2026-11-27T08:01:50.392123456Z <text>` into time and text.
fn split_timestamp(payload: &[u8]) -> Option<(DateTime<Utc>, &[u8])> {
    let space = memchr::memchr(b' ', &payload[..payload.len().min(40)])?;
    let head = std::str::from_utf8(&payload[..space]).ok()?;
    let ts = crate::record::time::parse_rfc3339(head)?;
    Some((ts, &payload[space + 1..]))
}

/// The largest index ≤ `max` that does not split a UTF-8 character.
fn floor_boundary(b: &[u8], max: usize) -> usize {
    let mut i = max.min(b.len());
    while i > 0 && i < b.len() && (b[i] & 0xC0) == 0x80 {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(f: &mut Framer, input: &[(Stream, &str)]) -> Vec<(Stream, String, Cursor)> {
        let mut out = Vec::new();
        for (s, p) in input {
            f.push(*s, p.as_bytes(), &mut out).unwrap();
        }
        out.into_iter()
            .map(|l| {
                (
                    l.stream,
                    String::from_utf8_lossy(l.text()).into_owned(),
                    l.start,
                )
            })
            .collect()
    }

    const T1: &str = "2026-11-27T08:01:50.000000001Z";
    const T2: &str = "2026-11-27T08:01:51.000000000Z";

    fn ns(t: &str) -> i64 {
        DateTime::parse_from_rfc3339(t)
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap()
    }

    #[test]
    fn partial_frames_merge_per_stream() {
        let mut f = Framer::new(None);
        let got = frames(
            &mut f,
            &[
                (Stream::Stdout, &format!("{T1} part-a ")),
                (Stream::Stderr, &format!("{T1} err line\n")),
                (Stream::Stdout, &format!("{T1} part-b\n")),
                (Stream::Stdout, &format!("{T2} next\r\n")),
            ],
        );
        assert_eq!(
            got,
            vec![
                (
                    Stream::Stderr,
                    "err line".into(),
                    Cursor::Docker {
                        ts_ns: ns(T1),
                        seq: 1
                    }
                ),
                (
                    Stream::Stdout,
                    "part-a part-b".into(),
                    Cursor::Docker {
                        ts_ns: ns(T1),
                        seq: 0
                    }
                ),
                (
                    Stream::Stdout,
                    "next".into(),
                    Cursor::Docker {
                        ts_ns: ns(T2),
                        seq: 0
                    }
                ),
            ]
        );
    }

    #[test]
    fn resume_skips_exactly_what_was_read() {
        let input = [
            (Stream::Stdout, format!("{T1} one\n")),
            (Stream::Stdout, format!("{T1} two\n")),
            (Stream::Stderr, format!("{T1} three\n")),
            (Stream::Stdout, format!("{T2} four\n")),
        ];
        let input: Vec<(Stream, &str)> = input.iter().map(|(s, p)| (*s, p.as_str())).collect();
        let mut all = Framer::new(None);
        let whole = frames(&mut all, &input);
        // Resume after "two": Docker's since is the whole second, so it resends all of T1.
        let mut f = Framer::new(Some((ns(T1), 2)));
        assert_eq!(
            Framer::since_secs(Some((ns(T1), 2))),
            (ns(T1) / 1_000_000_000) as i32
        );
        let got = frames(&mut f, &input);
        assert_eq!(got, whole[2..].to_vec());
    }

    #[test]
    fn a_line_arriving_in_parts_holds_the_resume_position_back() {
        // stdout's long line has begun when a stderr line ends: a cut there
        // must resume before stdout's first part, or its head is lost.
        let mut out = Vec::new();
        let mut f = Framer::new(None);
        f.push(Stream::Stdout, format!("{T1} head-").as_bytes(), &mut out)
            .unwrap();
        f.push(Stream::Stderr, format!("{T1} short\n").as_bytes(), &mut out)
            .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].end,
            Cursor::Docker {
                ts_ns: ns(T1),
                seq: 0
            },
            "resume at the start of stdout's unfinished line"
        );
    }

    #[test]
    fn over_long_lines_are_cut_without_splitting_characters() {
        let mut f = Framer::new(None);
        let chunk = "ệ".repeat(16 * 1024 / 3);
        let mut out = Vec::new();
        for _ in 0..80 {
            f.push(Stream::Stdout, format!("{T1} {chunk}").as_bytes(), &mut out)
                .unwrap();
        }
        f.push(Stream::Stdout, format!("{T1} end\n").as_bytes(), &mut out)
            .unwrap();
        assert_eq!(out.len(), 1);
        let text = std::str::from_utf8(out[0].text()).expect("still valid UTF-8");
        assert!(text.ends_with("[owui-bridge: line truncated]"));
        assert!(out[0].text().len() <= MAX_LINE + CUT_MARK.len());
    }

    #[test]
    fn daemon_errors_and_missing_timestamps_are_reported() {
        let mut f = Framer::new(None);
        let mut out = Vec::new();
        assert!(matches!(
            f.push(
                Stream::Stdout,
                b"\x03\0\0\0\0\0\0\x20Error grabbing logs: boom\n",
                &mut out
            ),
            Err(FrameError::Daemon(_))
        ));
        assert_eq!(
            f.push(Stream::Stdout, b"no timestamp here\n", &mut out),
            Err(FrameError::NoTimestamp)
        );
    }

    /// Any log (two streams, lines split into partial frames, timestamps that
    /// repeat and cross whole seconds) read with connections cut anywhere and
    /// re-attached as the follower does (Docker replays from the whole second
    /// of the last line's `end`): every line comes out whole, exactly once per
    /// start position, in order per stream.
    mod every_line_once {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        struct Frame {
            stream: Stream,
            ts_ns: i64,
            text: String,
            last: bool,
        }

        fn stamp(ts_ns: i64) -> String {
            DateTime::<Utc>::from_timestamp_nanos(ts_ns)
                .format("%Y-%m-%dT%H:%M:%S%.9fZ")
                .to_string()
        }

        /// Lines `(stream, text)` and the log's frames, both streams merged.
        fn log() -> impl Strategy<Value = (Vec<(Stream, String)>, Vec<Frame>)> {
            let line = (
                any::<bool>(),
                0usize..40,
                prop::collection::vec(0usize..40, 0..3),
            );
            (
                prop::collection::vec(line, 1..24),
                prop::collection::vec(any::<bool>(), 0..80),
                prop::collection::vec(
                    prop::sample::select(vec![0i64, 0, 1, 300_000_000, 1_000_000_000]),
                    80,
                ),
            )
                .prop_map(|(lines, merge, steps)| {
                    let mut queues: [Vec<Frame>; 2] = [Vec::new(), Vec::new()];
                    let mut texts = Vec::new();
                    for (i, (err, len, cuts)) in lines.into_iter().enumerate() {
                        let stream = if err { Stream::Stderr } else { Stream::Stdout };
                        let text = format!("L{i}:{}", "x".repeat(len));
                        // Split points strictly inside the text, then its end.
                        let mut at: Vec<usize> = cuts
                            .into_iter()
                            .filter(|&c| c > 0 && c < text.len())
                            .collect();
                        at.sort_unstable();
                        at.dedup();
                        let mut from = 0;
                        for cut in at.into_iter().chain([text.len()]) {
                            queues[usize::from(err)].push(Frame {
                                stream,
                                ts_ns: 0,
                                text: text[from..cut].to_string(),
                                last: cut == text.len(),
                            });
                            from = cut;
                        }
                        texts.push((stream, text));
                    }
                    let mut frames = Vec::new();
                    let [out, err] = queues;
                    let (mut out, mut err) = (out.into_iter(), err.into_iter());
                    let mut merge = merge.into_iter();
                    loop {
                        let take_err = merge.next().unwrap_or(false);
                        let next = if take_err {
                            err.next().or_else(|| out.next())
                        } else {
                            out.next().or_else(|| err.next())
                        };
                        match next {
                            Some(f) => frames.push(f),
                            None => break,
                        }
                    }
                    let mut ts = 1_764_230_400_000_000_000i64; // 2025-11-27, a whole second
                    for (f, step) in frames.iter_mut().zip(steps.into_iter().cycle()) {
                        ts += step;
                        f.ts_ns = ts;
                    }
                    (texts, frames)
                })
        }

        fn payload(f: &Frame) -> Vec<u8> {
            format!(
                "{} {}{}",
                stamp(f.ts_ns),
                f.text,
                if f.last { "\n" } else { "" }
            )
            .into_bytes()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]
            #[test]
            fn cuts_anywhere_lose_and_split_nothing(
                (lines, frames) in log(),
                cuts in prop::collection::vec(0usize..80, 0..5),
            ) {
                let mut cuts: Vec<usize> = cuts.into_iter().filter(|&c| c < frames.len()).collect();
                cuts.sort_unstable();
                cuts.push(frames.len());
                let mut framer = Framer::new(None);
                let mut resume: Option<(i64, u32)> = None;
                let mut got: Vec<Line> = Vec::new();
                let mut from = 0;
                for cut in cuts {
                    for f in &frames[from..cut.max(from)] {
                        let mut out = Vec::new();
                        framer.push(f.stream, &payload(f), &mut out).unwrap();
                        if let Some(Cursor::Docker { ts_ns, seq }) = out.last().map(|l| l.end) {
                            resume = Some((ts_ns, seq));
                        }
                        got.extend(out);
                    }
                    // The connection is cut: attach again where the last line ended.
                    framer.reattach(resume);
                    let since = i64::from(Framer::since_secs(resume)) * 1_000_000_000;
                    from = frames.iter().position(|f| f.ts_ns >= since).unwrap_or(frames.len());
                    if cut == frames.len() {
                        break;
                    }
                }
                let mut by_start = std::collections::BTreeMap::new();
                let mut per_stream: [Vec<String>; 2] = [Vec::new(), Vec::new()];
                for l in &got {
                    let text = String::from_utf8(l.text().to_vec()).unwrap();
                    match by_start.entry(l.start.order_key()) {
                        std::collections::btree_map::Entry::Occupied(e) => {
                            prop_assert_eq!(e.get(), &(l.stream, text.clone()), "one start, two lines");
                        }
                        std::collections::btree_map::Entry::Vacant(e) => {
                            e.insert((l.stream, text.clone()));
                            per_stream[usize::from(l.stream == Stream::Stderr)].push(text);
                        }
                    }
                }
                for (i, stream) in [Stream::Stdout, Stream::Stderr].into_iter().enumerate() {
                    let want: Vec<&String> = lines.iter().filter(|(s, _)| *s == stream).map(|(_, t)| t).collect();
                    let have: Vec<&String> = per_stream[i].iter().collect();
                    prop_assert_eq!(have, want, "{:?}", stream);
                }
            }
        }
    }
}
