//! Trends: findings over a window (the last 24 hours, 7 days or 30 days) in buckets (an hour, six hours,
//! a day), by severity and by category (the five largest, the rest as "Other"), and the top services
//! and rules. Counted from the counts kept at ingest in each window's bucket size (`finding_counts`,
//! migration 0006), so a chart costs the same with a thousand findings or a million. `GET /v1/trends?window=7d&service=S` gives the
//! numbers; the UI draws them as SVG ([`crate::ui::trends`]). The bucketing here is pure.
#![forbid(unsafe_code)]

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::api::{error, read_guard};
use crate::model::{self, Severity};
use crate::Shared;

pub use crate::storage::HOUR_US;
/// Categories drawn by name; the rest are summed as "Other".
pub const TOP_CATEGORIES: usize = 5;
/// Services and rules listed.
pub const TOP_N: i64 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub name: &'static str,
    pub label: &'static str,
    pub span_us: i64,
    pub bucket_us: i64,
}

pub const WINDOWS: [Window; 3] = [
    Window { name: "24h", label: "last 24 hours", span_us: 24 * HOUR_US, bucket_us: HOUR_US },
    Window { name: "7d", label: "last 7 days", span_us: 7 * 24 * HOUR_US, bucket_us: 6 * HOUR_US },
    Window { name: "30d", label: "last 30 days", span_us: 30 * 24 * HOUR_US, bucket_us: 24 * HOUR_US },
];

impl Window {
    pub fn parse(s: &str) -> Option<Window> {
        WINDOWS.iter().copied().find(|w| w.name == s)
    }

    /// The window's start and end (exclusive) for `now_us`: the end is the next bucket boundary, so
    /// buckets are whole hours or whole UTC days.
    pub fn bounds(&self, now_us: i64) -> (i64, i64) {
        let end = (now_us.div_euclid(self.bucket_us) + 1) * self.bucket_us;
        (end - self.span_us, end)
    }

    pub fn buckets(&self) -> usize {
        (self.span_us / self.bucket_us) as usize
    }
}

/// What the charts draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trend {
    pub window: Window,
    pub start_us: i64,
    pub by_severity: Vec<(String, Vec<i64>)>,
    pub by_category: Vec<(String, Vec<i64>)>,
    pub top_services: Vec<(String, i64)>,
    pub top_rules: Vec<(String, i64)>,
    pub total: i64,
}

/// Builds the series from per-hour counts: `(hour_us, key, n)` by severity and by category.
pub fn build(
    window: Window,
    start_us: i64,
    severity_hours: &[(i64, String, i64)],
    category_hours: &[(i64, String, i64)],
    top_services: Vec<(String, i64)>,
    top_rules: Vec<(String, i64)>,
) -> Trend {
    let n = window.buckets();
    let bucket = |hour: i64| -> Option<usize> {
        let i = (hour - start_us).div_euclid(window.bucket_us);
        (0..n as i64).contains(&i).then_some(i as usize)
    };
    let series = |rows: &[(i64, String, i64)], keys: &[String]| -> Vec<(String, Vec<i64>)> {
        let mut out: Vec<(String, Vec<i64>)> = keys.iter().map(|k| (k.clone(), vec![0; n])).collect();
        for (hour, key, count) in rows {
            let Some(b) = bucket(*hour) else { continue };
            let slot =
                out.iter().position(|(k, _)| k == key).or_else(|| out.iter().position(|(k, _)| k == "Other"));
            if let Some(s) = slot {
                out[s].1[b] += count;
            }
        }
        out
    };
    let severities: Vec<String> = Severity::ALL.iter().map(|s| s.as_str().to_string()).collect();
    let by_severity = series(severity_hours, &severities);
    let total = by_severity.iter().flat_map(|(_, v)| v).sum();
    // The categories with most findings in the window, largest first, then "Other" if any is left.
    let mut sums: Vec<(String, i64)> = Vec::new();
    for (hour, key, count) in category_hours {
        if bucket(*hour).is_none() {
            continue;
        }
        match sums.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 += count,
            None => sums.push((key.clone(), *count)),
        }
    }
    sums.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut keys: Vec<String> = sums.iter().take(TOP_CATEGORIES).map(|(k, _)| k.clone()).collect();
    if sums.len() > TOP_CATEGORIES {
        keys.push("Other".to_string());
    }
    let by_category = series(category_hours, &keys);
    Trend { window, start_us, by_severity, by_category, top_services, top_rules, total }
}

