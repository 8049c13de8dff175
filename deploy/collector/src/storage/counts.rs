//! Counts of findings kept beside them (`finding_counts`, migration 0006): per bucket of an hour, six
//! hours and a day, service, severity, category, rule and triage state. Written in the transaction that
//! changes what they count (ingest, a state change, retention), so they always equal a count over
//! `findings`; read by the findings list (its total and its counts by severity and category) and by the
//! trends, which then cost a number of rows that grows with buckets and keys, not with findings.
//!
//! A time range that does not fall on bucket boundaries is counted from days, then hours at its ends,
//! then the findings themselves for the parts of hours at its ends (at most two hours of findings).
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashMap};

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};

use super::query::{FindingFilter, Param};
use super::{bind_all, column_text, q, FindingCounts, StorageResult, Store, HOUR_US};
use crate::model::StoredFinding;

pub const SIX_HOURS_US: i64 = 6 * HOUR_US;
pub const DAY_US: i64 = 24 * HOUR_US;
/// The bucket lengths kept (the trend windows' buckets: see [`crate::trends::WINDOWS`]).
pub const SPANS: [i64; 3] = [HOUR_US, SIX_HOURS_US, DAY_US];

/// The start of the bucket of length `span` that holds `t`.
pub fn floor_to(t: i64, span: i64) -> i64 {
    t - t.rem_euclid(span)
}

fn ceil_to(t: i64, span: i64) -> i64 {
    let f = floor_to(t, span);
    if f == t {
        t
    } else {
        f.saturating_add(span)
    }
}

/// Binds a counts row's identity (span, bucket, then the key's five columns) in column order.
fn bind_row<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    span: i64,
    bucket: i64,
    k: &Key,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(span)
        .bind(bucket)
        .bind(k.service.clone())
        .bind(k.severity.clone())
        .bind(k.category.clone())
        .bind(k.rule_id.clone())
        .bind(k.state.clone())
}

/// What is counted of one finding (columns as stored, `''` for no service or rule).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Key {
    pub(super) service: String,
    pub(super) severity: String,
    pub(super) category: String,
    pub(super) rule_id: String,
    pub(super) state: String,
}

/// Findings to add (or, negative, remove) at an event time.
pub(super) type Delta = (i64, Key, i64);

impl Key {
    pub(super) fn of(f: &StoredFinding, state: &str) -> Key {
        Key {
            service: column_text(f.resource.service.as_deref().unwrap_or_default()),
            severity: f.severity.as_str().to_string(),
            category: column_text(&f.category),
            rule_id: column_text(f.rule_id.as_deref().unwrap_or_default()),
            state: state.to_string(),
        }
    }

    /// From a findings row with `service`, `severity`, `category`, `rule_id` and `state`.
    pub(super) fn of_row(r: &AnyRow, state: Option<&str>) -> std::result::Result<Key, sqlx::Error> {
        Ok(Key {
            service: r.try_get::<Option<String>, _>("service")?.unwrap_or_default(),
            severity: r.try_get("severity")?,
            category: r.try_get("category")?,
            rule_id: r.try_get::<Option<String>, _>("rule_id")?.unwrap_or_default(),
            state: match state {
                Some(s) => s.to_string(),
                None => r.try_get("state")?,
            },
        })
    }
}

/// The columns [`Key::of_row`] reads, with `event_time`.
pub(super) const KEY_COLUMNS: &str = "event_time, service, severity, category, rule_id";

const UPSERT_HEAD: &str =
    "INSERT INTO finding_counts (span, bucket, service, severity, category, rule_id, state, n) VALUES ";
const UPSERT_TAIL: &str = " ON CONFLICT (span, bucket, service, severity, category, rule_id, state) \
     DO UPDATE SET n = finding_counts.n + excluded.n";
/// Rows per statement (8 parameters each: well under SQLite's and PostgreSQL's limits).
const ROWS_PER_STATEMENT: usize = 500;

/// Adds the deltas to every span's buckets.
pub(super) async fn apply(conn: &mut AnyConnection, deltas: &[Delta]) -> StorageResult<()> {
    apply_in(conn, deltas, &SPANS).await
}

