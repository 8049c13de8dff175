//! Trends from the counts kept beside the findings (`finding_counts`, [`super::counts`]), read in the
//! window's own buckets (an hour, six hours or a day): the window's sums by bucket and severity, bucket
//! and category, service and rule. A window has at most 30 buckets, so this reads buckets times keys rows.
#![forbid(unsafe_code)]

use sqlx::Row as _;

use super::query::Param;
use super::{bind_all, q, StorageResult, Store};
use crate::trends::{build, Trend, Window, TOP_N};

impl Store {
    /// The trend of the window ending after `now_us`, for one service or all.
    pub async fn trend(&self, window: Window, service: Option<&str>, now_us: i64) -> StorageResult<Trend> {
        let (start, end) = window.bounds(now_us);
        let mut params = vec![Param::Int(window.bucket_us), Param::Int(start), Param::Int(end)];
        let mut cond = String::from(" WHERE span = $1 AND bucket >= $2 AND bucket < $3");
        if let Some(s) = service {
            params.push(Param::Text(s.to_string()));
            cond.push_str(" AND service = $4");
        }
        let hours = |key: &str| {
            format!(
                "SELECT bucket AS hour, {key} AS k, CAST(SUM(n) AS BIGINT) AS n FROM finding_counts{cond} \
                 GROUP BY bucket, {key}"
            )
        };
        let top = |key: &str| {
            format!(
                "SELECT {key} AS k, CAST(SUM(n) AS BIGINT) AS n FROM finding_counts{cond} AND {key} <> '' \
                 GROUP BY {key} HAVING SUM(n) > 0 ORDER BY n DESC, k LIMIT {TOP_N}"
            )
        };
        let (sev_sql, cat_sql, svc_sql, rule_sql) =
            (hours("severity"), hours("category"), top("service"), top("rule_id"));
        let (sev, cat, svc, rules) = tokio::try_join!(
            bind_all(sqlx::query(&sev_sql), &params).fetch_all(&self.read),
            bind_all(sqlx::query(&cat_sql), &params).fetch_all(&self.read),
            bind_all(sqlx::query(&svc_sql), &params).fetch_all(&self.read),
            bind_all(sqlx::query(&rule_sql), &params).fetch_all(&self.read),
        )
        .map_err(q("trend"))?;
        let triples =
            |rows: &[sqlx::any::AnyRow]| -> std::result::Result<Vec<(i64, String, i64)>, sqlx::Error> {
                rows.iter().map(|r| Ok((r.try_get("hour")?, r.try_get("k")?, r.try_get("n")?))).collect()
            };
        let pairs = |rows: &[sqlx::any::AnyRow]| -> std::result::Result<Vec<(String, i64)>, sqlx::Error> {
            rows.iter().map(|r| Ok((r.try_get("k")?, r.try_get("n")?))).collect()
        };
        let read = q("read trend row");
        let (sev, cat) =
            (triples(&sev).map_err(q("read trend row"))?, triples(&cat).map_err(q("read trend row"))?);
        let (svc, rules) = (pairs(&svc).map_err(q("read trend row"))?, pairs(&rules).map_err(read)?);
        Ok(build(window, start, &sev, &cat, svc, rules))
    }
}
