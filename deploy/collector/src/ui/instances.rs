//! `/instances`: every instance heard from through heartbeats, newest first, with `silent` ones (no
//! heartbeat for 2.5 intervals, and not a final one) flagged: a runwarden that stopped reporting may
//! have been killed, or its instance frozen.
#![forbid(unsafe_code)]

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::{ago, error_page, esc, page, time, Nav};
use crate::api::read_guard;
use crate::storage::InstanceStatus;
use crate::{model, Shared};

pub async fn page_route(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(r) = read_guard(&app, &headers).await {
        return r;
    }
    let mut list = match app.store.instances().await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "instances page failed");
            return error_page(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable; retry later");
        }
    };
    let now = model::now_us();
    // Silent instances first (they want attention), then live, then ended; newest first within each.
    list.sort_by_key(|i| match i.status(now) {
        InstanceStatus::Silent => 0,
        InstanceStatus::Live => 1,
        InstanceStatus::Ended => 2,
    });
    let count = |st: InstanceStatus| list.iter().filter(|i| i.status(now) == st).count();
    let mut b = String::new();
    let _ = write!(
        b,
        "<h1>Instances</h1><p><span class=\"status-live\">{} live</span> &middot; <span class=\"status-silent\">{} silent</span> \
         &middot; <span class=\"status-ended\">{} ended</span></p>",
        count(InstanceStatus::Live),
        count(InstanceStatus::Silent),
        count(InstanceStatus::Ended)
    );
    b.push_str(
        "<table id=\"instances\"><thead><tr><th>Status</th><th>Instance</th><th>Service</th><th>Revision</th>\
         <th>Last heartbeat</th><th>Interval</th><th>Sensor</th><th>Mode</th><th>Version</th><th>Findings</th>\
         <th>Delivered</th><th>Shed</th><th>Started</th></tr></thead><tbody>",
    );
    for i in &list {
        let st = i.status(now).as_str();
        let counts: Value = serde_json::from_str(&i.counts).unwrap_or(Value::Null);
        let n = |k: &str| counts[k].as_u64().map(|n| n.to_string()).unwrap_or_default();
        let findings_link = match (&i.instance_id, &i.service) {
            (Some(id), _) => format!("/findings?instance={}", super::list::encode_path(id)),
            (None, Some(s)) => format!("/findings?service={}", super::list::encode_path(s)),
            (None, None) => "/findings".to_string(),
        };
        let _ = write!(
            b,
            "<tr class=\"instance-{st}\"><td class=\"status-{st}\">{st}</td><td><a href=\"{}\"><code>{}</code></a></td>\
             <td>{}</td><td>{}</td><td title=\"{}\">{}</td><td>{}s</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td></tr>",
            esc(&findings_link),
            esc(&i.key),
            esc(i.service.as_deref().unwrap_or("")),
            esc(i.revision.as_deref().unwrap_or("")),
            time(i.last_seen_us),
            ago(i.last_seen_us, now),
            i.interval_seconds,
            esc(i.sensor.as_deref().unwrap_or("")),
            esc(i.mode.as_deref().unwrap_or("")),
            esc(i.runwarden_version.as_deref().unwrap_or("")),
            n("findings"),
            n("delivered"),
            n("shed"),
            i.start_time_us.map(time).unwrap_or_default(),
        );
    }
    if list.is_empty() {
        b.push_str("<tr><td colspan=\"13\" class=\"muted\">No heartbeats yet. runwarden sends one every RUNWARDEN_HEARTBEAT (60s by default).</td></tr>");
    }
    b.push_str("</tbody></table>");
    page("Instances", Nav::Instances, &b)
}
