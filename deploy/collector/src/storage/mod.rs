//! Where findings and heartbeats are kept: SQLite by default (one file in WAL mode, no setup), PostgreSQL
//! when `DATABASE_URL` is `postgres://...` (many collectors behind a load balancer, one database).
//!
//! Both go through sqlx's `Any` driver with one set of portable SQL (`$N` parameters, `ON CONFLICT`,
//! integer microsecond times); only the migrations (migrations/{sqlite,postgres}) and the pool setup
//! differ. SQLite takes one writer at a time, so it gets a one-connection write pool (writers queue in
//! the pool instead of spinning on `SQLITE_BUSY`) beside a read pool; WAL lets readers run meanwhile.
//! Delivery is idempotent: a `findingId` already stored is counted as a duplicate and left as it was.
#![forbid(unsafe_code)]

pub mod counts;
pub mod incidents;
pub mod migrate;
mod placement;
pub mod query;
pub mod scc;
pub mod trends;
pub mod triage;

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor as _, Row as _};

use crate::model::{StoredFinding, StoredHeartbeat};
use query::{FindingFilter, Page, Param};

/// An hour in microseconds: the bucket of the hourly counts kept at ingest (and of the trends).
pub const HOUR_US: i64 = 3_600_000_000;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot open the database {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("cannot migrate the {backend} database: {source}")]
    Migrate { backend: &'static str, source: sqlx::migrate::MigrateError },
    #[error("database {op}: {source}")]
    Query { op: &'static str, source: sqlx::Error },
}

pub type StorageResult<T> = std::result::Result<T, StorageError>;

fn q(op: &'static str) -> impl FnOnce(sqlx::Error) -> StorageError {
    move |source| StorageError::Query { op, source }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// What one ingest did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ingested {
    pub accepted: u64,
    pub duplicates: u64,
    /// `Some(true)` recorded, `Some(false)` already had it (or a newer one), `None` no heartbeat.
    pub heartbeat: Option<bool>,
}

/// One row of the findings list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: String,
    pub event_time_us: i64,
    pub category: String,
    pub severity: String,
    pub service: Option<String>,
    pub revision: Option<String>,
    pub instance_id: Option<String>,
    pub action: Option<String>,
    pub description: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub key: String,
    pub instance_id: Option<String>,
    pub project_id: Option<String>,
    pub location: Option<String>,
    pub service: Option<String>,
    pub revision: Option<String>,
    pub first_seen_us: i64,
    pub last_seen_us: i64,
    pub heartbeat_time_us: i64,
    pub start_time_us: Option<i64>,
    pub interval_seconds: i64,
    pub is_final: bool,
    pub runwarden_version: Option<String>,
    pub sensor: Option<String>,
    pub mode: Option<String>,
    pub counts: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceStatus {
    Live,
    /// No heartbeat for 2.5 intervals and it did not say it was ending.
    Silent,
    /// Its last heartbeat was `final`: it shut down on purpose.
    Ended,
}

impl InstanceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::Live => "live",
            InstanceStatus::Silent => "silent",
            InstanceStatus::Ended => "ended",
        }
    }
}

impl Instance {
    /// Judged on the collector's clock (when the heartbeat arrived), so a skewed instance clock
    /// neither hides nor invents silence.
    pub fn status(&self, now_us: i64) -> InstanceStatus {
        if self.is_final {
            InstanceStatus::Ended
        } else if now_us - self.last_seen_us > self.interval_seconds * 2_500_000 {
            InstanceStatus::Silent
        } else {
            InstanceStatus::Live
        }
    }
}

/// Findings per category and per severity for a filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingCounts {
    pub total: i64,
    pub by_category: Vec<(String, i64)>,
    pub by_severity: Vec<(String, i64)>,
}

#[derive(Clone)]
pub struct Store {
    backend: Backend,
    write: AnyPool,
    read: AnyPool,
    /// Queue new findings for Security Command Center ([`scc`]).
    scc_export: bool,
}

const INSERT_FINDING: &str =
    "INSERT INTO findings (finding_id, event_time, received_at, category, severity, \
     severity_rank, project_id, location, service, revision, instance_id, action, rule_id, description, \
     search_text, body, incident_id, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
     $14, $15, $16, $17, $18) ON CONFLICT (finding_id) DO NOTHING";