pub fn trend_json(t: &Trend) -> Value {
    let obj = |s: &[(String, Vec<i64>)]| {
        Value::Object(s.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<Map<_, _>>())
    };
    let top = |s: &[(String, i64)], key: &str| {
        s.iter().map(|(k, n)| json!({ key: k, "count": n })).collect::<Vec<_>>()
    };
    json!({
        "window": t.window.name,
        "bucketSeconds": t.window.bucket_us / 1_000_000,
        "buckets": (0..t.window.buckets()).map(|i| model::format_time(t.start_us + i as i64 * t.window.bucket_us)).collect::<Vec<_>>(),
        "total": t.total,
        "bySeverity": obj(&t.by_severity),
        "byCategory": obj(&t.by_category),
        "topServices": top(&t.top_services, "service"),
        "topRules": top(&t.top_rules, "ruleId"),
    })
}

/// `window` (24h, 7d, 30d; default 7d) and `service` from query parameters; unknown ones refused.
pub fn params(params: &[(String, String)]) -> Result<(Window, Option<String>), String> {
    let mut window = WINDOWS[1];
    let mut service = None;
    for (k, v) in params {
        let v = v.trim();
        match k.as_str() {
            "window" if !v.is_empty() => {
                window = Window::parse(v).ok_or_else(|| format!("window={v:?}: expected 24h, 7d or 30d"))?
            }
            "service" if !v.is_empty() => service = Some(v.to_string()),
            "window" | "service" => {}
            _ => return Err(format!("{k}: unknown parameter")),
        }
    }
    Ok((window, service))
}

pub async fn api(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = read_guard(&app, &headers).await {
        return r;
    }
    let (window, service) = match params(&q) {
        Ok(x) => x,
        Err(reason) => return error(StatusCode::BAD_REQUEST, reason),
    };
    match app.store.trend(window, service.as_deref(), model::now_us()).await {
        Ok(t) => Json(trend_json(&t)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "trend query failed");
            error(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable; retry later".to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_end_on_a_bucket_boundary() {
        let day = WINDOWS[2];
        let now = 10 * 24 * HOUR_US + 5 * HOUR_US;
        assert_eq!(day.bounds(now), (-19 * 24 * HOUR_US, 11 * 24 * HOUR_US));
        assert_eq!(day.buckets(), 30);
        assert_eq!(Window::parse("7d").unwrap().buckets(), 28);
        assert!(Window::parse("1y").is_none());
    }

    #[test]
    fn buckets_and_top_categories() {
        let w = WINDOWS[0];
        let start = 0;
        let sev = vec![
            (0, "HIGH".to_string(), 2),
            (HOUR_US, "LOW".to_string(), 1),
            (24 * HOUR_US, "LOW".to_string(), 9),
        ];
        let cats: Vec<(i64, String, i64)> = (0..7).map(|i| (HOUR_US * i, format!("c{i}"), 7 - i)).collect();
        let t = build(w, start, &sev, &cats, vec![], vec![]);
        assert_eq!(t.total, 3, "the hour past the window is not counted");
        assert_eq!(t.by_severity[1], ("HIGH".to_string(), [vec![2], vec![0; 23]].concat()));
        let names: Vec<&str> = t.by_category.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["c0", "c1", "c2", "c3", "c4", "Other"]);
        assert_eq!(t.by_category[5].1[5] + t.by_category[5].1[6], 2 + 1);
        let j = trend_json(&t);
        assert_eq!(j["buckets"].as_array().unwrap().len(), 24);
        assert_eq!(j["bySeverity"]["HIGH"][0], 2);
    }
}
