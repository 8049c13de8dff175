//! `/findings/{id}`: one finding, with a Summary tab (what happened, the process tree, the binary and
//! its VirusTotal link, the script excerpt, connections, files, indicators, next steps) and a JSON tab
//! (the finding exactly as received, pretty-printed). `?tab=json` selects the JSON tab.
#![forbid(unsafe_code)]

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde_json::Value;

use super::text::encode_path;
use super::{error_page, page, time, Nav};
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
    let triage = tokio::try_join!(
        app.store.incident_of(&f.id),
        app.store.state_of("finding", &f.id),
        app.store.audit_of("finding", &f.id)
    );
    let (incident, state, audit) = match triage {
        Ok((i, s, a)) => (i, s.unwrap_or_default(), a),
        Err(e) => {
            tracing::error!(error = %e, "finding page: its incident and triage");
            return error_page(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable; retry later");
        }
    };
    let href = format!("/findings/{}", encode_path(&f.id));
    let csrf = super::csrf::Csrf::for_page(&headers);
    let body = html! {
        p { a href="/findings" { "← Findings" } }
        h1 { span class={ "sev sev-" (f.severity) } { (f.severity) } " " (f.category) }
        nav.tabs {
            a #tab-summary href=(href) class=[(!json_tab).then_some("on")] { "Summary" }
            a #tab-json href={ (href) "?tab=json" } class=[json_tab.then_some("on")] { "JSON" }
        }
        @if let Some(i) = &incident {
            p #incident-link { "Part of " a href={ "/incidents/" (encode_path(i)) } { "an incident" } " (its timeline)." }
        }
        @if json_tab {
            section #json {
                p { a href={ "/v1/findings/" (encode_path(&f.id)) } { "Raw JSON" } }
                pre #json-body { (serde_json::to_string_pretty(&v).unwrap_or_else(|_| f.body.clone())) }
            }
        } @else {
            (summary(&v, f.event_time_us))
            (super::triage::panel("finding", &f.id, &state, &audit, &csrf))
            (super::triage::mute_form(&f.category, f.service.as_deref().unwrap_or(""), s(&v["rule"], "id"), &csrf))
        }
    };
    csrf.apply(page(&f.category, Nav::Findings, body))
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

/// A `<dt>`/`<dd>` pair, left out when the value is empty (fields that do not apply are omitted).
fn row(label: &str, value: &str) -> Markup {
    html! { @if !value.is_empty() { dt { (label) } dd { (value) } } }
}

