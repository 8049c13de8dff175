//! `/findings/{id}`: one finding, with a Summary tab (what happened, the process tree, the binary and
//! its VirusTotal link, the script excerpt, connections, files, indicators, next steps) and a JSON tab
//! (the finding exactly as received, pretty-printed). `?tab=json` selects the JSON tab.
#![forbid(unsafe_code)]

use std::fmt::Write as _;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::list::encode_path;
use super::{error_page, esc, page, time, Nav};
use crate::api::read_guard;
use crate::Shared;

/// How much of a script the Summary shows (the JSON tab has all runwarden sent).
const SCRIPT_EXCERPT_LINES: usize = 40;
const SCRIPT_EXCERPT_CHARS: usize = 4000;

pub async fn page_route(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = read_guard(&app, &headers).await {
        return r;
    }
    let f = match app.store.get(&id).await {
        Ok(Some(f)) => f,
        Ok(None) => return error_page(StatusCode::NOT_FOUND, &format!("No finding {id:?}.")),
        Err(e) => {
            tracing::error!(error = %e, "finding page failed");
            return error_page(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable; retry later");
        }
    };
    let v: Value = serde_json::from_str(&f.body).unwrap_or(Value::Null);
    let json_tab = params.iter().any(|(k, val)| k == "tab" && val == "json");
    let href = format!("/findings/{}", encode_path(&f.id));
    let mut b = String::new();
    let _ = write!(
        b,
        "<p><a href=\"/findings\">&larr; Findings</a></p><h1><span class=\"sev sev-{0}\">{0}</span> {1}</h1>\
         <nav class=\"tabs\"><a id=\"tab-summary\" href=\"{2}\"{3}>Summary</a><a id=\"tab-json\" href=\"{2}?tab=json\"{4}>JSON</a></nav>",
        esc(&f.severity),
        esc(&f.category),
        esc(&href),
        if json_tab { "" } else { " class=\"on\"" },
        if json_tab { " class=\"on\"" } else { "" },
    );
    if json_tab {
        let pretty = serde_json::to_string_pretty(&v).unwrap_or_else(|_| f.body.clone());
        let _ = write!(
            b,
            "<section id=\"json\"><p><a href=\"/v1/findings/{}\">Raw JSON</a></p><pre id=\"json-body\">{}</pre></section>",
            esc(&encode_path(&f.id)),
            esc(&pretty)
        );
    } else {
        summary(&mut b, &v, f.event_time_us);
    }
    page(&f.category, Nav::Findings, &b)
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn args(v: &Value) -> String {
    v.get("args")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn row(b: &mut String, label: &str, value: &str) {
    if !value.is_empty() {
        let _ = write!(b, "<dt>{label}</dt><dd>{}</dd>", esc(value));
    }
}

fn summary(b: &mut String, v: &Value, event_time_us: i64) {
    let _ = write!(b, "<section id=\"summary\"><p class=\"desc\">{}</p><dl>", esc(s(v, "description")));
    row(b, "Event time", &time(event_time_us));
    row(b, "Category", s(v, "category"));
    row(b, "Severity", s(v, "severity"));
    row(b, "State", s(v, "state"));
    row(b, "Action", s(v, "action"));
    let rule = &v["rule"];
    row(
        b,
        "Rule",
        &[s(rule, "id"), s(rule, "source")]
            .iter()
            .filter(|x| !x.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join(" from "),
    );
    let m = &v["mitreAttack"];
    let techniques = m["primaryTechniques"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "));
    row(b, "MITRE ATT&CK", format!("{} {}", s(m, "primaryTactic"), techniques.unwrap_or_default()).trim());
    let r = &v["resource"];
    for (label, key) in [
        ("Service", "service"),
        ("Revision", "revision"),
        ("Instance", "instanceId"),
        ("Project", "projectId"),
        ("Location", "location"),
        ("Resource", "name"),
    ] {
        row(b, label, s(r, key));
    }
    if let Some(c) = v["containers"].get(0) {
        row(b, "Image", s(c, "uri"));
        row(b, "Image digest", s(c, "imageId"));
    }
    row(b, "Finding ID", s(v, "findingId"));
    b.push_str("</dl>");

    let processes = v["processes"].as_array().cloned().unwrap_or_default();
    let ancestors = v["ancestors"].as_array().cloned().unwrap_or_default();
    if !processes.is_empty() || !ancestors.is_empty() {
        // Ancestors arrive nearest first; the tree reads from the root down to the process.
        b.push_str("<h2>Process tree</h2><ul class=\"tree\" id=\"process-tree\">");
        let mut depth = 0;
        for a in ancestors.iter().rev() {
            let _ = write!(
                b,
                "<li style=\"padding-left:{}ch\">{} [{}] {}</li>",
                depth * 2,
                if depth > 0 { "└─" } else { "" },
                a["pid"],
                esc(&args_or_path(a))
            );
            depth += 1;
        }
        for p in &processes {
            let _ = write!(
                b,
                "<li style=\"padding-left:{}ch\"><b>{} [{}] {}</b></li>",
                depth * 2,
                if depth > 0 { "└─" } else { "" },
                p["pid"],
                esc(&args_or_path(p))
            );
        }
        b.push_str("</ul>");
    }
    for p in &processes {
        let bin = &p["binary"];
        if bin.is_object() {
            b.push_str("<h2>Binary</h2><dl>");
            row(b, "Path", s(bin, "path"));
            row(b, "SHA-256", s(bin, "sha256"));
            if let Some(n) = bin["size"].as_u64() {
                row(b, "Size", &format!("{n} bytes"));
            }
            b.push_str("</dl>");
        }
        let script = &p["script"];
        if script.is_object() {
            b.push_str("<h2>Script</h2><dl>");
            row(b, "Path", s(script, "path"));
            row(b, "SHA-256", s(script, "sha256"));
            b.push_str("</dl>");
            let contents = s(script, "contents");
            if !contents.is_empty() {
                let excerpt: String =
                    contents.lines().take(SCRIPT_EXCERPT_LINES).collect::<Vec<_>>().join("\n");
                let excerpt: String = excerpt.chars().take(SCRIPT_EXCERPT_CHARS).collect();
                let more = excerpt.len() < contents.trim_end().len() || script["contentsTruncated"] == true;
                let _ =
                    write!(b, "<pre id=\"script\">{}{}</pre>", esc(&excerpt), if more { "\n…" } else { "" });
            }
        }
        if let Some(stdio) = p["stdio"].as_object() {
            b.push_str("<h2>Standard streams</h2><dl>");
            for (k, val) in stdio {
                row(b, k, val.as_str().unwrap_or(""));
            }
            b.push_str("</dl>");
        }
    }
    if let Some(conns) = v["connections"].as_array().filter(|c| !c.is_empty()) {
        b.push_str("<h2>Connections</h2><table id=\"connections\"><tr><th>Protocol</th><th>Source</th><th>Destination</th></tr>");
        for c in conns {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}:{}</td><td>{}:{}</td></tr>",
                esc(s(c, "protocol")),
                esc(s(c, "sourceIp")),
                c["sourcePort"],
                esc(s(c, "destinationIp")),
                c["destinationPort"]
            );
        }
        b.push_str("</table>");
    }
    if let Some(files) = v["files"].as_array().filter(|f| !f.is_empty()) {
        b.push_str("<h2>Files</h2><table><tr><th>Operation</th><th>Path</th><th>SHA-256</th></tr>");
        for f in files {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                esc(s(f, "operation")),
                esc(s(f, "path")),
                esc(s(f, "sha256"))
            );
        }
        b.push_str("</table>");
    }
    let ind = &v["indicator"];
    let mut indicators: Vec<String> = Vec::new();
    for key in ["ipAddresses", "domains", "uris"] {
        indicators
            .extend(ind[key].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string));
    }
    for sig in ind["signatures"].as_array().into_iter().flatten() {
        indicators.extend(sig["yaraRuleSignature"]["yaraRule"].as_str().map(|r| format!("YARA rule {r}")));
        indicators.extend(sig["memoryHashSignature"]["binaryFamily"].as_str().map(|r| format!("family {r}")));
    }
    if !indicators.is_empty() {
        b.push_str("<h2>Indicators</h2><ul>");
        for i in indicators {
            let _ = write!(b, "<li>{}</li>", esc(&i));
        }
        b.push_str("</ul>");
    }
    if let Some(uri) = virustotal(v) {
        let _ = write!(b, "<h2>VirusTotal</h2><p><a id=\"virustotal\" href=\"{0}\" rel=\"noreferrer noopener\" target=\"_blank\">{0}</a></p>", esc(&uri));
    }
    b.push_str("<h2>Next steps</h2><ol id=\"next-steps\">");
    for step in next_steps(s(v, "category"), v) {
        let _ = write!(b, "<li>{}</li>", esc(&step));
    }
    b.push_str("</ol></section>");
}

fn args_or_path(p: &Value) -> String {
    let a = args(p);
    let path = s(&p["binary"], "path");
    match (a.is_empty(), path.is_empty()) {
        (false, true) => a,
        (false, false) => format!("{path}: {a}"),
        (true, false) => path.to_string(),
        (true, true) => s(p, "name").to_string(),
    }
}

/// The finding's `externalUri` when it is VirusTotal's, else one built from the binary's or script's
/// hash (only a 64-hex-digit hash goes into the URL).
fn virustotal(v: &Value) -> Option<String> {
    let uri = s(v, "externalUri");
    if uri.starts_with("https://www.virustotal.com/") {
        return Some(uri.to_string());
    }
    let p = &v["processes"][0];
    [s(&p["binary"], "sha256"), s(&p["script"], "sha256")]
        .into_iter()
        .find(|h| h.len() == 64 && h.bytes().all(|c| c.is_ascii_hexdigit()))
        .map(|h| format!("https://www.virustotal.com/gui/file/{h}"))
}

/// What a responder does next, by the kind of finding (Security Command Center's "next steps" idea).
fn next_steps(category: &str, v: &Value) -> Vec<String> {
    let c = category.to_lowercase();
    let mut out = vec!["Check whether this was expected (a deploy step, someone debugging). If not, treat the instance as compromised.".to_string()];
    if c.contains("shell")
        || c.contains("remote")
        || c.contains("netcat")
        || c.contains("socat")
        || c.contains("listening")
    {
        out.push("Find the peer in Connections and block it at the VPC egress firewall; search the service's request logs around the event time for the request that started it (the exploited endpoint).".into());
    }
    if c.contains("binary")
        || c.contains("library")
        || c.contains("fileless")
        || c.contains("temporary")
        || c.contains("malicious")
    {
        out.push("Look the hash up on VirusTotal and find how the file arrived (a download tool or a write in the findings just before this one).".into());
    }
    if c.contains("credential") || c.contains("metadata token") {
        out.push("Assume the service account's tokens and any secrets the instance could read are exposed: rotate them and review the account's recent API calls in Cloud Audit Logs.".into());
    }
    if c.contains("mining") || c.contains("stratum") {
        out.push("Block the mining pool's address, check CPU use and billing for the service, and find the entry point.".into());
    }
    if c.contains("escape")
        || c.contains("privilege escalation")
        || c.contains("kernel module")
        || c.contains("tampering")
    {
        out.push("Look for other findings from the same instance and revision: an escape or escalation attempt usually follows an earlier foothold.".into());
    }
    if s(v, "action") == "ALERT" {
        out.push("runwarden only reported this (detect mode). If the rule should stop it next time, run with RUNWARDEN_MODE=enforce and a kill action for that rule.".into());
    }
    out.push("Roll out a new revision from a known-good image; Cloud Run replaces the instances, so keep this finding's JSON (the JSON tab) as evidence.".into());
    out
}
