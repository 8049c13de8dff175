//! Placing a batch's new findings in incidents with few statements: the rules of [`crate::incidents`]
//! are applied in memory to the batch and the incidents it can touch (one read per instance in the
//! batch), then each incident changed is written once (and, by [`super::counts`], each count key once).
//! These writes come after the batch's inserts, at the end of its transaction, so the rows they lock (an
//! incident, a count) are held only until the commit: a storm of
//! related findings from several senders queues for a moment instead of serializing every insert.
//!
//! Two collectors on PostgreSQL placing related findings at the same moment may open two incidents for
//! one attack; the next related finding merges them.
#![forbid(unsafe_code)]

use std::collections::HashMap;

use serde_json::Value;
use sqlx::{AnyConnection, Row as _};

use super::incidents::{stored, Incident, Stored, COLUMNS, SELECT_COLUMNS};
use super::{column_text, q, StorageResult};
use crate::incidents::{add_category, instance_key, Lineage, INCIDENT_WINDOW_US};
use crate::model::{Severity, StoredFinding};

fn severity_of(rank: i64) -> &'static str {
    Severity::ALL.iter().find(|s| s.rank() == rank).map(|s| s.as_str()).unwrap_or("LOW")
}

/// An incident as the batch leaves it.
struct Work {
    s: Stored,
    /// In the database before this batch.
    existed: bool,
    changed: bool,
    /// Folded into another (by index): deleted if it existed.
    merged_into: Option<usize>,
    /// Findings of this batch placed in it.
    members: Vec<String>,
}

fn fold(target: &mut Stored, other: &Incident, rank: i64, lineage: &Lineage) {
    let t = &mut target.incident;
    t.first_time_us = t.first_time_us.min(other.first_time_us);
    t.last_time_us = t.last_time_us.max(other.last_time_us);
    t.finding_count += other.finding_count;
    for c in crate::incidents::categories(&other.categories) {
        t.categories = add_category(&t.categories, c);
    }
    target.rank = target.rank.max(rank);
    t.severity = severity_of(target.rank).to_string();
    target.lineage.absorb(lineage);
}

fn alive(works: &[Work], mut i: usize) -> usize {
    while let Some(j) = works[i].merged_into {
        i = j;
    }
    i
}

/// The batch's findings not stored yet (one query per 500), each id once.
pub(super) async fn not_stored<'a>(
    conn: &mut AnyConnection,
    findings: &'a [StoredFinding],
) -> StorageResult<Vec<&'a StoredFinding>> {
    let mut stored: std::collections::HashSet<String> = std::collections::HashSet::new();
    for chunk in findings.chunks(500) {
        let ph: Vec<String> = (1..=chunk.len()).map(|k| format!("${k}")).collect();
        let sql = format!("SELECT finding_id FROM findings WHERE finding_id IN ({})", ph.join(", "));
        let mut query = sqlx::query(&sql);
        for f in chunk {
            query = query.bind(f.id.clone());
        }
        for r in query.fetch_all(&mut *conn).await.map_err(q("find stored ids"))? {
            stored.insert(r.try_get("finding_id").map_err(q("read stored id"))?);
        }
    }
    let mut out: Vec<&StoredFinding> = Vec::with_capacity(findings.len());
    for f in findings {
        if !stored.contains(&f.id) {
            stored.insert(f.id.clone());
            out.push(f);
        }
    }
    Ok(out)
}

/// Where a batch's new findings go, worked out before they are inserted (so each is inserted with its
/// incident, not updated after: an update of a just-inserted row doubles PostgreSQL's index writes).
pub(super) struct Plan {
    /// StoredFinding id -> incident id.
    pub(super) placed: HashMap<String, String>,
    /// Per instance, the incidents as the batch leaves them.
    works: Vec<Vec<Work>>,
}