/// A retried heartbeat (same id) or one older than the stored one changes nothing.
const UPSERT_INSTANCE: &str = "INSERT INTO instances (instance_key, instance_id, project_id, location, \
     service, revision, first_seen, last_seen, heartbeat_time, heartbeat_id, start_time, interval_seconds, \
     is_final, runwarden_version, sensor, mode, counts) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10, \
     $11, $12, $13, $14, $15, $16) ON CONFLICT (instance_key) DO UPDATE SET instance_id = excluded.instance_id, \
     project_id = excluded.project_id, location = excluded.location, service = excluded.service, \
     revision = excluded.revision, last_seen = excluded.last_seen, heartbeat_time = excluded.heartbeat_time, \
     heartbeat_id = excluded.heartbeat_id, start_time = excluded.start_time, \
     interval_seconds = excluded.interval_seconds, is_final = excluded.is_final, \
     runwarden_version = excluded.runwarden_version, sensor = excluded.sensor, mode = excluded.mode, \
     counts = excluded.counts WHERE instances.heartbeat_id <> excluded.heartbeat_id \
     AND instances.heartbeat_time <= excluded.heartbeat_time";

const LIST_COLUMNS: &str =
    "finding_id, event_time, category, severity, service, revision, instance_id, action, description, body";

const INSTANCE_COLUMNS: &str = "instance_key, instance_id, project_id, location, service, revision, \
     first_seen, last_seen, heartbeat_time, start_time, interval_seconds, is_final, runwarden_version, \
     sensor, mode, counts";

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    params: &[Param],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for p in params {
        query = match p {
            Param::Int(i) => query.bind(*i),
            Param::Text(s) => query.bind(s.clone()),
        };
    }
    query
}

/// Ends a write on a connection of the write pool: on an error the connection is closed instead of going
/// back to the pool. A failed transaction can leave its connection in a state where later commits report
/// success and store nothing (seen with SQLite answering "database or disk is full" to a COMMIT: every
/// batch after it was acknowledged with 200 and lost), so a connection that failed is never reused.
pub(super) fn settled<T>(
    conn: sqlx::pool::PoolConnection<sqlx::Any>,
    r: StorageResult<T>,
) -> StorageResult<T> {
    if r.is_err() {
        drop(conn.detach());
    }
    r
}

