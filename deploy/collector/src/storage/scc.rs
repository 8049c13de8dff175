//! The Security Command Center outbox (`scc_outbox`): rows written in the transaction of the change
//! they export (a stored finding, a state change), read back by [`crate::scc::worker`].
#![forbid(unsafe_code)]

use sqlx::{AnyConnection, Row as _};

use super::{q, settled, StorageResult, Store};

/// A due row with what sending it needs: the finding as received and its triage state now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub finding_id: String,
    pub kind: String,
    pub attempts: u32,
    pub body: String,
    pub state: String,
}

const ENQUEUE: &str = "INSERT INTO scc_outbox (finding_id, kind, due_at, attempts) VALUES ($1, $2, $3, 0) \
     ON CONFLICT (finding_id, kind) DO UPDATE SET due_at = excluded.due_at, attempts = 0, last_error = NULL";

pub(super) async fn enqueue(
    conn: &mut AnyConnection,
    finding_id: &str,
    kind: &str,
    now_us: i64,
) -> StorageResult<()> {
    sqlx::query(ENQUEUE)
        .bind(finding_id.to_string())
        .bind(kind.to_string())
        .bind(now_us)
        .execute(&mut *conn)
        .await
        .map_err(q("scc enqueue"))?;
    Ok(())
}

impl Store {
    /// Turns the outbox on (when `COLLECTOR_SCC_SOURCE` is set): new findings are queued for export.
    pub fn with_scc_export(mut self) -> Store {
        self.scc_export = true;
        self
    }

    pub fn scc_export(&self) -> bool {
        self.scc_export
    }

    /// Queues state changes of findings for export.
    pub async fn scc_enqueue_states(&self, ids: &[String], now_us: i64) -> StorageResult<()> {
        let mut conn = self.write.acquire().await.map_err(q("acquire"))?;
        let r = self.scc_enqueue_states_on(&mut conn, ids, now_us).await;
        settled(conn, r)
    }

    async fn scc_enqueue_states_on(
        &self,
        conn: &mut AnyConnection,
        ids: &[String],
        now_us: i64,
    ) -> StorageResult<()> {
        let mut tx = sqlx::Connection::begin(conn).await.map_err(q("begin"))?;
        for id in ids {
            enqueue(&mut tx, id, "state", now_us).await?;
        }
        tx.commit().await.map_err(q("commit"))
    }

    /// Rows due at `now_us`, publishes first.
    pub async fn scc_due(&self, now_us: i64, limit: i64) -> StorageResult<Vec<OutboxRow>> {
        let rows = sqlx::query(
            "SELECT o.finding_id, o.kind, o.attempts, f.body, f.state FROM scc_outbox o \
             JOIN findings f ON f.finding_id = o.finding_id WHERE o.due_at <= $1 \
             ORDER BY CASE WHEN o.kind = 'publish' THEN 0 ELSE 1 END, o.due_at LIMIT $2",
        )
        .bind(now_us)
        .bind(limit)
        .fetch_all(&self.read)
        .await
        .map_err(q("scc due rows"))?;
        rows.iter()
            .map(|r| {
                Ok(OutboxRow {
                    finding_id: r.try_get("finding_id")?,
                    kind: r.try_get("kind")?,
                    attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
                    body: r.try_get("body")?,
                    state: r.try_get("state")?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(q("read scc row"))
    }

    pub async fn scc_done(&self, finding_id: &str, kind: &str) -> StorageResult<()> {
        sqlx::query("DELETE FROM scc_outbox WHERE finding_id = $1 AND kind = $2")
            .bind(finding_id.to_string())
            .bind(kind.to_string())
            .execute(&self.write)
            .await
            .map_err(q("scc done"))?;
        Ok(())
    }

    /// Another attempt at `due_us` (`i64::MAX`: given up), with the error kept.
    pub async fn scc_retry(
        &self,
        finding_id: &str,
        kind: &str,
        due_us: i64,
        error: &str,
    ) -> StorageResult<()> {
        sqlx::query("UPDATE scc_outbox SET due_at = $1, attempts = attempts + 1, last_error = $2 WHERE finding_id = $3 AND kind = $4")
            .bind(due_us)
            .bind(super::column_text(error))
            .bind(finding_id.to_string())
            .bind(kind.to_string())
            .execute(&self.write)
            .await
            .map_err(q("scc retry"))?;
        Ok(())
    }

    /// Rows waiting, and rows given up on.
    pub async fn scc_backlog(&self) -> StorageResult<(i64, i64)> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN due_at = 9223372036854775807 THEN 1 ELSE 0 END), 0) AS dead FROM scc_outbox",
        )
        .fetch_one(&self.read)
        .await
        .map_err(q("scc backlog"))?;
        Ok((
            r.try_get("n").map_err(q("scc backlog"))?,
            r.try_get::<i64, _>("dead").map_err(q("scc backlog"))?,
        ))
    }
}
