//! What the HTTP sink puts on the wire.
//!
//! - native (`https://...`): `{"findings": [ ... ], "heartbeat": {...}}`, each finding exactly the
//!   contract of docs/FINDINGS.md, the heartbeat (`heartbeat`) only when one is due.
//! - falco (`falco+https://...`): falcosidekick's input, one event per request (`POST /` of
//!   falcosidekick decodes one `types.FalcoPayload` and refuses it with a 400 unless `priority` is one
//!   of Falco's names, `rule` is not empty, `time` is an RFC 3339 time and `output_fields` is not
//!   empty): `uuid` (the findingId; falcosidekick assigns its own), `time` (the eventTime), `rule`
//!   (the category), `priority` (CRITICAL -> Critical, HIGH -> Error, MEDIUM -> Warning, LOW ->
//!   Notice), `output` (Falco's layout: `HH:MM:SS.nnnnnnnnn: Priority text`, which falcosidekick's
//!   OUTPUTFIELDFORMAT reshapes), `output_fields` (`evt.time` in ns, `proc.*` with numeric pids like
//!   Falco's, `container.*`, `runwarden.*`), `source` "runwarden", `tags` (MITRE tactic and
//!   techniques) and `hostname`. No heartbeat: falcosidekick has no input for one.
#![forbid(unsafe_code)]

use std::io::Write;

use serde_json::{json, Map, Value};

use super::spool::Record;
use runwarden_contract::{Finding, Severity};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Native,
    Falco,
}

/// Cloud Logging severity for a finding severity.
pub fn logging_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "CRITICAL",
        Severity::High => "ERROR",
        Severity::Medium => "WARNING",
        Severity::Low => "NOTICE",
    }
}

/// The stderr line for a finding (without the newline).
pub fn stderr_line(f: &Finding) -> String {
    let mut obj = Map::new();
    obj.insert("severity".into(), Value::from(logging_severity(f.severity)));
    obj.insert("message".into(), Value::from(format!("{}: {}", f.category, f.description)));
    let mut labels = Map::new();
    labels.insert(crate::log::LABELS.0.into(), Value::from(crate::log::LABELS.1));
    labels.insert("runwarden/category".into(), Value::from(f.category.clone()));
    labels.insert("runwarden/severity".into(), Value::from(f.severity.as_str()));
    obj.insert("logging.googleapis.com/labels".into(), Value::Object(labels));
    obj.insert("finding".into(), serde_json::to_value(f).unwrap_or(Value::Null));
    Value::Object(obj).to_string()
}

/// The stderr sink's line for a finding that could not be delivered.
pub fn undelivered_line(r: &Record) -> String {
    let finding: serde_json::Value = serde_json::from_str(&r.json).unwrap_or_default();
    let description = finding["description"].as_str().unwrap_or("");
    serde_json::json!({
        "severity": logging_severity(r.severity),
        "message": format!("{}: {}", r.category, description),
        "logging.googleapis.com/labels": {
            crate::log::LABELS.0: crate::log::LABELS.1,
            "runwarden/category": r.category,
            "runwarden/severity": r.severity.as_str(),
            "runwarden/undelivered": "true",
        },
        "finding": finding,
    })
    .to_string()
}

/// `{"findings": [...]}` from findings already serialized, with `"heartbeat": {...}` when given.
pub fn native_body(records: &[Record], heartbeat: Option<&Value>) -> Vec<u8> {
    let len = records.iter().map(|r| r.json.len() + 1).sum::<usize>() + 16;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(b"{\"findings\":[");
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(r.json.as_bytes());
    }
    out.push(b']');
    if let Some(h) = heartbeat {
        out.extend_from_slice(b",\"heartbeat\":");
        out.extend_from_slice(h.to_string().as_bytes());
    }
    out.push(b'}');
    out
}

