//! Retry policy shared by the sinks: what an HTTP answer means (deliver,
//! retry later, give up) and how long to wait (spec §3: 1 s doubling to
//! 10 min, with jitter, honouring `Retry-After`).

use std::time::Duration;

use rand::Rng;

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// Transient: try again, not before `after` when the receiver said so.
    RetryLater {
        after: Option<Duration>,
        reason: String,
    },
    /// Permanent: retrying cannot help; the event becomes a dead letter.
    Reject {
        reason: String,
    },
}

impl Delivery {
    /// The same outcome with its reason passed through `f` (to scrub secrets).
    pub fn map_reason(self, f: impl FnOnce(String) -> String) -> Delivery {
        match self {
            Delivery::Delivered => Delivery::Delivered,
            Delivery::RetryLater { after, reason } => Delivery::RetryLater {
                after,
                reason: f(reason),
            },
            Delivery::Reject { reason } => Delivery::Reject { reason: f(reason) },
        }
    }
}

pub const FIRST_DELAY: Duration = Duration::from_secs(1);
pub const MAX_DELAY: Duration = Duration::from_secs(600);

/// Spec §3: 2xx delivered; 408, 425, 429 and 5xx retried; other answers permanent.
pub fn classify(status: u16, retry_after: Option<Duration>, detail: &str) -> Delivery {
    let reason = if detail.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {detail}")
    };
    match status {
        200..=299 => Delivery::Delivered,
        408 | 425 | 429 | 500..=599 => Delivery::RetryLater { after: retry_after, reason },
        300..=399 => Delivery::Reject { reason: format!("{reason} (a redirect; set the URL to the final address, redirects are not followed)") },
        _ => Delivery::Reject { reason },
    }
}

/// `Retry-After` as seconds or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(86400.0)));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let d = when
        .signed_duration_since(chrono::Utc::now())
        .num_milliseconds();
    Some(Duration::from_millis(d.clamp(0, 86_400_000) as u64))
}

/// The wait before attempt `attempts + 1`: doubling from 1 s, capped at 10 min,
/// with "equal jitter" (half fixed, half random) so many bridges do not retry in step.
pub fn backoff(attempts: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(ra) = retry_after {
        return ra.max(Duration::from_millis(100));
    }
    let exp = FIRST_DELAY
        .saturating_mul(1u32 << attempts.min(20))
        .min(MAX_DELAY);
    let half = exp / 2;
    half + rand::thread_rng().gen_range(Duration::ZERO..=half)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(classify(204, None, ""), Delivery::Delivered);
        for s in [408, 425, 429, 500, 502, 503, 504] {
            assert!(
                matches!(classify(s, None, ""), Delivery::RetryLater { .. }),
                "{s}"
            );
        }
        for s in [301, 400, 401, 403, 404, 410, 413] {
            assert!(
                matches!(classify(s, None, ""), Delivery::Reject { .. }),
                "{s}"
            );
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        for attempts in 0..30 {
            let exp = FIRST_DELAY
                .saturating_mul(1u32 << attempts.min(20))
                .min(MAX_DELAY);
            let d = backoff(attempts, None);
            assert!(d >= exp / 2 && d <= exp, "attempt {attempts}: {d:?}");
        }
        assert_eq!(
            backoff(3, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("1.5"), Some(Duration::from_millis(1500)));
        assert!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT").is_some());
        assert_eq!(parse_retry_after("soon"), None);
    }
}
