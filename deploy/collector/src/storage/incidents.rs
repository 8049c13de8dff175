//! Incidents in the database: the list, and one incident with its findings. New findings are placed in
//! incidents as they are stored, in the same transaction, by [`super::placement`].
#![forbid(unsafe_code)]

use sqlx::any::AnyRow;
use sqlx::Row as _;

use super::query::{FindingFilter, Page, Param};
use super::{bind_all, listed, q, Listed, StorageResult, Store};
use crate::incidents::Lineage;

/// One incident's summary row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub id: String,
    pub instance_key: String,
    pub project_id: Option<String>,
    pub location: Option<String>,
    pub service: Option<String>,
    pub revision: Option<String>,
    pub first_time_us: i64,
    pub last_time_us: i64,
    pub severity: String,
    pub finding_count: i64,
    /// As stored (`\nA\nB\n`); [`crate::incidents::categories`] splits it.
    pub categories: String,
    /// Triage state (`ACTIVE`, ...).
    pub state: String,
}

pub(super) const COLUMNS: &str =
    "incident_id, instance_key, project_id, location, service, revision, first_time, \
     last_time, severity, severity_rank, finding_count, categories, pids, ancestor_pids, shell_pids";

/// What the reads select: the columns written on insert, and the triage state.
pub(super) const SELECT_COLUMNS: &str =
    "incident_id, instance_key, project_id, location, service, revision, \
     first_time, last_time, severity, severity_rank, finding_count, categories, pids, ancestor_pids, \
     shell_pids, state";

pub(super) struct Stored {
    pub(super) incident: Incident,
    pub(super) rank: i64,
    pub(super) lineage: Lineage,
}

pub(super) fn stored(r: &AnyRow) -> std::result::Result<Stored, sqlx::Error> {
    let lineage = Lineage::from_columns(
        &r.try_get::<String, _>("pids")?,
        &r.try_get::<String, _>("ancestor_pids")?,
        &r.try_get::<String, _>("shell_pids")?,
    );
    Ok(Stored { incident: incident(r)?, rank: r.try_get("severity_rank")?, lineage })
}

fn incident(r: &AnyRow) -> std::result::Result<Incident, sqlx::Error> {
    Ok(Incident {
        id: r.try_get("incident_id")?,
        instance_key: r.try_get("instance_key")?,
        project_id: r.try_get("project_id")?,
        location: r.try_get("location")?,
        service: r.try_get("service")?,
        revision: r.try_get("revision")?,
        first_time_us: r.try_get("first_time")?,
        last_time_us: r.try_get("last_time")?,
        severity: r.try_get("severity")?,
        finding_count: r.try_get("finding_count")?,
        categories: r.try_get("categories")?,
        state: r.try_get("state")?,
    })
}

/// The findings filter applied to incidents: categories and severity on the incident's own, service,
/// revision and instance, time as overlap of the incident's span, text through its findings.
pub fn where_clause(filter: &FindingFilter, first: usize) -> (String, Vec<Param>) {
    let mut conds: Vec<String> = Vec::new();
    let mut params: Vec<Param> = Vec::new();
    let mut next = |p: Param, conds_sql: String, conds: &mut Vec<String>| {
        params.push(p);
        conds.push(conds_sql.replace("$?", &format!("${}", first + params.len() - 1)));
    };
    let mut any: Vec<String> = Vec::new();
    for c in &filter.categories {
        next(
            Param::Text(format!("%\n{}\n%", super::query::escape_like(c))),
            "categories LIKE $? ESCAPE '\\'".into(),
            &mut any,
        );
    }
    if !any.is_empty() {
        conds.push(format!("({})", any.join(" OR ")));
    }
    let mut sev: Vec<String> = Vec::new();
    for s in &filter.severities {
        next(Param::Text(s.as_str().to_string()), "severity = $?".into(), &mut sev);
    }
    if !sev.is_empty() {
        conds.push(format!("({})", sev.join(" OR ")));
    }
    for (col, v) in
        [("service", &filter.service), ("revision", &filter.revision), ("instance_key", &filter.instance)]
    {
        if let Some(v) = v {
            next(Param::Text(v.clone()), format!("{col} = $?"), &mut conds);
        }
    }
    if let Some(t) = filter.since_us {
        next(Param::Int(t), "last_time >= $?".into(), &mut conds);
    }
    if let Some(t) = filter.until_us {
        next(Param::Int(t), "first_time < $?".into(), &mut conds);
    }
    let mut st: Vec<String> = Vec::new();
    for s in &filter.states {
        next(Param::Text(s.clone()), "state = $?".into(), &mut st);
    }
    if !st.is_empty() {
        conds.push(format!("({})", st.join(" OR ")));
    }
    if let Some(text) = &filter.text {
        next(
            Param::Text(format!("%{}%", super::query::escape_like(&text.to_lowercase()))),
            "EXISTS (SELECT 1 FROM findings f WHERE f.incident_id = incidents.incident_id AND f.search_text LIKE $? ESCAPE '\\')".into(),
            &mut conds,
        );
    }
    if conds.is_empty() {
        (String::new(), params)
    } else {
        (format!(" WHERE {}", conds.join(" AND ")), params)
    }
}

impl Store {
    /// One page of incidents, most recent activity first, and how many match in all.
    pub async fn incidents(&self, filter: &FindingFilter, page: Page) -> StorageResult<(Vec<Incident>, i64)> {
        let (cond, params) = where_clause(filter, 1);
        let n = params.len();
        let sql = format!(
            "SELECT {SELECT_COLUMNS} FROM incidents{cond} ORDER BY last_time DESC, incident_id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let mut all = params.clone();
        all.extend([Param::Int(page.limit), Param::Int(page.offset)]);
        let rows =
            bind_all(sqlx::query(&sql), &all).fetch_all(&self.read).await.map_err(q("list incidents"))?;
        let list = rows
            .iter()
            .map(incident)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(q("read incident"))?;
        let total: i64 =
            bind_all(sqlx::query(&format!("SELECT COUNT(*) AS n FROM incidents{cond}")), &params)
                .fetch_one(&self.read)
                .await
                .and_then(|r| r.try_get("n"))
                .map_err(q("count incidents"))?;
        Ok((list, total))
    }

    /// An incident and its findings, oldest first (its timeline).
    pub async fn incident(&self, id: &str) -> StorageResult<Option<(Incident, Vec<Listed>)>> {
        let row = sqlx::query(&format!("SELECT {SELECT_COLUMNS} FROM incidents WHERE incident_id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await
            .map_err(q("get incident"))?;
        let Some(row) = row else { return Ok(None) };
        let inc = incident(&row).map_err(q("read incident"))?;
        let sql = format!(
            "SELECT {} FROM findings WHERE incident_id = $1 ORDER BY event_time, finding_id LIMIT 5000",
            super::LIST_COLUMNS
        );
        let rows = sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_all(&self.read)
            .await
            .map_err(q("incident findings"))?;
        let findings = rows
            .iter()
            .map(listed)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(q("read finding row"))?;
        Ok(Some((inc, findings)))
    }

    /// The incident a finding is in (none for findings stored before incidents existed).
    pub async fn incident_of(&self, finding: &str) -> StorageResult<Option<String>> {
        sqlx::query("SELECT incident_id FROM findings WHERE finding_id = $1")
            .bind(finding.to_string())
            .fetch_optional(&self.read)
            .await
            .and_then(|r| r.map(|r| r.try_get::<Option<String>, _>("incident_id")).transpose())
            .map(Option::flatten)
            .map_err(q("finding incident"))
    }
}
