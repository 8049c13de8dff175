//! Triage in the database: state changes of findings and incidents (each with its audit rows, in one
//! transaction), mute rules, and their application to findings as they are stored.
#![forbid(unsafe_code)]

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};

use super::{counts, q, settled, StorageResult, Store};
use crate::model::StoredFinding;
use crate::triage::{MuteRule, State, Subject};

/// One row of the audit table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub kind: String,
    pub subject_id: String,
    pub action: String,
    pub old_state: Option<String>,
    pub new_state: Option<String>,
    pub actor: String,
    pub at_us: i64,
    pub note: String,
}

/// What a state change did: the state before, and the findings whose state changed with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub old_state: String,
    pub findings: Vec<String>,
}

const MUTE_COLUMNS: &str =
    "mute_id, category, service, rule_id, text_match, expires_at, created_by, created_at, note";

fn mute(r: &AnyRow) -> std::result::Result<MuteRule, sqlx::Error> {
    Ok(MuteRule {
        id: r.try_get("mute_id")?,
        category: r.try_get("category")?,
        service: r.try_get("service")?,
        rule_id: r.try_get("rule_id")?,
        text: r.try_get("text_match")?,
        expires_us: r.try_get("expires_at")?,
        created_by: r.try_get("created_by")?,
        created_us: r.try_get("created_at")?,
        note: r.try_get("note")?,
    })
}

#[allow(clippy::too_many_arguments)]
async fn audit(
    conn: &mut AnyConnection,
    kind: &str,
    id: &str,
    action: &str,
    old: Option<&str>,
    new: Option<&str>,
    actor: &str,
    at_us: i64,
    note: &str,
) -> StorageResult<()> {
    sqlx::query(
        "INSERT INTO audit (subject_kind, subject_id, action, old_state, new_state, actor, at, note) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(kind.to_string())
    .bind(id.to_string())
    .bind(action.to_string())
    .bind(old.map(str::to_string))
    .bind(new.map(str::to_string))
    .bind(actor.to_string())
    .bind(at_us)
    .bind(note.to_string())
    .execute(&mut *conn)
    .await
    .map_err(q("write audit"))?;
    Ok(())
}

/// Counts moving from `from` to `to` for the findings in `rows` (with [`counts::KEY_COLUMNS`]).
fn state_deltas(rows: &[AnyRow], from: &str, to: &str) -> StorageResult<Vec<counts::Delta>> {
    let mut out = Vec::with_capacity(rows.len() * 2);
    for r in rows {
        let t: i64 = r.try_get("event_time").map_err(q("read finding"))?;
        let key = counts::Key::of_row(r, Some(from)).map_err(q("read finding"))?;
        out.push((t, counts::Key { state: to.to_string(), ..key.clone() }, 1));
        out.push((t, key, -1));
    }
    Ok(out)
}

/// The mute rules in force at `now_us` (read once per stored batch).
pub(super) async fn active_mutes(conn: &mut AnyConnection, now_us: i64) -> StorageResult<Vec<MuteRule>> {
    let rows = sqlx::query(&format!("SELECT {MUTE_COLUMNS} FROM mute_rules WHERE expires_at > $1"))
        .bind(now_us)
        .fetch_all(&mut *conn)
        .await
        .map_err(q("read mute rules"))?;
    rows.iter().map(mute).collect::<std::result::Result<_, _>>().map_err(q("read mute rule"))
}

/// The mute rule in force that matches a finding, if any (it is then stored `MUTED`).
pub(super) fn mute_rule_for<'a>(
    f: &StoredFinding,
    mutes: &'a [MuteRule],
    now_us: i64,
) -> Option<&'a MuteRule> {
    let subject = Subject {
        category: &f.category,
        service: f.resource.service.as_deref(),
        rule_id: f.rule_id.as_deref(),
        search_text: &f.search_text,
    };
    mutes.iter().find(|m| m.matches(&subject, now_us))
}

/// Records that a finding arrived muted by `rule`, and mutes the incident it opened, if it opened one.
pub(super) async fn muted_on_arrival(
    conn: &mut AnyConnection,
    f: &StoredFinding,
    rule: &MuteRule,
    incident: &str,
    now_us: i64,
) -> StorageResult<()> {
    let by = format!("mute rule {}", rule.id);
    audit(conn, "finding", &f.id, "muted on arrival", Some("ACTIVE"), Some("MUTED"), &by, now_us, &rule.note)
        .await?;
    if incident == f.id {
        sqlx::query("UPDATE incidents SET state = 'MUTED' WHERE incident_id = $1")
            .bind(incident.to_string())
            .execute(&mut *conn)
            .await
            .map_err(q("mute incident"))?;
    }
    Ok(())
}

