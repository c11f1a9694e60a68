//! Reading times cheaply: Docker's RFC 3339 frame timestamps, and the time a
//! record was logged (loguru's `2026-11-27 08:01:50.392 | …` at the start of
//! a line, or `{"ts": "…"` in Open WebUI's JSON logs), read as UTC.
//!
//! These shapes are fixed, so they are read digit by digit instead of through
//! a format string (chrono's `parse_from_str` was 15 % of `test-rules` over a
//! DEBUG log). Anything the fast path does not know, chrono reads, so the
//! result is always chrono's: the tests compare the two on every fixture and
//! on generated times.

use chrono::{DateTime, NaiveDate, Utc};

/// A time in RFC 3339 form: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (a
/// space may stand for the `T`), or with a `T` and no zone (then UTC).
pub fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    fast_rfc3339(s.as_bytes()).or_else(|| slow_rfc3339(s))
}

/// When the record starting with `text` was logged, if it says.
pub fn log_time(text: &str) -> Option<DateTime<Utc>> {
    // Open WebUI's JSON logs (`LOG_FORMAT=json`): {"ts": "2026-07-28T09:15:02.481+00:00", …}
    if let Some(rest) = text.strip_prefix("{\"ts\": \"") {
        let end = memchr::memchr(b'"', rest.as_bytes())?;
        return parse_rfc3339(&rest[..end]);
    }
    // loguru: exactly `YYYY-MM-DD HH:MM:SS.mmm` then anything.
    let head = text.as_bytes().get(..23)?;
    if head[19] != b'.' {
        return None;
    }
    let millis = digits(&head[20..23])?;
    match fast_seconds(&head[..19], b' ') {
        Some(base) => base.checked_add_signed(chrono::Duration::milliseconds(i64::from(millis))),
        // Out of range, or a leap second: chrono decides.
        None => std::str::from_utf8(head).ok().and_then(|h| {
            chrono::NaiveDateTime::parse_from_str(h, "%Y-%m-%d %H:%M:%S%.3f")
                .ok()
                .map(|t| t.and_utc())
        }),
    }
}

/// `YYYY-MM-DD?HH:MM:SS` with `sep` for `?`, as UTC.
fn fast_seconds(b: &[u8], sep: u8) -> Option<DateTime<Utc>> {
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != sep
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let min = digits(&b[14..16])?;
    let sec = digits(&b[17..19])?;
    // A leap second (60) is left to chrono.
    NaiveDate::from_ymd_opt(year as i32, month, day)?
        .and_hms_opt(hour, min, sec)
        .map(|t| t.and_utc())
}

fn fast_rfc3339(b: &[u8]) -> Option<DateTime<Utc>> {
    let sep = *b.get(10)?;
    if sep != b'T' && sep != b' ' {
        return None;
    }
    let mut t = fast_seconds(b.get(..19)?, sep)?;
    let mut rest = &b[19..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        let nanos = digits(&frac[..n])? * 10u32.pow(9 - n as u32);
        t = t.checked_add_signed(chrono::Duration::nanoseconds(i64::from(nanos)))?;
        rest = &frac[n..];
    }
    let offset_secs = match rest {
        [] if sep == b'T' => 0,
        [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let h = digits(&[*h1, *h2])?;
            let m = digits(&[*m1, *m2])?;
            if h > 23 || m > 59 {
                return None;
            }
            let secs = i64::from(h * 3600 + m * 60);
            if *sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return None,
    };
    t.checked_sub_signed(chrono::Duration::seconds(offset_secs))
}

/// What the fast path does not take: leap seconds, other spellings.
fn slow_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f")
                .map(|t| t.and_utc())
        })
        .ok()
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference: what chrono reads (the code before the fast path).
    fn chrono_log_time(text: &str) -> Option<DateTime<Utc>> {
        if let Some(rest) = text.strip_prefix("{\"ts\": \"") {
            let end = rest.find('"')?;
            return slow_rfc3339(&rest[..end]);
        }
        let head = text.get(..23)?;
        chrono::NaiveDateTime::parse_from_str(head, "%Y-%m-%d %H:%M:%S%.3f")
            .ok()
            .map(|t| t.and_utc())
    }

    #[test]
    fn same_as_chrono_on_every_fixture_line() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/logs");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for line in text.lines() {
                assert_eq!(log_time(line), chrono_log_time(line), "{line}");
                seen += usize::from(log_time(line).is_some());
            }
        }
        assert!(seen > 500, "{seen} timed lines");
    }

    #[test]
    fn same_as_chrono_on_generated_times() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let zones = [
            "Z", "z", "+00:00", "-07:30", "+05:45", "", "+24:00", "+01:60", "Zx",
        ];
        for _ in 0..50_000 {
            // Mostly valid, sometimes out of range (month 13, day 31 in June, hour 24…).
            let (y, mo, d) = (1970 + next(100), 1 + next(13), 1 + next(31));
            let (h, mi, s) = (next(25), next(61), next(62));
            let frac = match next(4) {
                0 => String::new(),
                1 => format!(".{:03}", next(1000)),
                2 => format!(".{:09}", next(1_000_000_000)),
                _ => format!(".{}", next(100_000)),
            };
            let zone = zones[next(zones.len() as u64) as usize];
            let sep = if next(5) == 0 { ' ' } else { 'T' };
            let ts = format!("{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}{frac}{zone}");
            let want = slow_rfc3339(&ts);
            assert_eq!(parse_rfc3339(&ts), want, "{ts}");
            let loguru = format!(
                "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{:03} | INFO | x",
                next(1000)
            );
            assert_eq!(log_time(&loguru), chrono_log_time(&loguru), "{loguru}");
            let json = format!("{{\"ts\": \"{ts}\", \"level\": \"info\"}}");
            assert_eq!(log_time(&json), chrono_log_time(&json), "{json}");
        }
    }

    #[test]
    fn the_shapes_we_read() {
        let t = log_time("2026-11-27 08:01:50.392 | INFO | x").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-27T08:01:50.392+00:00");
        assert!(log_time("INFO  [alembic]").is_none());
        assert!(log_time("2026-11-27 08:01:50 | x").is_none());
        let json = log_time(r#"{"ts": "2026-07-28T09:15:02.481+00:00", "level": "info"}"#);
        assert_eq!(
            json,
            log_time(r#"{"ts": "2026-07-28T09:15:02.481Z", "level": "info"}"#)
        );
        assert_eq!(
            parse_rfc3339("2026-11-27T08:01:50.392123456Z")
                .unwrap()
                .timestamp_nanos_opt(),
            Some(1_795_766_510_392_123_456)
        );
        assert_eq!(
            parse_rfc3339("2026-11-27T09:01:50+01:00"),
            parse_rfc3339("2026-11-27T08:01:50Z")
        );
        assert!(
            parse_rfc3339("2016-12-31T23:59:60Z").is_some(),
            "leap second, by chrono"
        );
    }
}