/// Adds the deltas to the buckets of `spans`: summed per row first, then written in key order (so
/// concurrent writers on PostgreSQL lock rows in one order), a few hundred rows per statement. Rows
/// brought to zero are removed.
async fn apply_in(conn: &mut AnyConnection, deltas: &[Delta], spans: &[i64]) -> StorageResult<()> {
    let mut rows: BTreeMap<(i64, i64, &Key), i64> = BTreeMap::new();
    for (t, key, n) in deltas {
        for &span in spans {
            *rows.entry((span, floor_to(*t, span), key)).or_default() += n;
        }
    }
    rows.retain(|_, n| *n != 0);
    if rows.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = rows.into_iter().collect();
    let mut decreased = false;
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let b = i * 8;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8
                )
            })
            .collect();
        let sql = format!("{UPSERT_HEAD}{}{UPSERT_TAIL}", values.join(", "));
        let mut query = sqlx::query(&sql);
        for ((span, bucket, k), n) in chunk {
            decreased |= *n < 0;
            query = bind_row(query, *span, *bucket, k).bind(*n);
        }
        query.execute(&mut *conn).await.map_err(q("count findings"))?;
    }
    if decreased {
        // Only rows that were decreased can have reached zero: remove them by key, a statement per row
        // (state changes and retention, not ingest).
        for ((span, bucket, k), _) in rows.iter().filter(|(_, n)| *n < 0) {
            let delete = sqlx::query(
                "DELETE FROM finding_counts WHERE span = $1 AND bucket = $2 AND service = $3 AND severity = $4 \
                 AND category = $5 AND rule_id = $6 AND state = $7 AND n <= 0",
            );
            bind_row(delete, *span, *bucket, k).execute(&mut *conn).await.map_err(q("drop empty counts"))?;
        }
    }
    Ok(())
}

/// New findings, counted in their state as stored.
pub(super) fn ingested(accepted: &[(&StoredFinding, &str)]) -> Vec<Delta> {
    accepted.iter().map(|(f, state)| (f.event_time_us, Key::of(f, state), 1)).collect()
}

/// Whether the counts can answer for `filter`: they hold service, severity, category, state and time,
/// not revision, instance or text.
pub fn answers(filter: &FindingFilter) -> bool {
    filter.revision.is_none() && filter.instance.is_none() && filter.text.is_none()
}

/// A half-open range of bucket starts in one span (`None`: unbounded on that side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketRange {
    pub span: i64,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// How `[since, until)` is counted: ranges of whole buckets, and the ranges of event time (at most two,
/// each under an hour) left to count from the findings. Pure: table-tested below.
pub fn cover(since: Option<i64>, until: Option<i64>) -> (Vec<BucketRange>, Vec<(i64, i64)>) {
    let mut buckets = Vec::new();
    let mut edges = Vec::new();
    if let (Some(lo), Some(hi)) = (since, until) {
        if lo >= hi {
            return (buckets, edges);
        }
    }
    let lo_h = since.map(|t| ceil_to(t, HOUR_US));
    let hi_h = until.map(|t| floor_to(t, HOUR_US));
    if let (Some(lo), Some(hi), Some(a), Some(b)) = (since, until, lo_h, hi_h) {
        if a >= b {
            edges.push((lo, hi));
            return (buckets, edges);
        }
    }
    if let (Some(lo), Some(a)) = (since, lo_h) {
        if lo < a {
            edges.push((lo, a));
        }
    }
    if let (Some(hi), Some(b)) = (until, hi_h) {
        if b < hi {
            edges.push((b, hi));
        }
    }
    let lo_d = lo_h.map(|t| ceil_to(t, DAY_US));
    let hi_d = hi_h.map(|t| floor_to(t, DAY_US));
    if let (Some(a), Some(b), Some(c), Some(d)) = (lo_h, hi_h, lo_d, hi_d) {
        if c >= d {
            buckets.push(BucketRange { span: HOUR_US, from: Some(a), to: Some(b) });
            return (buckets, edges);
        }
    }
    buckets.push(BucketRange { span: DAY_US, from: lo_d, to: hi_d });
    if let (Some(a), Some(c)) = (lo_h, lo_d) {
        if a < c {
            buckets.push(BucketRange { span: HOUR_US, from: Some(a), to: Some(c) });
        }
    }
    if let (Some(b), Some(d)) = (hi_h, hi_d) {
        if d < b {
            buckets.push(BucketRange { span: HOUR_US, from: Some(d), to: Some(b) });
        }
    }
    (buckets, edges)
}

/// The filter's conditions on the counts' own columns (service, severity, category, state).
fn key_conditions(filter: &FindingFilter, params: &mut Vec<Param>) -> Vec<String> {
    let mut conds = Vec::new();
    let mut any = |col: &str, values: Vec<String>, params: &mut Vec<Param>| {
        if values.is_empty() {
            return;
        }
        let ph: Vec<String> = values
            .into_iter()
            .map(|v| {
                params.push(Param::Text(v));
                format!("${}", params.len())
            })
            .collect();
        conds.push(format!("{col} IN ({})", ph.join(", ")));
    };
    any("category", filter.categories.clone(), params);
    any("severity", filter.severities.iter().map(|s| s.as_str().to_string()).collect(), params);
    any("service", filter.service.iter().cloned().collect(), params);
    any("state", filter.states.clone(), params);
    conds
}