/// An incident folded into another: its audit rows follow it.
pub(super) async fn merged(conn: &mut AnyConnection, from: &str, into: &str) -> StorageResult<()> {
    sqlx::query("UPDATE audit SET subject_id = $1 WHERE subject_kind = 'incident' AND subject_id = $2")
        .bind(into.to_string())
        .bind(from.to_string())
        .execute(&mut *conn)
        .await
        .map_err(q("move incident audit"))?;
    Ok(())
}

impl Store {
    /// Sets a finding's state; `None` when there is no such finding.
    pub async fn set_finding_state(
        &self,
        id: &str,
        state: State,
        actor: &str,
        note: &str,
        now_us: i64,
    ) -> StorageResult<Option<Changed>> {
        let mut conn = self.write.acquire().await.map_err(q("acquire"))?;
        let r = self.set_finding_state_on(&mut conn, id, state, actor, note, now_us).await;
        settled(conn, r)
    }

    async fn set_finding_state_on(
        &self,
        conn: &mut AnyConnection,
        id: &str,
        state: State,
        actor: &str,
        note: &str,
        now_us: i64,
    ) -> StorageResult<Option<Changed>> {
        let mut tx = sqlx::Connection::begin(conn).await.map_err(q("begin"))?;
        // The update takes the state it read as a condition and says what it changed, so the counts
        // move by exactly that even when another collector changes the same finding meanwhile (then the
        // update finds nothing and the state is read again).
        let old = loop {
            let old: Option<String> = sqlx::query("SELECT state FROM findings WHERE finding_id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await
                .and_then(|r| r.map(|r| r.try_get("state")).transpose())
                .map_err(q("read finding state"))?;
            let Some(old) = old else { return Ok(None) };
            if old == state.as_str() {
                break old;
            }
            let rows = sqlx::query(&format!(
                "UPDATE findings SET state = $1 WHERE finding_id = $2 AND state = $3 RETURNING {}",
                counts::KEY_COLUMNS
            ))
            .bind(state.as_str())
            .bind(id.to_string())
            .bind(old.clone())
            .fetch_all(&mut *tx)
            .await
            .map_err(q("set finding state"))?;
            if !rows.is_empty() {
                counts::apply(&mut tx, &state_deltas(&rows, &old, state.as_str())?).await?;
                break old;
            }
        };
        audit(&mut tx, "finding", id, "state", Some(&old), Some(state.as_str()), actor, now_us, note).await?;
        tx.commit().await.map_err(q("commit"))?;
        Ok(Some(Changed { old_state: old, findings: vec![id.to_string()] }))
    }

    /// Sets an incident's state and its findings'; `None` when there is no such incident.
    pub async fn set_incident_state(
        &self,
        id: &str,
        state: State,
        actor: &str,
        note: &str,
        now_us: i64,
    ) -> StorageResult<Option<Changed>> {
        let mut conn = self.write.acquire().await.map_err(q("acquire"))?;
        let r = self.set_incident_state_on(&mut conn, id, state, actor, note, now_us).await;
        settled(conn, r)
    }

    async fn set_incident_state_on(
        &self,
        conn: &mut AnyConnection,
        id: &str,
        state: State,
        actor: &str,
        note: &str,
        now_us: i64,
    ) -> StorageResult<Option<Changed>> {
        let mut tx = sqlx::Connection::begin(conn).await.map_err(q("begin"))?;
        let old: Option<String> = sqlx::query("SELECT state FROM incidents WHERE incident_id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .and_then(|r| r.map(|r| r.try_get("state")).transpose())
            .map_err(q("read incident state"))?;
        let Some(old) = old else { return Ok(None) };
        // Per state it had, the findings that change: each update says which it changed, so the counts
        // and the audit follow exactly what was changed.
        let mut changed: Vec<(String, String)> = Vec::new();
        let mut deltas = Vec::new();
        for from in State::ALL.iter().map(|s| s.as_str()).filter(|s| *s != state.as_str()) {
            let rows = sqlx::query(&format!(
                "UPDATE findings SET state = $1 WHERE incident_id = $2 AND state = $3 RETURNING finding_id, {}",
                counts::KEY_COLUMNS
            ))
            .bind(state.as_str())
            .bind(id.to_string())
            .bind(from)
            .fetch_all(&mut *tx)
            .await
            .map_err(q("set incident state"))?;
            deltas.extend(state_deltas(&rows, from, state.as_str())?);
            for r in &rows {
                changed.push((r.try_get("finding_id").map_err(q("read finding id"))?, from.to_string()));
            }
        }
        counts::apply(&mut tx, &deltas).await?;
        sqlx::query("UPDATE incidents SET state = $1 WHERE incident_id = $2")
            .bind(state.as_str())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(q("set incident state"))?;
        audit(&mut tx, "incident", id, "state", Some(&old), Some(state.as_str()), actor, now_us, note)
            .await?;
        let mut findings = Vec::with_capacity(changed.len());
        for (fid, fold) in changed {
            let action = "state (with its incident)";
            audit(&mut tx, "finding", &fid, action, Some(&fold), Some(state.as_str()), actor, now_us, note)
                .await?;
            findings.push(fid);
        }
        tx.commit().await.map_err(q("commit"))?;
        Ok(Some(Changed { old_state: old, findings }))
    }

    /// The state of a finding (`kind` "finding") or incident ("incident").
    pub async fn state_of(&self, kind: &str, id: &str) -> StorageResult<Option<String>> {
        let sql = match kind {
            "incident" => "SELECT state FROM incidents WHERE incident_id = $1",
            _ => "SELECT state FROM findings WHERE finding_id = $1",
        };
        sqlx::query(sql)
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await
            .and_then(|r| r.map(|r| r.try_get("state")).transpose())
            .map_err(q("read state"))
    }

    /// A subject's audit rows, oldest first.
    pub async fn audit_of(&self, kind: &str, id: &str) -> StorageResult<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT subject_kind, subject_id, action, old_state, new_state, actor, at, note FROM audit \
             WHERE subject_kind = $1 AND subject_id = $2 ORDER BY at, audit_id LIMIT 1000",
        )
        .bind(kind.to_string())
        .bind(id.to_string())
        .fetch_all(&self.read)
        .await
        .map_err(q("read audit"))?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    kind: r.try_get("subject_kind")?,
                    subject_id: r.try_get("subject_id")?,
                    action: r.try_get("action")?,
                    old_state: r.try_get("old_state")?,
                    new_state: r.try_get("new_state")?,
                    actor: r.try_get("actor")?,
                    at_us: r.try_get("at")?,
                    note: r.try_get("note")?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(q("read audit row"))
    }

