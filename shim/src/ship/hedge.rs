//! One delivery that routes around a stalled request: when the first attempt has not answered after
//! [`HEDGE_AFTER`], the same request is sent again (the caller makes each new attempt on a new
//! connection) and whichever answers first wins; at most [`MAX_ATTEMPTS`] are in flight, all within
//! the caller's time budget.
//!
//! Why: a connection can hang (a load balancer holding it, an instance frozen mid-request) while the
//! endpoint itself is fine. Waiting out the request timeout (10 s) on it would hold every finding
//! behind it, and at shutdown would spend the whole flush budget on one dead socket. Sending the same
//! batch again is safe: it carries the same findingIds and the collector keeps one copy of each.
//!
//! Why 2 s: the collector answers a batch in milliseconds (docs/PERFORMANCE.md), Cloud Logging's and
//! webhook endpoints in well under a second; a Cloud Run endpoint starting from zero takes one to a few
//! seconds, for which a second attempt costs one request more and is dropped as a duplicate. Sooner
//! would double the requests of every slow-but-healthy endpoint; later would leave a finding waiting
//! longer than an analyst notices.
//!
//! A losing attempt keeps its thread until its own timeout ends it; its answer is dropped.
#![forbid(unsafe_code)]

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long an attempt may stay unanswered before the same request is sent again.
pub const HEDGE_AFTER: Duration = Duration::from_secs(2);
/// Attempts of one delivery at most (the first and two more).
pub const MAX_ATTEMPTS: usize = 3;
/// No new attempt starts with less of the budget left than this.
const MIN_HEDGE_TIME: Duration = Duration::from_millis(250);

/// Runs `attempt(0)`, then `attempt(1)`, ... every `hedge_after` while none has answered, up to `max`
/// attempts, each on its own thread; returns the first answer, with the number of the attempt that
/// gave it, or `None` when nothing answered within `budget`.
pub fn first_answer<T, F>(
    budget: Duration,
    hedge_after: Duration,
    max: usize,
    attempt: F,
) -> Option<(usize, T)>
where
    T: Send + 'static,
    F: Fn(usize) -> T + Send + Sync + 'static,
{
    let attempt = Arc::new(attempt);
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    let mut started = 0;
    loop {
        let left = budget.saturating_sub(start.elapsed());
        if left.is_zero() {
            return None;
        }
        // A hedge with almost no time left would only answer after the caller gave up.
        if started == 0 || (started < max && left >= MIN_HEDGE_TIME) {
            let (tx, attempt, n) = (tx.clone(), attempt.clone(), started);
            let spawned = std::thread::Builder::new().name("rw-http-attempt".into()).spawn(move || {
                let _ = tx.send((n, attempt(n)));
            });
            match spawned {
                Ok(_) => started += 1,
                // No thread for another attempt: the ones in flight are all there is.
                Err(_) if started > 0 => started = max,
                Err(_) => return None,
            }
        }
        let wait = if started < max { left.min(hedge_after) } else { left };
        let wait = if left.saturating_sub(wait) < MIN_HEDGE_TIME { left } else { wait };
        match rx.recv_timeout(wait) {
            Ok(answer) => return Some(answer),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_prompt_answer_sends_nothing_more() {
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = count.clone();
        let got = first_answer(MS * 5000, MS * 200, 3, move |n| {
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            n
        });
        assert_eq!(got, Some((0, 0)));
        std::thread::sleep(MS * 300);
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn a_stalled_first_attempt_is_overtaken() {
        // The first attempt hangs for 5 s; the second answers at once.
        let got = first_answer(MS * 4000, MS * 50, 3, |n| {
            if n == 0 {
                std::thread::sleep(MS * 5000);
            }
            n
        });
        assert_eq!(got, Some((1, 1)));
    }

    #[test]
    fn no_attempt_starts_after_the_budget() {
        // The budget ends before the first hedge is due: one attempt only, even after the timeout.
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = count.clone();
        let got = first_answer(MS * 100, MS * 2000, 3, move |_| {
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::thread::sleep(MS * 300);
        });
        assert!(got.is_none());
        std::thread::sleep(MS * 400);
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn nothing_within_the_budget_is_none_and_attempts_are_capped() {
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = count.clone();
        let start = Instant::now();
        let got = first_answer(MS * 1000, MS * 50, 3, move |_| {
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::thread::sleep(MS * 5000);
        });
        assert!(got.is_none());
        assert!(start.elapsed() < MS * 3000, "{:?}", start.elapsed());
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 3);
    }
}
