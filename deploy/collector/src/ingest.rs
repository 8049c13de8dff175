//! `POST /v1/findings`: the endpoint contract (docs/FINDINGS.md, heartbeats in docs/HEARTBEAT.md).
//!
//! Answers: `200 {"accepted": N, "duplicates": N, "heartbeat": "recorded" | "duplicate"}`; `401` bad or
//! missing credentials; `413` body over `COLLECTOR_MAX_BODY` or, inflated, over
//! `COLLECTOR_MAX_DECODED`; `415` a content type other than JSON or an encoding other than gzip;
//! `400` anything else wrong with the body, with the reason (and for one bad finding its index and
//! field; the whole batch is refused). Every 4xx is `{"error": "...", ...}`: runwarden logs it and does
//! not retry. `503` only when the database (or Google's keys) fail: runwarden retries with the same
//! `findingId`s, counted as duplicates if they were stored after all.
#![forbid(unsafe_code)]

use std::io::Read as _;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::api::{auth_failure, error};
use crate::{model, Shared};

pub async fn post_findings(State(app): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    if let Err(e) = app.auth.check(&headers).await {
        return auth_failure(&e, false);
    }
    let header_str = |name| {
        headers.get(name).map(|v: &header::HeaderValue| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
    };
    if let Some(ct) = header_str(header::CONTENT_TYPE) {
        if !ct.starts_with("application/json") {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Type {ct:?}: expected application/json"),
            );
        }
    }
    let gzip = match header_str(header::CONTENT_ENCODING).as_deref() {
        None | Some("identity") => false,
        Some("gzip") => true,
        Some(other) => {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Encoding {other:?}: expected gzip or none"),
            )
        }
    };
    let max = app.config.max_body_bytes;
    let too_large =
        || error(StatusCode::PAYLOAD_TOO_LARGE, format!("body larger than {max} bytes (COLLECTOR_MAX_BODY)"));
    if header_str(header::CONTENT_LENGTH).and_then(|l| l.parse::<usize>().ok()).is_some_and(|l| l > max) {
        return too_large();
    }
    let raw = match axum::body::to_bytes(body, max).await {
        Ok(b) => b,
        Err(_) => return too_large(),
    };
    let decoded;
    let bytes: &[u8] = if gzip {
        match inflate(&raw, app.config.max_decoded_bytes) {
            Ok(b) => {
                decoded = b;
                &decoded
            }
            Err((status, reason)) => return error(status, reason),
        }
    } else {
        &raw
    };
    let batch = match model::parse_batch(bytes, app.config.max_batch) {
        Ok(b) => b,
        Err(r) => {
            let mut body = json!({ "error": r.reason });
            if let Some(i) = r.index {
                body["index"] = json!(i);
            }
            if let Some(f) = &r.field {
                body["field"] = json!(f);
            }
            return (StatusCode::BAD_REQUEST, Json(body)).into_response();
        }
    };
    match app.store.ingest(&batch.findings, batch.heartbeat.as_ref(), model::now_us()).await {
        Ok(done) => {
            tracing::debug!(accepted = done.accepted, duplicates = done.duplicates, "ingested");
            let mut body = json!({ "accepted": done.accepted, "duplicates": done.duplicates });
            if let Some(recorded) = done.heartbeat {
                body["heartbeat"] = json!(if recorded { "recorded" } else { "duplicate" });
            }
            (StatusCode::OK, Json(body)).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, findings = batch.findings.len(), "cannot store a batch");
            error(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable; retry later".to_string())
        }
    }
}

/// Inflates a gzip body, refusing more than `max` bytes of output.
fn inflate(raw: &[u8], max: usize) -> Result<Vec<u8>, (StatusCode, String)> {
    let mut out = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    match flate2::read::GzDecoder::new(raw).take(limit).read_to_end(&mut out) {
        Ok(_) if out.len() > max => Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("gzip body inflates to more than {max} bytes (COLLECTOR_MAX_DECODED)"),
        )),
        Ok(_) => Ok(out),
        Err(e) => {
            Err((StatusCode::BAD_REQUEST, format!("Content-Encoding gzip but the body is not gzip: {e}")))
        }
    }
}