    /// Mute rules, newest first (expired ones too: they are part of the record).
    pub async fn mutes(&self) -> StorageResult<Vec<MuteRule>> {
        let rows = sqlx::query(&format!(
            "SELECT {MUTE_COLUMNS} FROM mute_rules ORDER BY created_at DESC LIMIT 1000"
        ))
        .fetch_all(&self.read)
        .await
        .map_err(q("list mute rules"))?;
        rows.iter().map(mute).collect::<std::result::Result<_, _>>().map_err(q("read mute rule"))
    }

    pub async fn add_mute(&self, m: &MuteRule) -> StorageResult<()> {
        let mut conn = self.write.acquire().await.map_err(q("acquire"))?;
        let r = self.add_mute_on(&mut conn, m).await;
        settled(conn, r)
    }

    async fn add_mute_on(&self, conn: &mut AnyConnection, m: &MuteRule) -> StorageResult<()> {
        let mut tx = sqlx::Connection::begin(conn).await.map_err(q("begin"))?;
        sqlx::query(&format!(
            "INSERT INTO mute_rules ({MUTE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(m.id.clone())
        .bind(m.category.clone())
        .bind(m.service.clone())
        .bind(m.rule_id.clone())
        .bind(m.text.clone())
        .bind(m.expires_us)
        .bind(m.created_by.clone())
        .bind(m.created_us)
        .bind(m.note.clone())
        .execute(&mut *tx)
        .await
        .map_err(q("add mute rule"))?;
        audit(&mut tx, "mute", &m.id, "created", None, None, &m.created_by, m.created_us, &m.note).await?;
        tx.commit().await.map_err(q("commit"))
    }

    /// Ends a mute rule now (its expiry becomes now); false when it was not in force.
    pub async fn end_mute(&self, id: &str, actor: &str, now_us: i64) -> StorageResult<bool> {
        let mut conn = self.write.acquire().await.map_err(q("acquire"))?;
        let r = self.end_mute_on(&mut conn, id, actor, now_us).await;
        settled(conn, r)
    }

    async fn end_mute_on(
        &self,
        conn: &mut AnyConnection,
        id: &str,
        actor: &str,
        now_us: i64,
    ) -> StorageResult<bool> {
        let mut tx = sqlx::Connection::begin(conn).await.map_err(q("begin"))?;
        let done =
            sqlx::query("UPDATE mute_rules SET expires_at = $1 WHERE mute_id = $2 AND expires_at > $1")
                .bind(now_us)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(q("end mute rule"))?;
        if done.rows_affected() == 1 {
            audit(&mut tx, "mute", id, "ended", None, None, actor, now_us, "").await?;
        }
        tx.commit().await.map_err(q("commit"))?;
        Ok(done.rows_affected() == 1)
    }
}
