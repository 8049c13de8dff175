//! `/findings`: the filter form, counts by severity and category (each a link that narrows the list),
//! the severity trend of the window, the page of findings newest first, paging and export links that
//! keep the filter.
#![forbid(unsafe_code)]

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::html;

use super::text::{encode_path, short};
use super::{error_page, page, time, Nav};
use crate::api::read_guard;
use crate::model::{self, Severity};
use crate::storage::query::{cursor, encode_params, FindingFilter};
use crate::Shared;

/// The time windows offered by the form.
const SINCE_CHOICES: [(&str, &str); 5] = [
    ("", "any time"),
    ("1h", "last hour"),
    ("24h", "last 24 hours"),
    ("7d", "last 7 days"),
    ("30d", "last 30 days"),
];

pub async fn page_handler(app: Shared, headers: HeaderMap, params: Vec<(String, String)>) -> Response {
    if let Err(r) = read_guard(&app, &headers).await {
        return r;
    }
    let (filter, pg) = match FindingFilter::from_params(&params, model::now_us()) {
        Ok(x) => x,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    // The severity trend above the list: the form's time window when it is one of the trend windows.
    let since_param = params.iter().rev().find(|(k, _)| k == "since").map(|(_, v)| v.trim()).unwrap_or("");
    let window = crate::trends::Window::parse(since_param).unwrap_or(crate::trends::WINDOWS[1]);
    let (rows, total, counts, categories, trend) = match tokio::try_join!(
        app.store.list(&filter, pg),
        app.store.counts(&filter),
        app.store.categories(),
        app.store.trend(window, filter.service.as_deref(), model::now_us())
    ) {
        Ok(((rows, total), counts, categories, trend)) => (rows, total, counts, categories, trend),
        Err(e) => {
            tracing::error!(error = %e, "findings page failed");
            return error_page(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable; retry later");
        }
    };
    // Links keep the parameters as given (so "since=24h" stays relative), minus the ones they set and
    // the page's cursor (only the "older" link sets one).
    let keep = |drop: &[&str]| -> Vec<(String, String)> {
        params
            .iter()
            .filter(|(k, v)| {
                !v.trim().is_empty() && !drop.contains(&k.as_str()) && k != "format" && k != "before"
            })
            .cloned()
            .collect()
    };
    let raw = |name: &str| {
        params.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_string()).unwrap_or_default()
    };

    let since = raw("since");
    let export = |fmt: &str| {
        let mut p = keep(&["offset", "limit"]);
        p.extend([("format".to_string(), fmt.to_string()), ("limit".to_string(), "10000".to_string())]);
        format!("/v1/findings?{}", encode_params(&p))
    };
    let chip = |drop: &str, value: &str| {
        let mut p = keep(&[drop, "offset"]);
        p.push((drop.into(), value.to_string()));
        format!("/findings?{}", encode_params(&p))
    };
    // Older pages by keyset (`before`: the last row's time and id), so a deep page costs what the first
    // does; newer goes back to the newest page.
    let newest = format!("/findings?{}", encode_params(&keep(&["offset"])));
    let older = rows.last().map(|r| {
        let mut p = keep(&["offset"]);
        p.push(("before".into(), cursor(r.event_time_us, &r.id)));
        format!("/findings?{}", encode_params(&p))
    });
    let paged = pg.offset > 0 || filter.before.is_some();
    let trends_href = match &filter.service {
        Some(svc) => {
            format!(
                "/trends?{}",
                encode_params(&[("window", window.name.to_string()), ("service", svc.clone())])
            )
        }
        None => format!("/trends?window={}", window.name),
    };
    let body = html! {
        h1 { "Findings" }
        (super::incidents::view_switch(false, &params))
        form.filters method="get" action="/findings" #filters {
            label { "Category" select name="category" #f-category {
                option value="" { "any" }
                @for c in &categories { option selected[filter.categories.contains(c)] { (c) } }
            } }
            label { "Severity" select name="severity" #f-severity {
                option value="" { "any" }
                @for sv in Severity::ALL { option selected[filter.severities == [sv]] { (sv.as_str()) } }
            } }
            @for (name, label) in [("service", "Service"), ("revision", "Revision"), ("instance", "Instance")] {
                label { (label) input name=(name) id={ "f-" (name) } value=(raw(name)) size="16"; }
            }
            label { "State" select name="state" #f-state {
                option value="" { "any" }
                @for st in crate::triage::State::ALL { option selected[filter.states == [st.as_str()]] { (st.as_str()) } }
            } }
            label { "Time" select name="since" #f-since {
                @for (v, label) in SINCE_CHOICES { option value=(v) selected[since == v] { (label) } }
                @if !since.is_empty() && !SINCE_CHOICES.iter().any(|(v, _)| *v == since) {
                    option value=(since) selected { "since " (since) }
                }
            } }
            @if !raw("until").is_empty() { input type="hidden" name="until" value=(raw("until")); }
            label { "Text" input name="q" #f-q value=(raw("q")) size="22" placeholder="path, hash, IP, args..."; }
            button type="submit" #apply { "FindingFilter" }
            a href="/findings" { "Clear" }
        }
        div.counts #severity-counts {
            @for (sev, n) in &counts.by_severity {
                a.chip href=(chip("severity", sev)) { span class={ "sev sev-" (sev) } { (sev) } b { (n) } }
            }
        }
        div.counts #category-counts {
            @for (cat, n) in &counts.by_category { a.chip href=(chip("category", cat)) { (cat) b { (n) } } }
        }
        details #list-trend open {
            summary { "Findings by severity, " (window.label) " (" a href=(trends_href) { "trends" } ")" }
            (super::trends::severity_chart(&trend))
        }
        p {
            span #total { (total) } " finding" @if total != 1 { "s" }
            " · export " a href=(export("csv")) { "CSV" } " " a href=(export("json")) { "JSON" }
        }
        table #findings {
            thead { tr { th { "Time" } th { "Severity" } th { "Category" } th { "Service" } th { "Revision" }
                th { "Instance" } th { "Description" } } }
            tbody {
                @for r in &rows {
                    tr {
                        td { (time(r.event_time_us)) }
                        td { span class={ "sev sev-" (r.severity) } { (r.severity) } }
                        td { a.finding href={ "/findings/" (encode_path(&r.id)) } { (r.category) } }
                        td { (r.service.as_deref().unwrap_or("")) }
                        td { (r.revision.as_deref().unwrap_or("")) }
                        td { code { (short(r.instance_id.as_deref().unwrap_or(""), 16)) } }
                        td.desc { (r.description) }
                    }
                }
                @if rows.is_empty() { tr { td colspan="7" .muted { "No findings match." } } }
            }
        }
        div.pager {
            @if paged { a #prev href=(newest) { "← newest" } }
            @if let Some(href) = older.filter(|_| rows.len() as i64 == pg.limit) { a #next href=(href) { "older →" } }
            @if paged {
                span.muted { (rows.len()) " of " (total) }
            } @else {
                span.muted { (1.min(total)) "-" (rows.len()) " of " (total) }
            }
        }
    };
    page("Findings", Nav::Findings, body)
}

pub async fn page_route(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    page_handler(app, headers, params).await
}