fn summary(v: &Value, event_time_us: i64) -> Markup {
    let rule = &v["rule"];
    let rule_text = [s(rule, "id"), s(rule, "source")]
        .iter()
        .filter(|x| !x.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(" from ");
    let m = &v["mitreAttack"];
    let techniques = m["primaryTechniques"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    let mitre = format!("{} {}", s(m, "primaryTactic"), techniques);
    let r = &v["resource"];
    let processes = v["processes"].as_array().cloned().unwrap_or_default();
    let ancestors = v["ancestors"].as_array().cloned().unwrap_or_default();
    let container = &v["containers"][0];
    let mut indicators: Vec<String> = Vec::new();
    let ind = &v["indicator"];
    for key in ["ipAddresses", "domains", "uris"] {
        indicators
            .extend(ind[key].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string));
    }
    for sig in ind["signatures"].as_array().into_iter().flatten() {
        indicators.extend(sig["yaraRuleSignature"]["yaraRule"].as_str().map(|r| format!("YARA rule {r}")));
        indicators.extend(sig["memoryHashSignature"]["binaryFamily"].as_str().map(|r| format!("family {r}")));
    }
    let conns = v["connections"].as_array().cloned().unwrap_or_default();
    let files = v["files"].as_array().cloned().unwrap_or_default();
    // Ancestors arrive nearest first; the tree reads from the root down to the process.
    let depth0 = ancestors.len();
    html! {
        section #summary {
            p.desc { (s(v, "description")) }
            dl {
                (row("Event time", &time(event_time_us)))
                (row("Category", s(v, "category")))
                (row("Severity", s(v, "severity")))
                (row("State", s(v, "state")))
                (row("Action", s(v, "action")))
                (row("Rule", &rule_text))
                (row("MITRE ATT&CK", mitre.trim()))
                @for (label, key) in [("Service", "service"), ("Revision", "revision"), ("Instance", "instanceId"),
                    ("Project", "projectId"), ("Location", "location"), ("Resource", "name")] {
                    (row(label, s(r, key)))
                }
                @if container.is_object() {
                    (row("Image", s(container, "uri")))
                    (row("Image digest", s(container, "imageId")))
                }
                (row("Finding ID", s(v, "findingId")))
            }
            @if !processes.is_empty() || !ancestors.is_empty() {
                h2 { "Process tree" }
                ul.tree #process-tree {
                    @for (depth, a) in ancestors.iter().rev().enumerate() {
                        li style={ "padding-left:" (depth * 2) "ch" } {
                            @if depth > 0 { "└─" } " [" (a["pid"].to_string()) "] " (args_or_path(a))
                        }
                    }
                    @for p in &processes {
                        li style={ "padding-left:" (depth0 * 2) "ch" } {
                            b { @if depth0 > 0 { "└─" } " [" (p["pid"].to_string()) "] " (args_or_path(p)) }
                        }
                    }
                }
            }
            @for p in &processes {
                @let bin = &p["binary"];
                @if bin.is_object() {
                    h2 { "Binary" }
                    dl {
                        (row("Path", s(bin, "path")))
                        (row("SHA-256", s(bin, "sha256")))
                        @if let Some(n) = bin["size"].as_u64() { (row("Size", &format!("{n} bytes"))) }
                    }
                }
                @let script = &p["script"];
                @if script.is_object() {
                    h2 { "Script" }
                    dl { (row("Path", s(script, "path"))) (row("SHA-256", s(script, "sha256"))) }
                    @let contents = s(script, "contents");
                    @if !contents.is_empty() {
                        @let excerpt: String = contents.lines().take(SCRIPT_EXCERPT_LINES).collect::<Vec<_>>().join("\n").chars().take(SCRIPT_EXCERPT_CHARS).collect();
                        @let more = excerpt.len() < contents.trim_end().len() || script["contentsTruncated"] == true;
                        pre #script { (excerpt) @if more { "\n…" } }
                    }
                }
                @if let Some(stdio) = p["stdio"].as_object() {
                    h2 { "Standard streams" }
                    dl { @for (k, val) in stdio { (row(k, val.as_str().unwrap_or(""))) } }
                }
            }
            @if !conns.is_empty() {
                h2 { "Connections" }
                table #connections {
                    tr { th { "Protocol" } th { "Source" } th { "Destination" } }
                    @for c in &conns {
                        tr { td { (s(c, "protocol")) }
                            td { (s(c, "sourceIp")) ":" (c["sourcePort"].to_string()) }
                            td { (s(c, "destinationIp")) ":" (c["destinationPort"].to_string()) } }
                    }
                }
            }
            @if !files.is_empty() {
                h2 { "Files" }
                table {
                    tr { th { "Operation" } th { "Path" } th { "SHA-256" } }
                    @for f in &files { tr { td { (s(f, "operation")) } td { (s(f, "path")) } td { code { (s(f, "sha256")) } } } }
                }
            }
            @if !indicators.is_empty() {
                h2 { "Indicators" }
                ul { @for i in &indicators { li { (i) } } }
            }
            @if let Some(uri) = virustotal(v) {
                h2 { "VirusTotal" }
                p { a #virustotal href=(uri) rel="noreferrer noopener" target="_blank" { (uri) } }
            }
            h2 { "Next steps" }
            ol #next-steps { @for step in next_steps(s(v, "category"), v) { li { (step) } } }
        }
    }
}

pub(crate) fn args_or_path(p: &Value) -> String {
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
        .map(runwarden_contract::virustotal_uri)
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