/// Reads the incidents the batch can touch and places `fresh` (the batch's findings not yet stored).
pub(super) async fn plan(conn: &mut AnyConnection, fresh: &[&StoredFinding]) -> StorageResult<Plan> {
    let accepted = fresh;
    // Per instance: the findings and the time span they cover.
    let mut by_key: Vec<(String, Vec<&StoredFinding>)> = Vec::new();
    for f in accepted {
        let r = &f.resource;
        let key =
            column_text(&instance_key(r.instance_id.as_deref(), r.service.as_deref(), r.revision.as_deref()));
        match by_key.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(f),
            None => by_key.push((key, vec![f])),
        }
    }
    let mut placed = HashMap::with_capacity(accepted.len());
    let mut all = Vec::new();
    for (key, list) in by_key {
        let lo = list.iter().map(|f| f.event_time_us).min().unwrap_or_default() - INCIDENT_WINDOW_US;
        let hi = list.iter().map(|f| f.event_time_us).max().unwrap_or_default() + INCIDENT_WINDOW_US;
        let sql = format!(
            "SELECT {SELECT_COLUMNS} FROM incidents WHERE instance_key = $1 AND last_time >= $2 AND first_time <= $3"
        );
        let rows = sqlx::query(&sql)
            .bind(key.clone())
            .bind(lo)
            .bind(hi)
            .fetch_all(&mut *conn)
            .await
            .map_err(q("find incidents"))?;
        let mut works: Vec<Work> = rows
            .iter()
            .map(|r| {
                stored(r).map(|s| Work {
                    s,
                    existed: true,
                    changed: false,
                    merged_into: None,
                    members: Vec::new(),
                })
            })
            .collect::<std::result::Result<_, _>>()
            .map_err(q("read incident row"))?;
        for f in list {
            let body: Value = serde_json::from_str(&f.body).unwrap_or(Value::Null);
            let lineage = Lineage::of(&body);
            let t = f.event_time_us;
            let category = column_text(&f.category);
            let mut matched: Vec<usize> = if lineage.is_empty() {
                Vec::new()
            } else {
                (0..works.len())
                    .filter(|&i| {
                        let w = &works[i];
                        w.merged_into.is_none()
                            && w.s.incident.last_time_us >= t - INCIDENT_WINDOW_US
                            && w.s.incident.first_time_us <= t + INCIDENT_WINDOW_US
                            && w.s.lineage.links(&lineage)
                    })
                    .collect()
            };
            let this = Incident {
                id: f.id.clone(),
                instance_key: key.clone(),
                project_id: f.resource.project_id.as_deref().map(column_text),
                location: f.resource.location.as_deref().map(column_text),
                service: f.resource.service.as_deref().map(column_text),
                revision: f.resource.revision.as_deref().map(column_text),
                first_time_us: t,
                last_time_us: t,
                severity: f.severity.as_str().to_string(),
                finding_count: 1,
                categories: add_category("", &category),
                state: "ACTIVE".to_string(),
            };
            if matched.is_empty() {
                let s = Stored { incident: this, rank: f.severity.rank(), lineage };
                works.push(Work {
                    s,
                    existed: false,
                    changed: true,
                    merged_into: None,
                    members: vec![f.id.clone()],
                });
                continue;
            }
            // Join the oldest; fold the others into it.
            matched.sort_by(|a, b| {
                let (x, y) = (&works[*a].s.incident, &works[*b].s.incident);
                x.first_time_us.cmp(&y.first_time_us).then(x.id.cmp(&y.id))
            });
            let target = matched[0];
            for &other in &matched[1..] {
                let (inc, rank, lin) =
                    (works[other].s.incident.clone(), works[other].s.rank, works[other].s.lineage.clone());
                let members = std::mem::take(&mut works[other].members);
                works[other].merged_into = Some(target);
                fold(&mut works[target].s, &inc, rank, &lin);
                works[target].members.extend(members);
            }
            fold(&mut works[target].s, &this, f.severity.rank(), &lineage);
            works[target].members.push(f.id.clone());
            works[target].changed = true;
        }
        for i in 0..works.len() {
            let target = alive(&works, i);
            if target == i && works[i].changed {
                for m in &works[i].members {
                    placed.insert(m.clone(), works[i].s.incident.id.clone());
                }
            }
        }
        all.push(works);
    }
    Ok(Plan { placed, works: all })
}

/// Writes the plan's incidents: merges, updates, new ones. Run after the findings are inserted.
pub(super) async fn apply(conn: &mut AnyConnection, plan: &Plan) -> StorageResult<()> {
    for works in &plan.works {
        for i in 0..works.len() {
            let target = alive(works, i);
            let w = &works[i];
            if target != i {
                if w.existed {
                    let into = works[target].s.incident.id.clone();
                    sqlx::query("UPDATE findings SET incident_id = $1 WHERE incident_id = $2")
                        .bind(into.clone())
                        .bind(w.s.incident.id.clone())
                        .execute(&mut *conn)
                        .await
                        .map_err(q("merge incident findings"))?;
                    super::triage::merged(conn, &w.s.incident.id, &into).await?;
                    sqlx::query("DELETE FROM incidents WHERE incident_id = $1")
                        .bind(w.s.incident.id.clone())
                        .execute(&mut *conn)
                        .await
                        .map_err(q("merge incident"))?;
                }
                continue;
            }
            if !w.changed {
                continue;
            }
            let (i_, rank) = (&w.s.incident, w.s.rank);
            let [pids, anc, shells] = w.s.lineage.to_columns();
            if w.existed {
                sqlx::query(
                    "UPDATE incidents SET first_time = $2, last_time = $3, severity = $4, severity_rank = $5, \
                     finding_count = $6, categories = $7, pids = $8, ancestor_pids = $9, shell_pids = $10 WHERE incident_id = $1",
                )
                .bind(i_.id.clone())
                .bind(i_.first_time_us)
                .bind(i_.last_time_us)
                .bind(severity_of(rank))
                .bind(rank)
                .bind(i_.finding_count)
                .bind(i_.categories.clone())
                .bind(pids)
                .bind(anc)
                .bind(shells)
                .execute(&mut *conn)
                .await
                .map_err(q("update incident"))?;
            } else {
                let sql = format!(
                    "INSERT INTO incidents ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
                );
                sqlx::query(&sql)
                    .bind(i_.id.clone())
                    .bind(i_.instance_key.clone())
                    .bind(i_.project_id.clone())
                    .bind(i_.location.clone())
                    .bind(i_.service.clone())
                    .bind(i_.revision.clone())
                    .bind(i_.first_time_us)
                    .bind(i_.last_time_us)
                    .bind(severity_of(rank))
                    .bind(rank)
                    .bind(i_.finding_count)
                    .bind(i_.categories.clone())
                    .bind(pids)
                    .bind(anc)
                    .bind(shells)
                    .execute(&mut *conn)
                    .await
                    .map_err(q("open incident"))?;
            }
        }
    }
    Ok(())
}
