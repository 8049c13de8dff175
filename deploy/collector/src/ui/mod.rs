//! The web UI: server-rendered HTML, no JavaScript, one small stylesheet inline. Pages: the findings list
//! with its filter form and counts ([`list`]), a finding with Summary and JSON tabs ([`finding`]; the
//! tabs are two links, so each is its own URL), and the instances seen through heartbeats
//! ([`instances`]), incidents ([`incidents`]), triage forms and mute rules ([`triage`]), trends
//! ([`trends`]). Pages are maud templates: every interpolated value is HTML-escaped unless wrapped in
//! `PreEscaped`, which only the stylesheet constant is. Finding text is attacker text.
#![forbid(unsafe_code)]

pub mod csrf;
pub mod finding;
pub mod incidents;
pub mod instances;
pub mod list;
pub mod text;
pub mod trends;
pub mod triage;

use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{html, Markup, PreEscaped, DOCTYPE};

pub async fn root() -> Response {
    Redirect::to("/findings").into_response()
}

/// `2026-11-22 23:59:59 UTC` (to the second: the list is for reading; the JSON tab has microseconds).
pub fn time(us: i64) -> String {
    let s = crate::model::format_time(us);
    format!("{} {} UTC", &s[..10], &s[11..19])
}

/// `5s ago`, `3m ago`, `2h ago`, `4d ago`.
pub fn ago(us: i64, now_us: i64) -> String {
    let s = (now_us - us).max(0) / 1_000_000;
    match s {
        0..60 => format!("{s}s ago"),
        60..3600 => format!("{}m ago", s / 60),
        3600..86_400 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Findings,
    Instances,
    Trends,
    Mutes,
}

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#202124;background:#f8f9fa}
header{background:#1a73e8;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:center}
header a{color:#fff;text-decoration:none;opacity:.85}header a.on{opacity:1;font-weight:600;border-bottom:2px solid #fff}
header .brand{font-weight:700;opacity:1}
main{padding:16px 24px;max-width:1400px}
h1{font-size:20px;margin:8px 0 12px}h2{font-size:15px;margin:20px 0 6px}
form.filters{display:flex;flex-wrap:wrap;gap:8px 14px;align-items:end;background:#fff;padding:12px;border:1px solid #dadce0;border-radius:6px}
form.filters label{display:flex;flex-direction:column;font-size:12px;color:#5f6368}
input,select,button{font:inherit;padding:4px 6px}
button{background:#1a73e8;color:#fff;border:0;border-radius:4px;padding:6px 14px;cursor:pointer}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #dadce0}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #eee;vertical-align:top}
th{background:#f1f3f4;font-weight:600;font-size:12px}
td.desc{max-width:520px;overflow-wrap:anywhere}
.sev{display:inline-block;padding:1px 6px;border-radius:3px;font-size:11px;font-weight:700;color:#fff}
.sev-CRITICAL{background:#a50e0e}.sev-HIGH{background:#d93025}.sev-MEDIUM{background:#e37400}.sev-LOW{background:#5f6368}
.counts{display:flex;flex-wrap:wrap;gap:6px;margin:10px 0}
.chip{background:#fff;border:1px solid #dadce0;border-radius:12px;padding:2px 10px;text-decoration:none;color:#202124;font-size:12px}
.chip b{margin-left:4px}
.tabs{display:flex;gap:4px;border-bottom:1px solid #dadce0;margin:12px 0}
.tabs a{padding:8px 16px;text-decoration:none;color:#5f6368}.tabs a.on{color:#1a73e8;border-bottom:3px solid #1a73e8;font-weight:600}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;background:#fff;padding:12px;border:1px solid #dadce0;border-radius:6px}
dt{color:#5f6368}dd{margin:0;overflow-wrap:anywhere}
pre{background:#fff;border:1px solid #dadce0;padding:10px;overflow:auto;max-height:640px;font-size:12px}
code{font-size:12px}ul.tree{list-style:none;padding-left:0}ul.tree li{margin:3px 0;font-family:monospace;font-size:12px}
.status-silent{color:#a50e0e;font-weight:700}.status-live{color:#137333}.status-ended{color:#5f6368}
.state{font-size:11px;font-weight:700;padding:1px 6px;border-radius:3px;border:1px solid #dadce0}
.state-active{color:#a50e0e}.state-acknowledged{color:#e37400}.state-resolved{color:#137333}.state-muted{color:#5f6368}
section.triage{margin-top:24px}details{margin:16px 0}summary{cursor:pointer;color:#1a73e8}
figure.chart{margin:8px 0;background:#fff;border:1px solid #dadce0;border-radius:6px;padding:8px;display:inline-block}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;margin-top:4px}.swatch{display:inline-block;width:10px;height:10px;margin-right:4px}
.tops{display:flex;gap:24px;flex-wrap:wrap}table.top{width:auto;min-width:320px}
.muted{color:#5f6368}.pager{margin:10px 0;display:flex;gap:12px}
ol.timeline{background:#fff;border:1px solid #dadce0;border-radius:6px;padding:12px 12px 12px 36px}
ol.timeline li{margin:0 0 10px}ol.timeline .proc code{color:#3c4043}ol.timeline .desc{color:#5f6368;overflow-wrap:anywhere}
";

/// Pages show attacker-controlled text: beside escaping, the browser is told to run no script at all
/// and to load nothing from elsewhere (the styles are inline; the tabs are links).
const SECURITY_HEADERS: [(header::HeaderName, &str); 4] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::CACHE_CONTROL, "no-store"),
];

/// The page around a body: head, stylesheet, header with the navigation.
pub fn page(title: &str, nav: Nav, body: Markup) -> Response {
    let on = |n: Nav| (n == nav).then_some("on");
    let html = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width,initial-scale=1";
                title { (title) " - runwarden" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    span.brand { "runwarden" }
                    a href="/findings" class=[on(Nav::Findings)] { "Findings" }
                    a href="/instances" class=[on(Nav::Instances)] { "Instances" }
                    a href="/trends" class=[on(Nav::Trends)] { "Trends" }
                    a href="/mutes" class=[on(Nav::Mutes)] { "Mute rules" }
                }
                main { (body) }
            }
        }
    };
    let mut resp = Html(html.into_string()).into_response();
    for (name, value) in SECURITY_HEADERS {
        resp.headers_mut().insert(name, header::HeaderValue::from_static(value));
    }
    resp
}

/// An error page with the status kept.
pub fn error_page(status: axum::http::StatusCode, message: &str) -> Response {
    let body = html! {
        h1 { (status.to_string()) }
        p { (message) }
        p { a href="/findings" { "Back to findings" } }
    };
    (status, page("Error", Nav::Findings, body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(time(1_795_391_999_123_456), "2026-11-22 23:59:59 UTC");
        assert_eq!(ago(0, 90_000_000), "1m ago");
        assert_eq!(ago(0, 2 * 86_400_000_000), "2d ago");
    }
}