/// How long a PostgreSQL request waits for a connection (pool exhausted, or the server down) before it
/// is answered 503.
const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates the database at `url`.
    pub async fn open(url: &str) -> StorageResult<Store> {
        sqlx::any::install_default_drivers();
        let open_err = |source| StorageError::Open { url: redact_url(url), source };
        let store = if url.starts_with("sqlite:") {
            let url = if url.contains("mode=") {
                url.to_string()
            } else {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            };
            let pool = |max: u32| {
                AnyPoolOptions::new()
                    .max_connections(max)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // WAL: readers do not block the writer; NORMAL sync is durable across a
                            // process crash (WAL), at most the last commits lost on power loss.
                            conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON").await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
            };
            let write = pool(1).await.map_err(open_err)?;
            // An in-memory database exists once per connection: readers must share the writer's.
            let read = if url.contains(":memory:") || url.contains("mode=memory") {
                write.clone()
            } else {
                pool(4).await.map_err(open_err)?
            };
            Store { backend: Backend::Sqlite, write, read, scc_export: false }
        } else {
            // A short acquire: while the server is down sqlx retries connecting until this runs out,
            // and a request must get its 503 (runwarden retries it) well before the sender's own
            // timeout instead of hanging on a database that is restarting.
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(PG_ACQUIRE_TIMEOUT)
                .connect(url)
                .await
                .map_err(open_err)?;
            Store { backend: Backend::Postgres, write: pool.clone(), read: pool, scc_export: false }
        };
        migrate::run(&store.write, store.backend)
            .await
            .map_err(|source| StorageError::Migrate { backend: store.backend.name(), source })?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Stores a batch in one transaction: all of it or (on a database error) none of it, so a retry
    /// after a failure delivers the rest and counts the already-stored as duplicates.
    pub async fn ingest(
        &self,
        findings: &[StoredFinding],
        heartbeat: Option<&StoredHeartbeat>,
        now_us: i64,
    ) -> StorageResult<Ingested> {
        let mut conn = self.write.acquire().await.map_err(q("acquire"))?;
        let r = self.ingest_on(&mut conn, findings, heartbeat, now_us).await;
        settled(conn, r)
    }

    async fn ingest_on(
        &self,
        conn: &mut sqlx::AnyConnection,
        findings: &[StoredFinding],
        heartbeat: Option<&StoredHeartbeat>,
        now_us: i64,
    ) -> StorageResult<Ingested> {
        let mut tx = sqlx::Connection::begin(conn).await.map_err(q("begin"))?;
        let mut out = Ingested::default();
        let mut accepted: Vec<&StoredFinding> = Vec::with_capacity(findings.len());
        let mut counted: Vec<(&StoredFinding, &str)> = Vec::with_capacity(findings.len());
        // Which findings are new, where they go and whether a mute rule takes them, before inserting
        // them with it (a concurrent delivery of the same id can still make one a duplicate at insert).
        let fresh = placement::not_stored(&mut tx, findings).await?;
        let plan = placement::plan(&mut tx, &fresh).await?;
        let mutes = if fresh.is_empty() { Vec::new() } else { triage::active_mutes(&mut tx, now_us).await? };
        for f in findings {
            let incident = plan.placed.get(&f.id).cloned();
            let state = if triage::mute_rule_for(f, &mutes, now_us).is_some() { "MUTED" } else { "ACTIVE" };
            let r = &f.resource;
            let done = sqlx::query(INSERT_FINDING)
                .bind(f.id.clone())
                .bind(f.event_time_us)
                .bind(now_us)
                .bind(column_text(&f.category))
                .bind(f.severity.as_str())
                .bind(f.severity.rank())
                .bind(r.project_id.as_deref().map(column_text))
                .bind(r.location.as_deref().map(column_text))
                .bind(r.service.as_deref().map(column_text))
                .bind(r.revision.as_deref().map(column_text))
                .bind(r.instance_id.as_deref().map(column_text))
                .bind(f.action.as_deref().map(column_text))
                .bind(f.rule_id.as_deref().map(column_text))
                .bind(column_text(&f.description))
                .bind(column_text(&f.search_text))
                .bind(f.body.clone())
                .bind(incident)
                .bind(state)
                .execute(&mut *tx)
                .await
                .map_err(q("insert finding"))?;
            if done.rows_affected() == 1 {
                accepted.push(f);
                counted.push((f, state));
                out.accepted += 1;
            } else {
                out.duplicates += 1;
            }
        }
        // What new findings bring along: incidents, hourly counts, mute rules, the SCC outbox.
        if !accepted.is_empty() {
            placement::apply(&mut tx, &plan).await?;
            counts::apply(&mut tx, &counts::ingested(&counted)).await?;
            for f in &accepted {
                if let Some(rule) = triage::mute_rule_for(f, &mutes, now_us) {
                    let incident = plan.placed.get(&f.id).map(String::as_str).unwrap_or_default();
                    triage::muted_on_arrival(&mut tx, f, rule, incident, now_us).await?;
                }
                if self.scc_export {
                    scc::enqueue(&mut tx, &f.id, "publish", now_us).await?;
                }
            }
        }
        if let Some(h) = heartbeat {
            let r = &h.resource;
            let done = sqlx::query(UPSERT_INSTANCE)
                .bind(h.instance_key())
                .bind(r.instance_id.clone())
                .bind(r.project_id.clone())
                .bind(r.location.clone())
                .bind(r.service.clone())
                .bind(r.revision.clone())
                .bind(now_us)
                .bind(h.time_us)
                .bind(h.id.clone())
                .bind(h.start_time_us)
                .bind(h.interval_seconds)
                .bind(i64::from(h.is_final))
                .bind(h.runwarden_version.clone())
                .bind(h.sensor.clone())
                .bind(h.mode.clone())
                .bind(h.counts.clone())
                .execute(&mut *tx)
                .await
                .map_err(q("upsert instance"))?;
            out.heartbeat = Some(done.rows_affected() == 1);
        }
        tx.commit().await.map_err(q("commit"))?;
        Ok(out)
    }

    /// One page of findings, newest first (after `filter.before` when set), and how many match in all.
    pub async fn list(&self, filter: &FindingFilter, page: Page) -> StorageResult<(Vec<Listed>, i64)> {
        let (mut cond, mut params) = filter.where_clause(1);
        if let Some((t, id)) = &filter.before {
            let n = params.len();
            cond.push_str(if cond.is_empty() { " WHERE " } else { " AND " });
            // A row value: both backends take it as a range of the (event_time, finding_id) index.
            cond.push_str(&format!("(event_time, finding_id) < (${}, ${})", n + 1, n + 2));
            params.extend([Param::Int(*t), Param::Text(id.clone())]);
        }
        let n = params.len();
        let sql = format!(
            "SELECT {LIST_COLUMNS} FROM findings{cond} ORDER BY event_time DESC, finding_id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let mut all = params;
        all.extend([Param::Int(page.limit), Param::Int(page.offset)]);
        let rows =
            bind_all(sqlx::query(&sql), &all).fetch_all(&self.read).await.map_err(q("list findings"))?;
        let listed = rows
            .iter()
            .map(listed)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(q("read finding row"))?;
        Ok((listed, self.total(filter).await?))
    }

    /// The finding as received.
    pub async fn get(&self, id: &str) -> StorageResult<Option<Listed>> {
        let sql = format!("SELECT {LIST_COLUMNS} FROM findings WHERE finding_id = $1");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await
            .map_err(q("get finding"))?;
        row.as_ref().map(listed).transpose().map_err(q("read finding row"))
    }

    /// Instances, most recently heard first.
    pub async fn instances(&self) -> StorageResult<Vec<Instance>> {
        let sql = format!("SELECT {INSTANCE_COLUMNS} FROM instances ORDER BY last_seen DESC LIMIT 5000");
        let rows = sqlx::query(&sql).fetch_all(&self.read).await.map_err(q("list instances"))?;
        rows.iter().map(instance).collect::<std::result::Result<_, _>>().map_err(q("read instance row"))
    }

    /// Deletes findings whose event is older than `before_us` (and their counts: [`counts`]), and
    /// instances and incidents not heard from since.
    pub async fn purge(&self, before_us: i64) -> StorageResult<u64> {
        let mut conn = self.write.acquire().await.map_err(q("acquire"))?;
        let r = counts::purge_findings(&mut conn, before_us).await;
        let deleted = settled(conn, r)?;
        sqlx::query("DELETE FROM instances WHERE last_seen < $1")
            .bind(before_us)
            .execute(&self.write)
            .await
            .map_err(q("purge instances"))?;
        sqlx::query("DELETE FROM incidents WHERE last_time < $1")
            .bind(before_us)
            .execute(&self.write)
            .await
            .map_err(q("purge incidents"))?;
        Ok(deleted)
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

/// A finding's text for a column: NUL replaced by U+FFFD, because PostgreSQL's text cannot hold it and
/// SQLite's `LIKE` stops at it. The body keeps the finding exactly (JSON escapes NUL as `\u0000`).
pub(crate) fn column_text(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{fffd}")
    } else {
        s.to_string()
    }
}

fn listed(r: &AnyRow) -> std::result::Result<Listed, sqlx::Error> {
    Ok(Listed {
        id: r.try_get("finding_id")?,
        event_time_us: r.try_get("event_time")?,
        category: r.try_get("category")?,
        severity: r.try_get("severity")?,
        service: r.try_get("service")?,
        revision: r.try_get("revision")?,
        instance_id: r.try_get("instance_id")?,
        action: r.try_get("action")?,
        description: r.try_get("description")?,
        body: r.try_get("body")?,
    })
}

fn instance(r: &AnyRow) -> std::result::Result<Instance, sqlx::Error> {
    Ok(Instance {
        key: r.try_get("instance_key")?,
        instance_id: r.try_get("instance_id")?,
        project_id: r.try_get("project_id")?,
        location: r.try_get("location")?,
        service: r.try_get("service")?,
        revision: r.try_get("revision")?,
        first_seen_us: r.try_get("first_seen")?,
        last_seen_us: r.try_get("last_seen")?,
        heartbeat_time_us: r.try_get("heartbeat_time")?,
        start_time_us: r.try_get("start_time")?,
        interval_seconds: r.try_get("interval_seconds")?,
        is_final: r.try_get::<i64, _>("is_final")? != 0,
        runwarden_version: r.try_get("runwarden_version")?,
        sensor: r.try_get("sensor")?,
        mode: r.try_get("mode")?,
        counts: r.try_get("counts")?,
    })
}

/// The URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_memory_sqlite_is_one_database() {
        let store = Store::open("sqlite::memory:").await.unwrap();
        let f = crate::model::parse_batch(
            br#"{"findings": [{"findingId": "a", "category": "c", "severity": "LOW", "eventTime": "2026-11-20T10:00:00Z"}]}"#,
            10,
        )
        .unwrap();
        assert_eq!(store.ingest(&f.findings, None, 0).await.unwrap().accepted, 1);
        assert_eq!(store.list(&FindingFilter::default(), Page::default()).await.unwrap().1, 1);
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(redact_url("postgres://rw:secret@db:5432/x"), "postgres://rw:***@db:5432/x");
        assert_eq!(redact_url("sqlite://./a.db"), "sqlite://./a.db");
    }

    #[test]
    fn silence_is_two_and_a_half_intervals() {
        let mut i = Instance {
            key: "i".into(),
            instance_id: None,
            project_id: None,
            location: None,
            service: None,
            revision: None,
            first_seen_us: 0,
            last_seen_us: 0,
            heartbeat_time_us: 0,
            start_time_us: None,
            interval_seconds: 60,
            is_final: false,
            runwarden_version: None,
            sensor: None,
            mode: None,
            counts: "{}".into(),
        };
        assert_eq!(i.status(150_000_000), InstanceStatus::Live);
        assert_eq!(i.status(150_000_001), InstanceStatus::Silent);
        i.is_final = true;
        assert_eq!(i.status(1_000_000_000), InstanceStatus::Ended);
    }
}