fn add_pairs(
    rows: &[AnyRow],
    into: &mut HashMap<(String, String), i64>,
) -> std::result::Result<(), sqlx::Error> {
    for r in rows {
        let k = (r.try_get::<String, _>("category")?, r.try_get::<String, _>("severity")?);
        *into.entry(k).or_default() += r.try_get::<i64, _>("n")?;
    }
    Ok(())
}

/// Sums per key, largest first, then by name; keys with no findings left out.
fn ranked(map: HashMap<String, i64>) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = map.into_iter().filter(|(_, n)| *n > 0).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

impl Store {
    /// Findings per (category, severity) matching `filter` (which [`answers`] must accept), from the
    /// counts and the findings at the range's ends.
    async fn counted_pairs(&self, filter: &FindingFilter) -> StorageResult<HashMap<(String, String), i64>> {
        let (buckets, edges) = cover(filter.since_us, filter.until_us);
        let mut pairs: HashMap<(String, String), i64> = HashMap::new();
        if !buckets.is_empty() {
            let mut params = Vec::new();
            let mut ranges = Vec::new();
            for r in &buckets {
                params.push(Param::Int(r.span));
                let mut c = format!("(span = ${}", params.len());
                if let Some(f) = r.from {
                    params.push(Param::Int(f));
                    c.push_str(&format!(" AND bucket >= ${}", params.len()));
                }
                if let Some(t) = r.to {
                    params.push(Param::Int(t));
                    c.push_str(&format!(" AND bucket < ${}", params.len()));
                }
                c.push(')');
                ranges.push(c);
            }
            let mut conds = vec![format!("({})", ranges.join(" OR "))];
            conds.extend(key_conditions(filter, &mut params));
            let sql = format!(
                "SELECT category, severity, CAST(SUM(n) AS BIGINT) AS n FROM finding_counts WHERE {} \
                 GROUP BY category, severity",
                conds.join(" AND ")
            );
            let rows = bind_all(sqlx::query(&sql), &params)
                .fetch_all(&self.read)
                .await
                .map_err(q("read finding counts"))?;
            add_pairs(&rows, &mut pairs).map_err(q("read finding count"))?;
        }
        for (lo, hi) in edges {
            let edge = FindingFilter { since_us: Some(lo), until_us: Some(hi), ..filter.clone() };
            let rows = self.count_findings(&edge).await?;
            add_pairs(&rows, &mut pairs).map_err(q("read finding count"))?;
        }
        Ok(pairs)
    }

    /// Findings per (category, severity) counted over `findings` itself.
    async fn count_findings(&self, filter: &FindingFilter) -> StorageResult<Vec<AnyRow>> {
        let (cond, params) = filter.where_clause(1);
        let sql = format!(
            "SELECT category, severity, COUNT(*) AS n FROM findings{cond} GROUP BY category, severity"
        );
        bind_all(sqlx::query(&sql), &params).fetch_all(&self.read).await.map_err(q("count findings"))
    }

    /// How many findings match `filter`.
    pub(super) async fn total(&self, filter: &FindingFilter) -> StorageResult<i64> {
        if answers(filter) {
            return Ok(self.counted_pairs(filter).await?.values().sum());
        }
        let (cond, params) = filter.where_clause(1);
        bind_all(sqlx::query(&format!("SELECT COUNT(*) AS n FROM findings{cond}")), &params)
            .fetch_one(&self.read)
            .await
            .and_then(|r| r.try_get("n"))
            .map_err(q("count findings"))
    }

    /// Findings per category and per severity for a filter.
    pub async fn counts(&self, filter: &FindingFilter) -> StorageResult<FindingCounts> {
        let pairs = if answers(filter) {
            self.counted_pairs(filter).await?
        } else {
            let mut pairs = HashMap::new();
            add_pairs(&self.count_findings(filter).await?, &mut pairs).map_err(q("read count"))?;
            pairs
        };
        let (mut by_category, mut by_severity) = (HashMap::new(), HashMap::new());
        for ((c, s), n) in pairs {
            *by_category.entry(c).or_default() += n;
            *by_severity.entry(s).or_default() += n;
        }
        let by_severity = ranked(by_severity);
        let total = by_severity.iter().map(|(_, n)| n).sum();
        Ok(FindingCounts { total, by_category: ranked(by_category), by_severity })
    }

    /// Every category stored (for the filter form's list).
    pub async fn categories(&self) -> StorageResult<Vec<String>> {
        let rows =
            sqlx::query("SELECT DISTINCT category FROM finding_counts WHERE span = $1 ORDER BY category")
                .bind(DAY_US)
                .fetch_all(&self.read)
                .await
                .map_err(q("list categories"))?;
        rows.iter()
            .map(|r| r.try_get("category"))
            .collect::<std::result::Result<_, _>>()
            .map_err(q("read category"))
    }
}

