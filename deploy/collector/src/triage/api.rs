//! The triage API. Changes need `Content-Type: application/json` (the `Json` extractor answers `415`
//! otherwise), which a cross-site HTML form cannot send, and the same credentials as reading.
//! - `POST /v1/findings/{id}/state`, `POST /v1/incidents/{id}/state`: `{"state": "ACKNOWLEDGED", "note": "..."}`
//!   -> `{"state": ..., "previousState": ..., "findings": [ids whose state changed]}`.
//! - `GET /v1/audit?kind=finding|incident|mute&id=...`: the subject's changes, oldest first.
//! - `GET /v1/mutes`; `POST /v1/mutes` `{"category", "service", "ruleId", "text", "expires": "7d", "note"}`
//!   -> `201` with the rule; `POST /v1/mutes/{id}/end` (body `{}`).
#![forbid(unsafe_code)]

use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{actor, clean_note, MuteRequest, MuteRule, State};
use crate::api::{auth_failure, error, read_guard};
use crate::storage::triage::AuditEntry;
use crate::{model, Shared};

fn unavailable(e: crate::storage::StorageError) -> Response {
    tracing::error!(error = %e, "triage failed");
    error(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable; retry later".to_string())
}

pub fn mute_json(m: &MuteRule, now_us: i64) -> Value {
    json!({
        "muteId": m.id, "category": m.category, "service": m.service, "ruleId": m.rule_id, "text": m.text,
        "expireTime": model::format_time(m.expires_us), "inForce": m.expires_us > now_us,
        "createdBy": m.created_by, "createTime": model::format_time(m.created_us), "note": m.note,
    })
}

pub fn audit_json(a: &AuditEntry) -> Value {
    json!({
        "kind": a.kind, "id": a.subject_id, "action": a.action, "oldState": a.old_state,
        "newState": a.new_state, "actor": a.actor, "time": model::format_time(a.at_us), "note": a.note,
    })
}

/// Sets the state of a finding (`kind` "finding") or an incident; shared by the API and the UI.
pub async fn change_state(
    app: &Shared,
    kind: &str,
    id: &str,
    state: State,
    who: &str,
    note: &str,
) -> Result<Option<crate::storage::triage::Changed>, crate::storage::StorageError> {
    let note = clean_note(note);
    let now = model::now_us();
    let changed = if kind == "incident" {
        app.store.set_incident_state(id, state, who, &note, now).await?
    } else {
        app.store.set_finding_state(id, state, who, &note, now).await?
    };
    if let Some(c) = &changed {
        tracing::info!(kind, id, from = %c.old_state, to = state.as_str(), actor = who, "triage state changed");
        if app.store.scc_export() {
            app.store.scc_enqueue_states(&c.findings, now).await?;
        }
    }
    Ok(changed)
}

async fn post_state(app: Shared, headers: HeaderMap, kind: &str, id: String, body: Value) -> Response {
    let who = match actor(&app, &headers).await {
        Ok(w) => w,
        Err(e) => return auth_failure(&e, false),
    };
    let Some(state) = body["state"].as_str().and_then(State::parse) else {
        return error(
            StatusCode::BAD_REQUEST,
            "state: expected ACTIVE, ACKNOWLEDGED, RESOLVED or MUTED".into(),
        );
    };
    let note = body["note"].as_str().unwrap_or("");
    match change_state(&app, kind, &id, state, &who, note).await {
        Ok(Some(c)) => {
            Json(json!({ "state": state.as_str(), "previousState": c.old_state, "findings": c.findings }))
                .into_response()
        }
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no {kind} {id:?}")),
        Err(e) => unavailable(e),
    }
}

pub async fn finding_state(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    post_state(app, headers, "finding", id, body).await
}

pub async fn incident_state(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    post_state(app, headers, "incident", id, body).await
}

pub async fn audit(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = read_guard(&app, &headers).await {
        return r;
    }
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let (kind, id) = (get("kind"), get("id"));
    if !matches!(kind.as_str(), "finding" | "incident" | "mute") || id.is_empty() {
        return error(StatusCode::BAD_REQUEST, "expected kind=finding|incident|mute and id=...".into());
    }
    match app.store.audit_of(&kind, &id).await {
        Ok(list) => Json(json!({ "audit": list.iter().map(audit_json).collect::<Vec<_>>() })).into_response(),
        Err(e) => unavailable(e),
    }
}

pub async fn mutes(AxState(app): AxState<Shared>, headers: HeaderMap) -> Response {
    if let Err(r) = read_guard(&app, &headers).await {
        return r;
    }
    let now = model::now_us();
    match app.store.mutes().await {
        Ok(list) => Json(json!({ "mutes": list.iter().map(|m| mute_json(m, now)).collect::<Vec<_>>() }))
            .into_response(),
        Err(e) => unavailable(e),
    }
}

pub async fn add_mute(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let who = match actor(&app, &headers).await {
        Ok(w) => w,
        Err(e) => return auth_failure(&e, false),
    };
    let s = |k: &str| body[k].as_str().unwrap_or("").to_string();
    let req = MuteRequest {
        category: s("category"),
        service: s("service"),
        rule_id: s("ruleId"),
        text: s("text"),
        expires: s("expires"),
        note: s("note"),
    };
    let now = model::now_us();
    let rule = match req.into_rule(&who, now) {
        Ok(r) => r,
        Err(reason) => return error(StatusCode::BAD_REQUEST, reason),
    };
    match app.store.add_mute(&rule).await {
        Ok(()) => (StatusCode::CREATED, Json(mute_json(&rule, now))).into_response(),
        Err(e) => unavailable(e),
    }
}

/// The body is ignored but must be JSON (`{}`): that is what keeps a cross-site form from ending a rule.
pub async fn end_mute(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(_): Json<Value>,
) -> Response {
    let who = match actor(&app, &headers).await {
        Ok(w) => w,
        Err(e) => return auth_failure(&e, false),
    };
    match app.store.end_mute(&id, &who, model::now_us()).await {
        Ok(true) => Json(json!({ "muteId": id, "inForce": false })).into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, format!("no mute rule {id:?} in force")),
        Err(e) => unavailable(e),
    }
}
