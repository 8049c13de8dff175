//! Storm control: a token bucket in front of the sinks. Past the burst, findings are not written one by
//! one but counted per category, and one summary finding per category says how many were held back
//! ("N more findings of this category were rate limited"), so a storm never floods Cloud Logging and
//! is never silently dropped. De-duplication (`dedup`) runs first: this only sees distinct findings.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use runwarden_contract::{Finding, Severity};

/// Findings written per second once the burst is spent.
pub const RATE_PER_SECOND: f64 = 20.0;
/// Findings written at once before the rate applies.
pub const BURST: f64 = 200.0;
/// How often the held-back counts are summarised.
pub const SUMMARY_INTERVAL: Duration = Duration::from_secs(10);

struct Held {
    first: Finding,
    count: u64,
}

pub struct RateLimit {
    tokens: f64,
    last: Instant,
    held: BTreeMap<String, Held>,
    last_summary: Instant,
    pub limited: u64,
}

impl RateLimit {
    pub fn new(now: Instant) -> Self {
        RateLimit { tokens: BURST, last: now, held: BTreeMap::new(), last_summary: now, limited: 0 }
    }

    /// The finding if it may be written now; otherwise it is counted for the next summary.
    pub fn admit(&mut self, f: Finding, now: Instant) -> Option<Finding> {
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * RATE_PER_SECOND).min(BURST);
        self.last = now;
        // HIGH and CRITICAL findings are never held back: a storm of low ones must not delay them.
        if self.tokens >= 1.0 || f.severity >= Severity::High {
            self.tokens = (self.tokens - 1.0).max(0.0);
            return Some(f);
        }
        self.limited += 1;
        self.held.entry(f.category.clone()).or_insert_with(|| Held { first: f, count: 0 }).count += 1;
        None
    }

    /// One summary finding per category held back since the last summary (all of them when `force`).
    pub fn summaries(&mut self, now: Instant, force: bool) -> Vec<Finding> {
        if !force && now.duration_since(self.last_summary) < SUMMARY_INTERVAL {
            return Vec::new();
        }
        self.last_summary = now;
        std::mem::take(&mut self.held)
            .into_values()
            .map(|h| {
                let mut s = h.first;
                s.finding_id = uuid::Uuid::now_v7().to_string();
                s.create_time = crate::events::rfc3339::format(std::time::SystemTime::now());
                s.description = format!(
                    "{} more findings of this category were rate limited (over {RATE_PER_SECOND}/s); the first: {}",
                    h.count, s.description
                );
                if let serde_json::Value::Object(m) = &mut s.source_properties {
                    m.insert("rateLimited".into(), h.count.into());
                }
                s
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(category: &str, n: usize) -> Finding {
        let mut f = crate::ship::sample_finding("r", category);
        f.description = format!("event {n}");
        f
    }

    #[test]
    fn a_storm_is_summarised_not_dropped() {
        let t0 = Instant::now();
        let mut rl = RateLimit::new(t0);
        let mut written = 0;
        for i in 0..10_000 {
            let cat = if i % 2 == 0 { "A" } else { "B" };
            if rl.admit(finding(cat, i), t0).is_some() {
                written += 1;
            }
        }
        assert_eq!(written, BURST as usize);
        let sums = rl.summaries(t0, true);
        assert_eq!(sums.len(), 2);
        let total: u64 = sums.iter().map(|s| s.source_properties["rateLimited"].as_u64().unwrap()).sum();
        assert_eq!(total + written as u64, 10_000, "every finding is written or counted");
        // Severe findings are never held back, even with the bucket empty.
        let mut critical = finding("C", 1);
        critical.severity = Severity::Critical;
        assert!(rl.admit(critical, t0).is_some());
        // The bucket refills.
        assert!(rl.admit(finding("A", 0), t0 + Duration::from_secs(1)).is_some());
        assert!(rl.summaries(t0 + Duration::from_secs(1), false).is_empty(), "nothing held, nothing to say");
    }
}