/// Falco's priority for a finding severity.
pub fn falco_priority(severity: &str) -> &'static str {
    match severity {
        "CRITICAL" => "Critical",
        "HIGH" => "Error",
        "MEDIUM" => "Warning",
        "LOW" => "Notice",
        _ => "Informational",
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// One falcosidekick event for a finding.
pub fn falco_event(finding: &Value, hostname: &str) -> Value {
    let category = finding["category"].as_str().filter(|c| !c.is_empty()).unwrap_or("runwarden finding");
    // falcosidekick refuses an event without a time; a finding always has one, but not a garbled one.
    let parsed = finding["eventTime"].as_str().and_then(|t| humantime::parse_rfc3339(t).ok());
    let time = parsed.unwrap_or_else(std::time::SystemTime::now);
    let priority = falco_priority(finding["severity"].as_str().unwrap_or(""));
    let proc0 = &finding["processes"][0];
    let mut fields = Map::new();
    let nanos = time.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    fields.insert("evt.time".into(), Value::from(nanos));
    for (k, v) in [("proc.pid", &proc0["pid"]), ("proc.ppid", &proc0["parentPid"])] {
        if let Some(n) = v.as_u64() {
            fields.insert(k.into(), Value::from(n));
        }
    }
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            fields.insert(k.into(), Value::from(v));
        }
    };
    put("proc.name", text(&proc0["name"]));
    put("proc.exepath", text(&proc0["binary"]["path"]));
    let cmdline =
        proc0["args"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "));
    put("proc.cmdline", cmdline.filter(|s| !s.is_empty()));
    let resource = &finding["resource"];
    put("container.id", text(&resource["instanceId"]).or_else(|| Some(hostname.to_string())));
    put("container.name", text(&resource["service"]).or_else(|| text(&resource["job"])));
    put("runwarden.finding_id", text(&finding["findingId"]));
    put("runwarden.severity", text(&finding["severity"]));
    put("runwarden.rule", text(&finding["rule"]["id"]));
    put("runwarden.resource", text(&resource["name"]));
    let mut tags: Vec<Value> = vec!["runwarden".into()];
    if let Some(t) = text(&finding["mitreAttack"]["primaryTactic"]) {
        tags.push(t.to_ascii_lowercase().into());
    }
    for t in finding["mitreAttack"]["primaryTechniques"].as_array().into_iter().flatten() {
        if let Some(t) = t.as_str() {
            tags.push(t.into());
        }
    }
    let description = finding["description"].as_str().unwrap_or("");
    // Falco's layout: "16:31:56.746609046: Error text (fields)"; time of day in UTC.
    let clock = humantime::format_rfc3339_nanos(time).to_string();
    let clock = clock.get(11..29).unwrap_or("00:00:00.000000000");
    let mut output = format!("{clock}: {priority} {category}: {description}");
    for k in ["proc.name", "proc.cmdline", "container.id"] {
        if let Some(v) = fields.get(k).and_then(Value::as_str) {
            output.push_str(&format!(" {k}={v}"));
        }
    }
    let mut event = json!({
        "time": crate::events::rfc3339::format(time),
        "rule": category,
        "priority": priority,
        "output": output,
        "output_fields": fields,
        "source": "runwarden",
        "tags": tags,
        "hostname": hostname,
    });
    if let Some(id) = text(&finding["findingId"]) {
        event["uuid"] = Value::from(id);
    }
    event
}

/// gzip at the default level.
pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc =
        flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(body);
    enc.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn rec(id: &str) -> Record {
        Record {
            id: id.into(),
            severity: runwarden_contract::Severity::High,
            category: "C".into(),
            json: json!({"findingId": id}).to_string(),
        }
    }

    #[test]
    fn native_body_is_the_contract_envelope() {
        let body = native_body(&[rec("a"), rec("b")], None);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v, json!({"findings": [{"findingId": "a"}, {"findingId": "b"}]}));
        let v: Value = serde_json::from_slice(&native_body(&[], None)).unwrap();
        assert_eq!(v, json!({"findings": []}));
        let hb = json!({"heartbeatId": "h", "final": false});
        let v: Value = serde_json::from_slice(&native_body(&[rec("a")], Some(&hb))).unwrap();
        assert_eq!(v, json!({"findings": [{"findingId": "a"}], "heartbeat": hb}));
    }

    #[test]
    fn gzip_round_trips() {
        let body = native_body(&[rec("a")], None);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gzip(&body)[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, body);
    }

    #[test]
    fn falco_event_has_the_fields_falcosidekick_needs() {
        let f = json!({
            "findingId": "f1", "category": "Execution: Netcat Remote Code Execution in Container",
            "severity": "HIGH", "eventTime": "2026-01-02T03:04:05.123456789Z", "description": "nc -e",
            "processes": [{"name": "nc", "pid": 42, "parentPid": 7, "args": ["nc", "-e", "/bin/sh"],
                           "binary": {"path": "/usr/bin/nc"}}],
            "mitreAttack": {"primaryTactic": "EXECUTION", "primaryTechniques": ["T1059"]},
            "resource": {"name": "//run.googleapis.com/x", "service": "svc"},
            "rule": {"id": "exec.netcat", "source": "builtin"},
        });
        let e = falco_event(&f, "host-1");
        assert_eq!(e["priority"], "Error");
        assert_eq!(e["rule"], f["category"]);
        assert_eq!(e["time"], "2026-01-02T03:04:05.123456Z");
        assert_eq!(e["uuid"], "f1");
        assert_eq!(e["output_fields"]["evt.time"], 1_767_323_045_123_456_789u64);
        assert_eq!(e["source"], "runwarden");
        assert_eq!(e["hostname"], "host-1");
        assert_eq!(e["output_fields"]["proc.name"], "nc");
        assert_eq!(e["output_fields"]["proc.cmdline"], "nc -e /bin/sh");
        assert_eq!(e["output_fields"]["proc.pid"], 42);
        assert_eq!(e["output_fields"]["proc.ppid"], 7);
        assert!(e["output"].as_str().unwrap().starts_with("03:04:05.123456789: Error Execution: Netcat"));
        assert_eq!(e["output_fields"]["container.id"], "host-1");
        assert_eq!(e["output_fields"]["container.name"], "svc");
        assert!(e["output"].as_str().unwrap().contains("proc.cmdline=nc -e /bin/sh"));
        assert_eq!(e["tags"], json!(["runwarden", "execution", "T1059"]));
        // A summary finding without processes still has non-empty output and output_fields.
        let e = falco_event(&json!({"category": "Runwarden: Findings Shed", "severity": "LOW"}), "h");
        assert_eq!(e["priority"], "Notice");
        assert!(!e["output"].as_str().unwrap().is_empty());
        assert!(!e["output_fields"].as_object().unwrap().is_empty());
        for (s, p) in [("CRITICAL", "Critical"), ("MEDIUM", "Warning"), ("LOW", "Notice")] {
            assert_eq!(falco_priority(s), p);
        }
    }
}
