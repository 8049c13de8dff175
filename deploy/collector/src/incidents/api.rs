//! The incidents API: `GET /v1/incidents` (the findings filters, applied to incidents: see
//! [`crate::storage::incidents::where_clause`]; `limit`, `offset`) and `GET /v1/incidents/{id}` (the
//! incident with its findings as received, oldest first).
#![forbid(unsafe_code)]

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::api::{error, filter_from, read_guard};
use crate::storage::incidents::Incident;
use crate::{model, Shared};

pub fn incident_json(i: &Incident) -> Value {
    let mut v = json!({
        "incidentId": i.id,
        "instance": i.instance_key,
        "severity": i.severity,
        "state": i.state,
        "firstTime": model::format_time(i.first_time_us),
        "lastTime": model::format_time(i.last_time_us),
        "findingCount": i.finding_count,
        "categories": super::categories(&i.categories),
    });
    for (k, val) in [
        ("projectId", &i.project_id),
        ("location", &i.location),
        ("service", &i.service),
        ("revision", &i.revision),
    ] {
        if let Some(s) = val {
            v[k] = json!(s);
        }
    }
    v
}

fn unavailable(e: crate::storage::StorageError) -> Response {
    tracing::error!(error = %e, "incident query failed");
    error(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable; retry later".to_string())
}

pub async fn list(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = read_guard(&app, &headers).await {
        return r;
    }
    let (filter, page) = match filter_from(&params) {
        Ok(x) => x,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    match app.store.incidents(&filter, page).await {
        Ok((list, total)) => Json(json!({
            "incidents": list.iter().map(incident_json).collect::<Vec<_>>(),
            "total": total, "limit": page.limit, "offset": page.offset,
        }))
        .into_response(),
        Err(e) => unavailable(e),
    }
}

pub async fn get(State(app): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = read_guard(&app, &headers).await {
        return r;
    }
    match app.store.incident(&id).await {
        Ok(Some((i, findings))) => {
            let mut v = incident_json(&i);
            v["findings"] = Value::Array(
                findings.iter().map(|f| serde_json::from_str(&f.body).unwrap_or(Value::Null)).collect(),
            );
            Json(v).into_response()
        }
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no incident {id:?}")),
        Err(e) => unavailable(e),
    }
}
