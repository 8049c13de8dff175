//! `/findings`: the filter form, counts by severity and category (each a link that narrows the list),
//! the page of findings newest first, paging and export links that keep the filter.
#![forbid(unsafe_code)]

use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{error_page, esc, page, time, Nav};
use crate::api::read_guard;
use crate::model::{self, Severity};
use crate::storage::query::{encode_params, Filter};
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
    let (filter, pg) = match Filter::from_params(&params, model::now_us()) {
        Ok(x) => x,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let (rows, total, counts, categories) = match tokio::try_join!(
        app.store.list(&filter, pg),
        app.store.counts(&filter),
        app.store.categories()
    ) {
        Ok(((rows, total), counts, categories)) => (rows, total, counts, categories),
        Err(e) => {
            tracing::error!(error = %e, "findings page failed");
            return error_page(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable; retry later");
        }
    };
    // Links keep the parameters as given (so "since=24h" stays relative), minus the ones they set.
    let keep = |drop: &[&str]| -> Vec<(String, String)> {
        params
            .iter()
            .filter(|(k, v)| !v.trim().is_empty() && !drop.contains(&k.as_str()) && k != "format")
            .cloned()
            .collect()
    };
    let raw = |name: &str| {
        params.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_string()).unwrap_or_default()
    };

    let mut b = String::new();
    b.push_str(
        "<h1>Findings</h1><form class=\"filters\" method=\"get\" action=\"/findings\" id=\"filters\">",
    );
    let selected = |on: bool| if on { " selected" } else { "" };
    b.push_str("<label>Category<select name=\"category\" id=\"f-category\"><option value=\"\">any</option>");
    for c in &categories {
        let _ = write!(b, "<option{}>{}</option>", selected(filter.categories.contains(c)), esc(c));
    }
    b.push_str("</select></label><label>Severity<select name=\"severity\" id=\"f-severity\"><option value=\"\">any</option>");
    for s in Severity::ALL {
        let _ = write!(b, "<option{}>{}</option>", selected(filter.severities == [s]), s.as_str());
    }
    b.push_str("</select></label>");
    for (name, label) in [("service", "Service"), ("revision", "Revision"), ("instance", "Instance")] {
        let _ = write!(
            b,
            "<label>{label}<input name=\"{name}\" id=\"f-{name}\" value=\"{}\" size=\"16\"></label>",
            esc(&raw(name))
        );
    }
    let since = raw("since");
    b.push_str("<label>Time<select name=\"since\" id=\"f-since\">");
    for (v, label) in SINCE_CHOICES {
        let _ = write!(b, "<option value=\"{v}\"{}>{label}</option>", selected(since == v));
    }
    if !since.is_empty() && !SINCE_CHOICES.iter().any(|(v, _)| *v == since) {
        let _ = write!(b, "<option value=\"{0}\" selected>since {0}</option>", esc(&since));
    }
    b.push_str("</select></label>");
    if !raw("until").is_empty() {
        let _ = write!(b, "<input type=\"hidden\" name=\"until\" value=\"{}\">", esc(&raw("until")));
    }
    let _ = write!(
        b,
        "<label>Text<input name=\"q\" id=\"f-q\" value=\"{}\" size=\"22\" placeholder=\"path, hash, IP, args...\"></label>\
         <button type=\"submit\" id=\"apply\">Filter</button><a href=\"/findings\">Clear</a></form>",
        esc(&raw("q"))
    );

    b.push_str("<div class=\"counts\" id=\"severity-counts\">");
    for (sev, n) in &counts.by_severity {
        let mut p = keep(&["severity", "offset"]);
        p.push(("severity".into(), sev.clone()));
        let _ = write!(b, "<a class=\"chip\" href=\"/findings?{}\"><span class=\"sev sev-{sev}\">{sev}</span><b>{n}</b></a>", esc(&encode_params(&p)), sev = esc(sev));
    }
    b.push_str("</div><div class=\"counts\" id=\"category-counts\">");
    for (cat, n) in &counts.by_category {
        let mut p = keep(&["category", "offset"]);
        p.push(("category".into(), cat.clone()));
        let _ = write!(
            b,
            "<a class=\"chip\" href=\"/findings?{}\">{}<b>{n}</b></a>",
            esc(&encode_params(&p)),
            esc(cat)
        );
    }
    b.push_str("</div>");

    let exp = keep(&["offset", "limit"]);
    let export = |fmt: &str| {
        let mut p = exp.clone();
        p.extend([("format".to_string(), fmt.to_string()), ("limit".to_string(), "10000".to_string())]);
        format!("/v1/findings?{}", encode_params(&p))
    };
    let _ = write!(
        b,
        "<p><span id=\"total\">{total}</span> finding{} &middot; export <a href=\"{}\">CSV</a> <a href=\"{}\">JSON</a></p>",
        if total == 1 { "" } else { "s" },
        esc(&export("csv")),
        esc(&export("json"))
    );
    b.push_str(
        "<table id=\"findings\"><thead><tr><th>Time</th><th>Severity</th><th>Category</th><th>Service</th>\
         <th>Revision</th><th>Instance</th><th>Description</th></tr></thead><tbody>",
    );
    for r in &rows {
        let _ = write!(
            b,
            "<tr><td>{}</td><td><span class=\"sev sev-{1}\">{1}</span></td><td><a class=\"finding\" href=\"/findings/{2}\">{3}</a></td>\
             <td>{4}</td><td>{5}</td><td><code>{6}</code></td><td class=\"desc\">{7}</td></tr>",
            time(r.event_time_us),
            esc(&r.severity),
            esc(&encode_path(&r.id)),
            esc(&r.category),
            esc(r.service.as_deref().unwrap_or("")),
            esc(r.revision.as_deref().unwrap_or("")),
            esc(&short(r.instance_id.as_deref().unwrap_or(""), 16)),
            esc(&r.description),
        );
    }
    if rows.is_empty() {
        b.push_str("<tr><td colspan=\"7\" class=\"muted\">No findings match.</td></tr>");
    }
    b.push_str("</tbody></table><div class=\"pager\">");
    let at = |offset: i64| {
        let mut p = keep(&["offset"]);
        p.push(("offset".into(), offset.to_string()));
        format!("/findings?{}", encode_params(&p))
    };
    if pg.offset > 0 {
        let _ =
            write!(b, "<a id=\"prev\" href=\"{}\">&larr; newer</a>", esc(&at((pg.offset - pg.limit).max(0))));
    }
    if pg.offset + pg.limit < total {
        let _ = write!(b, "<a id=\"next\" href=\"{}\">older &rarr;</a>", esc(&at(pg.offset + pg.limit)));
    }
    let _ = write!(
        b,
        "<span class=\"muted\">{}-{} of {total}</span></div>",
        (pg.offset + 1).min(total),
        (pg.offset + rows.len() as i64)
    );
    page("Findings", Nav::Findings, &b)
}

pub async fn page_route(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    page_handler(app, headers, params).await
}

/// A path segment, percent-encoded (finding ids are ours to link, but come from senders).
pub fn encode_path(s: &str) -> String {
    encode_params(&[("", s.to_string())]).trim_start_matches('=').to_string()
}

pub fn short(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        s.chars().take(n).collect::<String>() + "…"
    } else {
        s.to_string()
    }
}
