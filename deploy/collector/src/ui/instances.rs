//! `/instances`: every instance heard from through heartbeats, newest first, with `silent` ones (no
//! heartbeat for 2.5 intervals, and not a final one) flagged: a runwarden that stopped reporting may
//! have been killed, or its instance frozen.
#![forbid(unsafe_code)]

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::html;
use serde_json::Value;

use super::{ago, error_page, page, time, Nav};
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
    let findings_link = |i: &crate::storage::Instance| match (&i.instance_id, &i.service) {
        (Some(id), _) => format!("/findings?instance={}", super::text::encode_path(id)),
        (None, Some(s)) => format!("/findings?service={}", super::text::encode_path(s)),
        (None, None) => "/findings".to_string(),
    };
    let body = html! {
        h1 { "Instances" }
        p {
            span.status-live { (count(InstanceStatus::Live)) " live" } " · "
            span.status-silent { (count(InstanceStatus::Silent)) " silent" } " · "
            span.status-ended { (count(InstanceStatus::Ended)) " ended" }
        }
        table #instances {
            thead { tr { th { "Status" } th { "Instance" } th { "Service" } th { "Revision" } th { "Last heartbeat" }
                th { "Interval" } th { "Sensor" } th { "Mode" } th { "Version" } th { "Findings" } th { "Delivered" }
                th { "Shed" } th { "Started" } } }
            tbody {
                @for i in &list {
                    @let st = i.status(now).as_str();
                    @let counts: Value = serde_json::from_str(&i.counts).unwrap_or(Value::Null);
                    @let n = |k: &str| counts[k].as_u64().map(|n| n.to_string()).unwrap_or_default();
                    tr class={ "instance-" (st) } {
                        td class={ "status-" (st) } { (st) }
                        td { a href=(findings_link(i)) { code { (i.key) } } }
                        td { (i.service.as_deref().unwrap_or("")) }
                        td { (i.revision.as_deref().unwrap_or("")) }
                        td title=(time(i.last_seen_us)) { (ago(i.last_seen_us, now)) }
                        td { (i.interval_seconds) "s" }
                        td { (i.sensor.as_deref().unwrap_or("")) }
                        td { (i.mode.as_deref().unwrap_or("")) }
                        td { (i.runwarden_version.as_deref().unwrap_or("")) }
                        td { (n("findings")) } td { (n("delivered")) } td { (n("shed")) }
                        td { (i.start_time_us.map(time).unwrap_or_default()) }
                    }
                }
                @if list.is_empty() {
                    tr { td colspan="13" .muted { "No heartbeats yet. runwarden sends one every RUNWARDEN_HEARTBEAT (60s by default)." } }
                }
            }
        }
    };
    page("Instances", Nav::Instances, body)
}
