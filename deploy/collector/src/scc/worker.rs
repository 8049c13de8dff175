//! The export loop: every `poll_ms`, the due outbox rows (publishes first, at most [`BATCH`]), each
//! sent by the [`super::client`] on the blocking pool, then deleted, rescheduled or marked given up.
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::Duration;

use super::client::{Client, PublishOutcome};
use super::SccConfig;
use crate::model;
use crate::storage::Store;

/// Rows taken per round.
pub const BATCH: i64 = 50;
/// The longest wait between two attempts of one row.
pub const MAX_BACKOFF_MS: u64 = 3_600_000;

/// Delay before attempt `attempts + 1`: `base * 2^attempts`, capped, with up to a quarter of jitter
/// (`jitter` in 0..1000 from the caller, so this stays pure).
pub fn backoff_ms(base_ms: u64, attempts: u32, jitter: u64) -> u64 {
    let d = base_ms.saturating_mul(1u64 << attempts.min(30)).min(MAX_BACKOFF_MS);
    d + d / 4 * jitter.min(999) / 1000
}

pub async fn run(store: Store, cfg: SccConfig) {
    let client = Arc::new(Client::new(cfg.clone()));
    let mut tick = tokio::time::interval(Duration::from_millis(cfg.poll_ms));
    loop {
        tick.tick().await;
        let due = match store.scc_due(model::now_us(), BATCH).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "scc export: reading the outbox failed");
                continue;
            }
        };
        for row in due {
            let c = client.clone();
            let r = row.clone();
            let outcome = tokio::task::spawn_blocking(move || match r.kind.as_str() {
                // A finding muted (or triaged) before it was published gets its state right after.
                "publish" => match c.publish(&serde_json::from_str(&r.body).unwrap_or_default()) {
                    PublishOutcome::Done if r.state != "ACTIVE" => c.set_state(&r.finding_id, &r.state),
                    other => other,
                },
                _ => c.set_state(&r.finding_id, &r.state),
            })
            .await
            .unwrap_or_else(|e| PublishOutcome::Retry(format!("export task: {e}")));
            let now = model::now_us();
            let done = match &outcome {
                PublishOutcome::Done => store.scc_done(&row.finding_id, &row.kind).await,
                PublishOutcome::Retry(why) => {
                    let jitter = u64::try_from(now.rem_euclid(1000)).unwrap_or(0);
                    let wait = backoff_ms(cfg.retry_base_ms, row.attempts, jitter);
                    tracing::warn!(finding = %row.finding_id, kind = %row.kind, attempts = row.attempts + 1, error = %why, "scc export: retrying");
                    store
                        .scc_retry(
                            &row.finding_id,
                            &row.kind,
                            now + i64::try_from(wait).unwrap_or(0) * 1000,
                            why,
                        )
                        .await
                }
                PublishOutcome::GiveUp(why) => {
                    tracing::error!(finding = %row.finding_id, kind = %row.kind, error = %why, "scc export: given up");
                    store.scc_retry(&row.finding_id, &row.kind, i64::MAX, &format!("given up: {why}")).await
                }
            };
            if let Err(e) = done {
                tracing::error!(error = %e, "scc export: updating the outbox failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_ms(1000, 0, 0), 1000);
        assert_eq!(backoff_ms(1000, 3, 0), 8000);
        assert_eq!(backoff_ms(1000, 3, 999), 8000 + 1998);
        assert_eq!(backoff_ms(1000, 40, 0), MAX_BACKOFF_MS);
    }
}