/// Deletes the findings with an event before `before_us` and what counts them, in one transaction: the
/// buckets that end by then go whole; the findings in the part of a bucket before it (since the start of
/// its day) are deleted one by one and taken off their buckets' counts. Returns the findings deleted.
pub(super) async fn purge_findings(conn: &mut AnyConnection, before_us: i64) -> StorageResult<u64> {
    let mut tx = sqlx::Connection::begin(conn).await.map_err(q("begin"))?;
    let day = floor_to(before_us, DAY_US);
    let rows = sqlx::query(&format!(
        "DELETE FROM findings WHERE event_time >= $1 AND event_time < $2 RETURNING {KEY_COLUMNS}, state"
    ))
    .bind(day)
    .bind(before_us)
    .fetch_all(&mut *tx)
    .await
    .map_err(q("purge findings"))?;
    let mut deltas = Vec::with_capacity(rows.len());
    for r in &rows {
        let t: i64 = r.try_get("event_time").map_err(q("read purged finding"))?;
        deltas.push((t, Key::of_row(r, None).map_err(q("read purged finding"))?, -1));
    }
    // Only the buckets not deleted whole below need the deltas.
    apply_partial(&mut tx, &deltas, before_us).await?;
    let whole = sqlx::query("DELETE FROM findings WHERE event_time < $1")
        .bind(day)
        .execute(&mut *tx)
        .await
        .map_err(q("purge findings"))?;
    for span in SPANS {
        // Buckets that end by `before_us`: every finding in them is gone.
        sqlx::query("DELETE FROM finding_counts WHERE span = $1 AND bucket <= $2")
            .bind(span)
            .bind(before_us - span)
            .execute(&mut *tx)
            .await
            .map_err(q("purge finding counts"))?;
    }
    tx.commit().await.map_err(q("commit"))?;
    Ok(rows.len() as u64 + whole.rows_affected())
}

/// [`apply`], for the buckets that outlive `before_us` only.
async fn apply_partial(conn: &mut AnyConnection, deltas: &[Delta], before_us: i64) -> StorageResult<()> {
    // A bucket outlives the cut when it ends after it; for a delta before the cut that is only the
    // bucket holding the cut. Split the deltas per span so whole buckets are not touched.
    for span in SPANS {
        let cut = floor_to(before_us, span);
        let kept: Vec<Delta> = deltas.iter().filter(|(t, _, _)| *t >= cut).cloned().collect();
        if !kept.is_empty() {
            apply_in(conn, &kept, &[span]).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = HOUR_US;
    const D: i64 = DAY_US;

    #[test]
    fn floors_and_ceilings() {
        assert_eq!(floor_to(-1, H), -H);
        assert_eq!(floor_to(H + 5, H), H);
        assert_eq!(ceil_to(H + 5, H), 2 * H);
        assert_eq!(ceil_to(2 * H, H), 2 * H);
    }

    #[test]
    fn ranges_become_days_hours_and_edges() {
        // Unbounded: every day.
        assert_eq!(cover(None, None), (vec![BucketRange { span: D, from: None, to: None }], vec![]));
        // Within one hour: findings only.
        assert_eq!(cover(Some(10 * D + 5), Some(10 * D + 50)), (vec![], vec![(10 * D + 5, 10 * D + 50)]));
        // Empty.
        assert_eq!(cover(Some(5), Some(5)), (vec![], vec![]));
        // Since 7 days ago at a non-round time: the hour's rest, the day's remaining hours, whole days.
        let since = 3 * D + 5 * H + 17;
        let (b, e) = cover(Some(since), None);
        assert_eq!(e, vec![(since, 3 * D + 6 * H)]);
        assert_eq!(
            b,
            vec![
                BucketRange { span: D, from: Some(4 * D), to: None },
                BucketRange { span: H, from: Some(3 * D + 6 * H), to: Some(4 * D) },
            ]
        );
        // Both ends inside one day: hours and edges.
        let (b, e) = cover(Some(3 * D + H + 1), Some(3 * D + 9 * H + 2));
        assert_eq!(b, vec![BucketRange { span: H, from: Some(3 * D + 2 * H), to: Some(3 * D + 9 * H) }]);
        assert_eq!(e, vec![(3 * D + H + 1, 3 * D + 2 * H), (3 * D + 9 * H, 3 * D + 9 * H + 2)]);
        // Until only, on an hour: days before its day, then its hours.
        let (b, e) = cover(None, Some(3 * D + 4 * H));
        assert!(e.is_empty());
        assert_eq!(
            b,
            vec![
                BucketRange { span: D, from: None, to: Some(3 * D) },
                BucketRange { span: H, from: Some(3 * D), to: Some(3 * D + 4 * H) },
            ]
        );
    }
}
