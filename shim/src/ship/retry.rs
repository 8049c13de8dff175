//! The HTTP sink's retry policy, as pure functions of what the endpoint answered: no I/O, no clock,
//! no randomness of its own (the caller passes the jitter), so every rule is table-tested.
//!
//! - `2xx`: delivered.
//! - `408`, `429`, `5xx`, timeouts and connection errors: retry the same batch (the same `findingId`s,
//!   so the receiver can de-duplicate) after a capped, jittered exponential backoff, or after the
//!   endpoint's `Retry-After` (seconds; capped too) when it gives one.
//! - `401`: re-read the token file once and retry at once; a second `401` rejects the batch.
//! - Any other status (other `4xx`, `3xx`: redirects are not followed): the batch is rejected, logged
//!   and counted; retrying a request the endpoint refuses would only block the findings behind it.
#![forbid(unsafe_code)]

use std::time::Duration;

/// First retry delay.
pub const BASE: Duration = Duration::from_millis(200);
/// Longest wait between two attempts, `Retry-After` included.
pub const CAP: Duration = Duration::from_secs(30);

/// What one attempt came back with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The endpoint answered with this status (and maybe a `Retry-After` in seconds).
    Status { code: u16, retry_after: Option<Duration> },
    /// No answer within the request timeout.
    Timeout,
    /// Connection refused or reset, DNS failure, TLS failure: the request may not have arrived.
    Network,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Delivered,
    /// Try again after the backoff, or after this when the endpoint said so.
    Retry {
        after: Option<Duration>,
    },
    /// Re-read the token and try once more.
    Reauthenticate,
    Reject,
}

/// The retry decision; `reauthenticated` says whether this batch already had its one token re-read.
pub fn decide(outcome: AttemptOutcome, reauthenticated: bool) -> Decision {
    match outcome {
        AttemptOutcome::Timeout | AttemptOutcome::Network => Decision::Retry { after: None },
        AttemptOutcome::Status { code, retry_after } => match code {
            200..=299 => Decision::Delivered,
            401 if !reauthenticated => Decision::Reauthenticate,
            408 | 429 | 500..=599 => Decision::Retry { after: retry_after.map(|d| d.min(CAP)) },
            _ => Decision::Reject,
        },
    }
}

/// `Retry-After` in delta-seconds; HTTP-dates are not parsed (the backoff applies instead).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(|s| Duration::from_secs(s).min(CAP))
}

/// The wait before retry number `attempt` (1 for the first retry): "equal jitter", half of the capped
/// exponential step fixed and half random, so retries spread out yet never come back at once.
/// `jitter` is uniform in `[0, 1)`. An endpoint's `Retry-After` wins over the computed delay.
pub fn delay(attempt: u32, jitter: f64, retry_after: Option<Duration>) -> Duration {
    if let Some(d) = retry_after {
        return d.min(CAP);
    }
    let step = BASE.saturating_mul(1u32 << attempt.saturating_sub(1).min(16)).min(CAP);
    let half = step / 2;
    half + half.mul_f64(jitter.clamp(0.0, 1.0))
}

/// A small non-cryptographic generator for jitter (SplitMix64), seeded from the clock and the pid.
pub struct Jitter(u64);

impl Jitter {
    pub fn new() -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Jitter(t ^ (u64::from(std::process::id()) << 32))
    }

    /// Uniform in `[0, 1)`.
    pub fn sample(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Default for Jitter {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> AttemptOutcome {
        AttemptOutcome::Status { code, retry_after: None }
    }

    #[test]
    fn decisions() {
        assert_eq!(decide(status(200), false), Decision::Delivered);
        assert_eq!(decide(status(202), false), Decision::Delivered);
        assert_eq!(decide(status(204), true), Decision::Delivered);
        for code in [408, 429, 500, 502, 503, 504, 599] {
            assert_eq!(decide(status(code), false), Decision::Retry { after: None }, "{code}");
        }
        for code in [301, 400, 403, 404, 405, 409, 413, 422] {
            assert_eq!(decide(status(code), false), Decision::Reject, "{code}");
        }
        assert_eq!(decide(status(401), false), Decision::Reauthenticate);
        assert_eq!(decide(status(401), true), Decision::Reject);
        assert_eq!(decide(AttemptOutcome::Timeout, false), Decision::Retry { after: None });
        assert_eq!(decide(AttemptOutcome::Network, true), Decision::Retry { after: None });
        let ra = AttemptOutcome::Status { code: 429, retry_after: Some(Duration::from_secs(2)) };
        assert_eq!(decide(ra, false), Decision::Retry { after: Some(Duration::from_secs(2)) });
        let long = AttemptOutcome::Status { code: 503, retry_after: Some(Duration::from_secs(3600)) };
        assert_eq!(decide(long, false), Decision::Retry { after: Some(CAP) });
    }

    #[test]
    fn retry_after_values() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("0"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("99999"), Some(CAP));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        assert_eq!(delay(1, 0.0, None), BASE / 2);
        assert_eq!(delay(1, 0.999_999, None).as_millis(), 199);
        assert_eq!(delay(2, 0.0, None), BASE);
        assert_eq!(delay(3, 0.0, None), BASE * 2);
        for attempt in [10, 20, 1000, u32::MAX] {
            let d = delay(attempt, 1.0, None);
            assert!(d <= CAP && d >= CAP / 2, "{attempt}: {d:?}");
        }
        assert_eq!(delay(5, 0.5, Some(Duration::from_secs(7))), Duration::from_secs(7));
        let mut j = Jitter::new();
        let xs: Vec<f64> = (0..1000).map(|_| j.sample()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((0.4..0.6).contains(&mean), "{mean}");
    }
}
