//! `/incidents`: the findings grouped into incidents (one attack, one row), with the same filter form
//! as the findings list; `/incidents/{id}`: one incident, its span, highest severity, categories and a
//! timeline of its findings (each with its process and what it did). Rendered with maud: every value
//! interpolated into the HTML is escaped unless wrapped in `PreEscaped`, which is used for nothing
//! that comes from a finding.
#![forbid(unsafe_code)]

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde_json::Value;

use super::finding::args_or_path;
use super::text::{encode_path, short};
use super::{error_page, page, time, Nav};
use crate::api::read_guard;
use crate::incidents::categories;
use crate::model::{self, Severity};
use crate::storage::query::{encode_params, FindingFilter};
use crate::Shared;

/// "Findings | Incidents": the list page shows one or the other, the filter kept across.
pub fn view_switch(on_incidents: bool, params: &[(String, String)]) -> Markup {
    let keep: Vec<(String, String)> = params
        .iter()
        .filter(|(k, v)| !v.trim().is_empty() && k != "offset" && k != "format" && k != "before")
        .cloned()
        .collect();
    let qs = encode_params(&keep);
    let href = |p: &str| if qs.is_empty() { p.to_string() } else { format!("{p}?{qs}") };
    html! {
        nav.tabs #view {
            a #view-findings href=(href("/findings")) class=[(!on_incidents).then_some("on")] { "Findings" }
            a #view-incidents href=(href("/incidents")) class=[on_incidents.then_some("on")] { "Incidents" }
        }
    }
}

fn sev(s: &str) -> Markup {
    html! { span class={ "sev sev-" (s) } { (s) } }
}

/// What an incident is called: its categories, the first one and how many more.
pub fn title(stored_categories: &str) -> String {
    let cats = categories(stored_categories);
    match cats.len() {
        0 => "Incident".to_string(),
        1 => cats[0].to_string(),
        n => format!("{} and {} more", cats[0], n - 1),
    }
}

pub async fn list_route(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = read_guard(&app, &headers).await {
        return r;
    }
    let (filter, pg) = match FindingFilter::from_params(&params, model::now_us()) {
        Ok(x) => x,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let (rows, total) = match app.store.incidents(&filter, pg).await {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(error = %e, "incidents page failed");
            return error_page(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable; retry later");
        }
    };
    let raw = |name: &str| {
        params.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_string()).unwrap_or_default()
    };
    let at = |offset: i64| {
        let mut p: Vec<(String, String)> = params.iter().filter(|(k, _)| k != "offset").cloned().collect();
        p.push(("offset".into(), offset.to_string()));
        format!("/incidents?{}", encode_params(&p))
    };
    let body = html! {
        h1 { "Incidents" }
        (view_switch(true, &params))
        form.filters method="get" action="/incidents" #filters {
            label { "Severity" select name="severity" #f-severity {
                option value="" { "any" }
                @for s in Severity::ALL {
                    option selected[filter.severities == [s]] { (s.as_str()) }
                }
            } }
            @for (name, label) in [("service", "Service"), ("instance", "Instance"), ("q", "Text")] {
                label { (label) input name=(name) id={ "f-" (name) } value=(raw(name)) size="16"; }
            }
            label { "State" select name="state" #f-state {
                option value="" { "any" }
                @for s in crate::triage::State::ALL {
                    option selected[filter.states == [s.as_str()]] { (s.as_str()) }
                }
            } }
            label { "Since" input name="since" #f-since value=(raw("since")) size="8" placeholder="24h"; }
            button type="submit" #apply { "FindingFilter" }
            a href="/incidents" { "Clear" }
        }
        p { span #total { (total) } " incident" @if total != 1 { "s" } }
        table #incidents {
            thead { tr { th { "Last activity" } th { "Severity" } th { "State" } th { "Incident" } th { "Findings" }
                th { "Service" } th { "Instance" } th { "First seen" } } }
            tbody {
                @for i in &rows {
                    tr.incident {
                        td { (time(i.last_time_us)) }
                        td { (sev(&i.severity)) }
                        td { (super::triage::state_badge(&i.state)) }
                        td { a.incident href={ "/incidents/" (encode_path(&i.id)) } { (title(&i.categories)) } }
                        td.count { (i.finding_count) }
                        td { (i.service.as_deref().unwrap_or("")) }
                        td { code { (short(&i.instance_key, 24)) } }
                        td { (time(i.first_time_us)) }
                    }
                }
                @if rows.is_empty() {
                    tr { td colspan="8" .muted { "No incidents match. Findings stored before incidents existed are only in the findings list." } }
                }
            }
        }
        div.pager {
            @if pg.offset > 0 { a #prev href=(at((pg.offset - pg.limit).max(0))) { "← newer" } }
            @if pg.offset + pg.limit < total { a #next href=(at(pg.offset + pg.limit)) { "older →" } }
        }
    };
    page("Incidents", Nav::Findings, body)
}

pub async fn page_route(State(app): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = read_guard(&app, &headers).await {
        return r;
    }
    let (inc, findings) = match app.store.incident(&id).await {
        Ok(Some(x)) => x,
        Ok(None) => return error_page(StatusCode::NOT_FOUND, &format!("No incident {id:?}.")),
        Err(e) => {
            tracing::error!(error = %e, "incident page failed");
            return error_page(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable; retry later");
        }
    };
    let csrf = super::csrf::Csrf::for_page(&headers);
    let audit = match app.store.audit_of("incident", &inc.id).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "incident page: its audit");
            return error_page(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable; retry later");
        }
    };
    let body = html! {
        p { a href="/incidents" { "← Incidents" } }
        h1 { (sev(&inc.severity)) " " (title(&inc.categories)) }
        dl #incident-summary {
            dt { "State" } dd #incident-state { (super::triage::state_badge(&inc.state)) }
            dt { "Highest severity" } dd #incident-severity { (inc.severity) }
            dt { "Findings" } dd #incident-count { (inc.finding_count) }
            dt { "First" } dd { (time(inc.first_time_us)) }
            dt { "Last" } dd { (time(inc.last_time_us)) }
            dt { "Instance" } dd { code { (inc.instance_key) } }
            @if let Some(s) = &inc.service { dt { "Service" } dd { (s) } }
            @if let Some(r) = &inc.revision { dt { "Revision" } dd { (r) } }
            dt { "Categories" } dd #incident-categories {
                ul { @for c in categories(&inc.categories) { li { (c) } } }
            }
            dt { "Incident ID" } dd { (inc.id) }
        }
        h2 { "Timeline" }
        ol.timeline #timeline {
            @for f in &findings {
                @let v: Value = serde_json::from_str(&f.body).unwrap_or(Value::Null);
                li.event {
                    span.when { (time(f.event_time_us)) } " "
                    (sev(&f.severity)) " "
                    a.finding href={ "/findings/" (encode_path(&f.id)) } { (f.category) }
                    @for p in v["processes"].as_array().into_iter().flatten() {
                        div.proc { code { "[" (p["pid"].to_string()) "] " (args_or_path(p)) } }
                    }
                    div.desc { (f.description) }
                }
            }
        }
    };
    let triage = super::triage::panel("incident", &inc.id, &inc.state, &audit, &csrf);
    csrf.apply(page(&title(&inc.categories), Nav::Findings, html! { (body) (triage) }))
}
