//! The hourly counts behind trends (`finding_hours`, written at ingest by [`super::placement`]): the
//! window's sums by hour and severity, hour and category, service and rule.
#![forbid(unsafe_code)]

use sqlx::Row as _;

use super::query::Param;
use super::{bind_all, q, StorageResult, Store};
use crate::trends::{build, Trend, Window, TOP_N};

impl Store {
    /// The trend of the window ending after `now_us`, for one service or all.
    pub async fn trend(&self, window: Window, service: Option<&str>, now_us: i64) -> StorageResult<Trend> {
        let (start, end) = window.bounds(now_us);
        let mut params = vec![Param::Int(start), Param::Int(end)];
        let mut cond = String::from(" WHERE hour >= $1 AND hour < $2");
        if let Some(s) = service {
            params.push(Param::Text(s.to_string()));
            cond.push_str(" AND service = $3");
        }
        let hours = |key: &str| {
            format!("SELECT hour, {key} AS k, CAST(SUM(n) AS BIGINT) AS n FROM finding_hours{cond} GROUP BY hour, {key}")
        };
        let top = |key: &str| {
            format!(
                "SELECT {key} AS k, CAST(SUM(n) AS BIGINT) AS n FROM finding_hours{cond} AND {key} <> '' \
                 GROUP BY {key} ORDER BY n DESC, k LIMIT {TOP_N}"
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
