//! The query API: `GET /v1/findings` (filters: `category`, `severity`, `service`, `revision`,
//! `instance`, `since`, `until`, `q`, `state`; `limit`, `offset` or `before` (the `next` cursor of the
//! page before: keyset paging, as fast deep in the list as at its start); `format=json|csv`),
//! `GET /v1/findings/{id}`
//! (the finding as received), `GET /v1/counts` (per category and severity, same filters) and
//! `GET /v1/instances` (from heartbeats, each `live`, `silent` or `ended`). Errors are JSON
//! `{"error": "..."}`; bad parameters are a `400` naming the parameter.
#![forbid(unsafe_code)]

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::auth::AuthError;
use crate::config::ReadAuth;
use crate::storage::query::{cursor, FilterError, FindingFilter, Page};
use crate::storage::Instance;
use crate::{export, model, Shared};

pub fn error(status: StatusCode, reason: String) -> Response {
    (status, Json(json!({ "error": reason }))).into_response()
}

/// `401` (`503` when the failure is ours); `browser` adds the Basic challenge so browsers prompt.
pub fn auth_failure(e: &AuthError, browser: bool) -> Response {
    if e.is_ours() {
        return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
    }
    let mut resp = error(StatusCode::UNAUTHORIZED, e.to_string());
    if browser {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"runwarden-collector\", charset=\"UTF-8\""),
        );
    }
    resp
}

/// Lets a reader through, or answers for them.
pub async fn read_guard(app: &Shared, headers: &HeaderMap) -> Result<(), Response> {
    if app.config.read_auth == ReadAuth::None {
        return Ok(());
    }
    app.auth.check(headers).await.map(|_| ()).map_err(|e| auth_failure(&e, true))
}

pub fn filter_from(params: &[(String, String)]) -> Result<(FindingFilter, Page), FilterError> {
    FindingFilter::from_params(params, model::now_us())
}

/// A read request's credentials, then its filter and page: the common start of the query handlers.
async fn guarded_filter(
    app: &Shared,
    headers: &HeaderMap,
    params: &[(String, String)],
) -> Result<(FindingFilter, Page), Response> {
    read_guard(app, headers).await?;
    filter_from(params).map_err(|e| error(StatusCode::BAD_REQUEST, e.to_string()))
}

fn storage_failure(e: crate::storage::StorageError) -> Response {
    tracing::error!(error = %e, "query failed");
    error(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable; retry later".to_string())
}

pub async fn list_findings(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let (filter, page) = match guarded_filter(&app, &headers, &params).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let format = params.iter().rev().find(|(k, _)| k == "format").map(|(_, v)| v.as_str()).unwrap_or("json");
    if !matches!(format, "json" | "csv") {
        return error(StatusCode::BAD_REQUEST, format!("format={format:?}: expected json or csv"));
    }
    let (rows, total) = match app.store.list(&filter, page).await {
        Ok(x) => x,
        Err(e) => return storage_failure(e),
    };
    if format == "csv" {
        return (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"runwarden-findings.csv\""),
            ],
            export::csv(&rows),
        )
            .into_response();
    }
    // The bodies are stored as compact JSON already: spliced in, not parsed and re-serialized.
    let bodies: Vec<&str> = rows.iter().map(|r| r.body.as_str()).collect();
    // `next`: the cursor of the next page (`before=`), when this one is full.
    let next = match rows.last() {
        Some(r) if rows.len() as i64 == page.limit => {
            serde_json::to_string(&cursor(r.event_time_us, &r.id)).unwrap_or_default()
        }
        _ => "null".to_string(),
    };
    let body = format!(
        "{{\"findings\":[{}],\"total\":{total},\"limit\":{},\"offset\":{},\"next\":{next}}}",
        bodies.join(","),
        page.limit,
        page.offset
    );
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub async fn get_finding(State(app): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = read_guard(&app, &headers).await {
        return r;
    }
    match app.store.get(&id).await {
        Ok(Some(f)) => ([(header::CONTENT_TYPE, "application/json")], f.body).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no finding {id:?}")),
        Err(e) => storage_failure(e),
    }
}

pub async fn counts(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let (filter, _) = match guarded_filter(&app, &headers, &params).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match app.store.counts(&filter).await {
        Ok(c) => {
            let obj = |v: &[(String, i64)]| {
                Value::Object(v.iter().map(|(k, n)| (k.clone(), json!(n))).collect::<Map<_, _>>())
            };
            Json(json!({ "total": c.total, "byCategory": obj(&c.by_category), "bySeverity": obj(&c.by_severity) }))
                .into_response()
        }
        Err(e) => storage_failure(e),
    }
}

pub fn instance_json(i: &Instance, now_us: i64) -> Value {
    let mut v = json!({
        "instanceKey": i.key,
        "status": i.status(now_us).as_str(),
        "firstSeen": model::format_time(i.first_seen_us),
        "lastSeen": model::format_time(i.last_seen_us),
        "heartbeatTime": model::format_time(i.heartbeat_time_us),
        "intervalSeconds": i.interval_seconds,
        "final": i.is_final,
        "counts": serde_json::from_str::<Value>(&i.counts).unwrap_or(Value::Null),
    });
    let opt = [
        ("instanceId", &i.instance_id),
        ("projectId", &i.project_id),
        ("location", &i.location),
        ("service", &i.service),
        ("revision", &i.revision),
        ("runwardenVersion", &i.runwarden_version),
        ("sensor", &i.sensor),
        ("mode", &i.mode),
    ];
    for (k, val) in opt {
        if let Some(s) = val {
            v[k] = json!(s);
        }
    }
    if let Some(t) = i.start_time_us {
        v["startTime"] = json!(model::format_time(t));
    }
    v
}

pub async fn instances(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = read_guard(&app, &headers).await {
        return r;
    }
    let status =
        params.iter().find(|(k, _)| k == "status").map(|(_, v)| v.as_str()).filter(|s| !s.is_empty());
    if let Some(s) = status {
        if !matches!(s, "live" | "silent" | "ended") {
            return error(StatusCode::BAD_REQUEST, format!("status={s:?}: expected live, silent or ended"));
        }
    }
    if let Some((k, _)) = params.iter().find(|(k, _)| k != "status") {
        return error(StatusCode::BAD_REQUEST, format!("{k}: unknown parameter"));
    }
    let now = model::now_us();
    match app.store.instances().await {
        Ok(list) => {
            let items: Vec<Value> = list
                .iter()
                .filter(|i| status.is_none_or(|s| i.status(now).as_str() == s))
                .map(|i| instance_json(i, now))
                .collect();
            Json(json!({ "instances": items })).into_response()
        }
        Err(e) => storage_failure(e),
    }
}

pub async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such endpoint".to_string())
}
