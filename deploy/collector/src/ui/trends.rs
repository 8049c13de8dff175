//! `/trends` (`?window=24h|7d|30d&service=S`): findings over time by severity and by category as stacked
//! bar charts, and the top services and rules, drawn as inline SVG on the server (no JavaScript; each
//! bar has a `<title>`, which browsers show on hover). The findings list shows the severity chart too.
#![forbid(unsafe_code)]

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{html, Markup};

use super::{error_page, page, time, Nav};
use crate::api::read_guard;
use crate::storage::query::encode_params;
use crate::trends::{params, Trend, WINDOWS};
use crate::{model, Shared};

const WIDTH: i64 = 760;
const HEIGHT: i64 = 150;
const LEFT: i64 = 40;
const BOTTOM: i64 = 20;

fn severity_color(s: &str) -> &'static str {
    match s {
        "CRITICAL" => "#a50e0e",
        "HIGH" => "#d93025",
        "MEDIUM" => "#e37400",
        _ => "#5f6368",
    }
}

const PALETTE: [&str; 6] = ["#1a73e8", "#12b5cb", "#9334e6", "#e52592", "#f9ab00", "#80868b"];

/// A stacked bar chart: one bar per bucket, one colour per series (legend below).
pub fn stacked(
    id: &str,
    t: &Trend,
    series: &[(String, Vec<i64>)],
    color: impl Fn(usize, &str) -> String,
) -> Markup {
    let n = t.window.buckets() as i64;
    let totals: Vec<i64> = (0..n as usize).map(|b| series.iter().map(|(_, v)| v[b]).sum()).collect();
    let max = totals.iter().copied().max().unwrap_or(0).max(1);
    let plot_w = WIDTH - LEFT;
    let plot_h = HEIGHT - BOTTOM;
    let bar_w = (plot_w / n).max(2);
    let y = |v: i64| v * plot_h / max;
    let label = |b: i64| time(t.start_us + b * t.window.bucket_us);
    // (x, y, height, colour, tooltip) of each bar segment, stacked from the bottom.
    let mut bars: Vec<(i64, i64, i64, String, String)> = Vec::new();
    for b in 0..n {
        let mut base = 0;
        for (i, (name, values)) in series.iter().enumerate() {
            let v = values[b as usize];
            if v > 0 {
                let h = (y(base + v) - y(base)).max(1);
                let tip = format!("{}: {v} {name}", label(b));
                bars.push((LEFT + b * bar_w + 1, plot_h - y(base) - h, h, color(i, name), tip));
                base += v;
            }
        }
    }
    html! {
        figure.chart {
            svg id=(id) xmlns="http://www.w3.org/2000/svg" width=(WIDTH) height=(HEIGHT) viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" {
                title { "Findings per bucket, " (t.window.label) }
                line x1=(LEFT) y1=(plot_h) x2=(WIDTH) y2=(plot_h) stroke="#dadce0" {}
                text x="0" y="10" font-size="10" fill="#5f6368" { (max) }
                text x="0" y=(plot_h) font-size="10" fill="#5f6368" { "0" }
                @for (x, top, h, fill, tip) in &bars {
                    rect.bar x=(x) y=(top) width=(bar_w - 2) height=(h) fill=(fill) { title { (tip) } }
                }
                text x=(LEFT) y=(HEIGHT - 4) font-size="10" fill="#5f6368" { (label(0)) }
                text x=(WIDTH) y=(HEIGHT - 4) font-size="10" fill="#5f6368" text-anchor="end" { (label(n - 1)) }
            }
            figcaption.legend {
                @for (i, (name, values)) in series.iter().enumerate() {
                    span.key { span.swatch style={ "background:" (color(i, name)) } {} (name) " " b { (values.iter().sum::<i64>()) } }
                }
            }
        }
    }
}

pub fn severity_chart(t: &Trend) -> Markup {
    stacked("chart-severity", t, &t.by_severity, |_, s| severity_color(s).to_string())
}

fn top_table(id: &str, head: &str, rows: &[(String, i64)], link: impl Fn(&str) -> String) -> Markup {
    let max = rows.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1);
    html! {
        table.top id=(id) {
            thead { tr { th { (head) } th { "Findings" } } }
            tbody {
                @for (k, n) in rows {
                    tr { td { a href=(link(k)) { (k) } }
                        td { svg width="120" height="10" { rect x="0" y="0" height="10" width=(n * 120 / max) fill="#1a73e8" {} } " " (n) } }
                }
                @if rows.is_empty() { tr { td colspan="2" .muted { "None in this window." } } }
            }
        }
    }
}

pub async fn page_route(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = read_guard(&app, &headers).await {
        return r;
    }
    let (window, service) = match params(&q) {
        Ok(x) => x,
        Err(reason) => return error_page(StatusCode::BAD_REQUEST, &reason),
    };
    let t = match app.store.trend(window, service.as_deref(), model::now_us()).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "trends page failed");
            return error_page(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable; retry later");
        }
    };
    let findings_link = |extra: Option<(&'static str, &str)>| {
        let mut p: Vec<(&str, String)> = vec![("since", window.name.to_string())];
        if let Some(s) = &service {
            p.push(("service", s.clone()));
        }
        if let Some((k, v)) = extra {
            p.push((k, v.to_string()));
        }
        format!("/findings?{}", encode_params(&p))
    };
    let here = |w: &str, s: Option<&str>| {
        let mut p = vec![("window", w.to_string())];
        if let Some(s) = s {
            p.push(("service", s.to_string()));
        }
        format!("/trends?{}", encode_params(&p))
    };
    let body = html! {
        h1 { "Trends" @if let Some(s) = &service { " for " span #trend-service { (s) } } }
        nav.tabs #windows {
            @for w in WINDOWS {
                a href=(here(w.name, service.as_deref())) class=[(w == window).then_some("on")] { (w.label) }
            }
            @if service.is_some() { a href=(here(window.name, None)) { "all services" } }
        }
        p { span #trend-total { (t.total) } " findings, " (window.label) }
        h2 { "By severity" }
        (severity_chart(&t))
        h2 { "By category" }
        (stacked("chart-category", &t, &t.by_category, |i, _| PALETTE[i % PALETTE.len()].to_string()))
        div.tops {
            div { h2 { "Top services" }
                (top_table("top-services", "Service", &t.top_services, |s| here(window.name, Some(s)))) }
            div { h2 { "Top rules" }
                (top_table("top-rules", "Rule", &t.top_rules, |r| findings_link(Some(("q", r))))) }
        }
        p.muted { "Counted by event time, in buckets of " (t.window.bucket_us / 3_600_000_000) " h; bars show their counts on hover. Findings of a service: "
            a href=(findings_link(None)) { "the list" } "." }
    };
    page("Trends", Nav::Trends, body)
}
