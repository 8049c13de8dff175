//! What a request to `POST /v1/findings` carries, checked: the findings (contract in
//! docs/FINDINGS.md) and the optional heartbeat (docs/HEARTBEAT.md). A finding is kept whole
//! as the JSON it arrived as; the few fields the collector filters on are lifted out into columns.
//!
//! A batch with one bad finding is refused whole with `400`, naming the finding's index and the field:
//! runwarden logs the rejection with the finding ids, and a partial accept would hide the fault.
#![forbid(unsafe_code)]

use serde_json::{Map, Value};

/// The longest `findingId` / `heartbeatId` accepted (a UUID is 36).
pub const MAX_ID_CHARS: usize = 128;
/// The most of a finding's text kept for the text search.
pub const MAX_SEARCH_TEXT_BYTES: usize = 16 << 10;
/// The longest heartbeat interval accepted (a day).
pub const MAX_INTERVAL_SECONDS: i64 = 86_400;

pub use runwarden_contract::{Resource, Severity};

/// A received finding as storage keeps it: decoded into the contract, the columns the collector
/// filters on lifted out, and the JSON as it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFinding {
    pub id: String,
    pub event_time_us: i64,
    pub category: String,
    pub severity: Severity,
    pub resource: Resource,
    pub action: Option<String>,
    pub rule_id: Option<String>,
    pub description: String,
    /// Lower-case text the `q` filter searches.
    pub search_text: String,
    /// The finding as received (re-serialized compactly).
    pub body: String,
}

/// A received heartbeat as storage keeps it (decoded into the contract first).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredHeartbeat {
    pub id: String,
    pub time_us: i64,
    pub start_time_us: Option<i64>,
    pub interval_seconds: i64,
    pub is_final: bool,
    pub runwarden_version: Option<String>,
    pub sensor: Option<String>,
    pub mode: Option<String>,
    pub resource: Resource,
    /// The sender's hostname (a container id under Docker; "localhost" on Cloud Run).
    pub hostname: Option<String>,
    /// The `counts` object as JSON text.
    pub counts: String,
}

impl StoredHeartbeat {
    /// The instance this heartbeat speaks for: `instanceId`; else service+revision, told apart by the
    /// hostname when it means something; else the hostname (a local Docker run: the container id).
    pub fn instance_key(&self) -> String {
        let r = &self.resource;
        let host = self.hostname.as_deref().filter(|h| !h.is_empty() && *h != "localhost");
        match (&r.instance_id, &r.service, host) {
            (Some(id), _, _) => id.clone(),
            (None, Some(s), host) => format!(
                "{s}/{}{}",
                r.revision.as_deref().unwrap_or("-"),
                host.map(|h| format!("@{h}")).unwrap_or_default()
            ),
            (None, None, Some(h)) => h.to_string(),
            (None, None, None) => "(unidentified)".to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DecodedBatch {
    pub findings: Vec<StoredFinding>,
    pub heartbeat: Option<StoredHeartbeat>,
}

/// Why a request body was refused: the reason and, when it is one finding's fault, which one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Rejection {
    pub reason: String,
    pub index: Option<usize>,
    pub field: Option<String>,
}

impl Rejection {
    fn body(reason: impl Into<String>) -> Rejection {
        Rejection { reason: reason.into(), index: None, field: None }
    }

    fn at(index: Option<usize>, field: &str, reason: impl Into<String>) -> Rejection {
        let what = match index {
            Some(i) => format!("findings[{i}].{field}: "),
            None => format!("heartbeat.{field}: "),
        };
        Rejection { reason: what + &reason.into(), index, field: Some(field.to_string()) }
    }
}

/// Parses and checks a (decompressed) request body.
pub fn parse_batch(bytes: &[u8], max_findings: usize) -> Result<DecodedBatch, Rejection> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| Rejection::body(format!("invalid JSON: {e}")))?;
    let Value::Object(mut top) = value else {
        return Err(Rejection::body("the body must be a JSON object {\"findings\": [...]}"));
    };
    let findings = match top.remove("findings") {
        Some(Value::Array(a)) => a,
        Some(Value::Null) | None if top.contains_key("heartbeat") => Vec::new(),
        Some(_) => return Err(Rejection::body("\"findings\" must be an array")),
        None => {
            return Err(Rejection::body("missing \"findings\" (an array, may be empty with a heartbeat)"))
        }
    };
    if findings.len() > max_findings {
        return Err(Rejection::body(format!(
            "{} findings in one request; at most {max_findings} are accepted",
            findings.len()
        )));
    }
    let findings =
        findings.into_iter().enumerate().map(|(i, v)| parse_finding(i, v)).collect::<Result<Vec<_>, _>>()?;
    let heartbeat = match top.remove("heartbeat") {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_heartbeat(v)?),
    };
    Ok(DecodedBatch { findings, heartbeat })
}

fn parse_finding(i: usize, v: Value) -> Result<StoredFinding, Rejection> {
    let Value::Object(obj) = &v else {
        return Err(Rejection {
            reason: format!("findings[{i}]: not a JSON object"),
            index: Some(i),
            field: None,
        });
    };
    let at = |field: &str, reason: &str| Rejection::at(Some(i), field, reason);
    let id = id_field(obj, "findingId").map_err(|r| at("findingId", r))?;
    let category = match obj.get("category") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 200 => s.clone(),
        Some(_) => return Err(at("category", "must be a non-empty string of at most 200 bytes")),
        None => return Err(at("category", "missing")),
    };
    let severity = match obj.get("severity") {
        Some(Value::String(s)) => {
            Severity::parse(s).ok_or_else(|| at("severity", "must be CRITICAL, HIGH, MEDIUM or LOW"))?
        }
        Some(_) => return Err(at("severity", "must be a string")),
        None => return Err(at("severity", "missing")),
    };
    let event_time_us =
        time_field(obj, "eventTime", true).map_err(|r| at("eventTime", r))?.unwrap_or_default();
    let resource = match obj.get("resource") {
        None => Resource::default(),
        Some(r) => parse_resource(r).map_err(|(f, r)| at(&format!("resource.{f}"), r))?,
    };
    let opt = |field: &str| -> Result<Option<String>, Rejection> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(at(field, "must be a string")),
        }
    };
    match obj.get("action") {
        None | Some(Value::Null) => {}
        Some(Value::String(a))
            if ["ALERT", "KILLED", "BLOCKED", "CONTAINER_STOPPED"].contains(&a.as_str()) => {}
        Some(Value::String(_)) => {
            return Err(at("action", "must be ALERT, KILLED, BLOCKED or CONTAINER_STOPPED"))
        }
        Some(_) => return Err(at("action", "must be a string")),
    }
    opt("description")?;
    match obj.get("rule") {
        None => {}
        Some(Value::Object(r)) => match r.get("id") {
            None | Some(Value::String(_)) => {}
            Some(_) => return Err(at("rule.id", "must be a string")),
        },
        Some(_) => return Err(at("rule", "must be an object")),
    }
    for list in ["processes", "ancestors", "connections", "files", "containers"] {
        if let Some(x) = obj.get(list) {
            if !x.is_array() {
                return Err(at(list, "must be an array"));
            }
        }
    }
    // The checks above give the precise errors; the contract gives the structure. Severity is
    // accepted in any case, the contract spells it in capitals.
    let mut canonical = without_nulls(obj);
    canonical.insert("severity".into(), Value::from(severity.as_str()));
    let decoded: runwarden_contract::Finding = serde_json::from_value(Value::Object(canonical))
        .map_err(|e| Rejection { reason: format!("findings[{i}]: {e}"), index: Some(i), field: None })?;
    let search_text = search_text(&v);
    Ok(StoredFinding {
        id,
        event_time_us,
        category,
        severity: decoded.severity,
        resource,
        action: decoded.action.map(|a| a.as_str().to_string()),
        rule_id: has_rule_id(obj).then_some(decoded.rule.id),
        description: decoded.description,
        search_text,
        body: v.to_string(),
    })
}

/// The object without its `null` members: the checks above read `null` as absent, and so does the
/// contract's decoding then.
fn without_nulls(obj: &Map<String, Value>) -> Map<String, Value> {
    obj.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn has_rule_id(obj: &Map<String, Value>) -> bool {
    obj.get("rule").and_then(|r| r.get("id")).is_some()
}

fn parse_heartbeat(v: Value) -> Result<StoredHeartbeat, Rejection> {
    let Value::Object(obj) = &v else {
        return Err(Rejection::body("\"heartbeat\" must be a JSON object"));
    };
    let at = |field: &str, reason: &str| Rejection::at(None, field, reason);
    let id = id_field(obj, "heartbeatId").map_err(|r| at("heartbeatId", r))?;
    let time_us = time_field(obj, "time", true).map_err(|r| at("time", r))?.unwrap_or_default();
    let start_time_us = time_field(obj, "startTime", false).map_err(|r| at("startTime", r))?;
    let interval_seconds = match obj.get("intervalSeconds") {
        Some(Value::Number(n)) => match n.as_i64() {
            Some(s) if (1..=MAX_INTERVAL_SECONDS).contains(&s) => s,
            _ => return Err(at("intervalSeconds", "must be a whole number of seconds from 1 to 86400")),
        },
        Some(_) => return Err(at("intervalSeconds", "must be a number")),
        None => return Err(at("intervalSeconds", "missing")),
    };
    let is_final = match obj.get("final") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(at("final", "must be true or false")),
    };
    let text = |field: &str| -> Result<Option<String>, Rejection> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(at(field, "must be a string")),
        }
    };
    let resource = match obj.get("resource") {
        None => Resource::default(),
        Some(r) => parse_resource(r).map_err(|(f, r)| at(&format!("resource.{f}"), r))?,
    };
    let counts = match obj.get("counts") {
        None | Some(Value::Null) => "{}".to_string(),
        Some(c @ Value::Object(m)) => {
            if let Some((k, _)) = m.iter().find(|(_, v)| v.as_u64().is_none()) {
                return Err(at(&format!("counts.{k}"), "must be a non-negative whole number"));
            }
            c.to_string()
        }
        Some(_) => return Err(at("counts", "must be an object")),
    };
    for field in ["runwardenVersion", "sensor", "mode", "hostname"] {
        text(field)?;
    }
    let decoded: runwarden_contract::Heartbeat = serde_json::from_value(Value::Object(without_nulls(obj)))
        .map_err(|e| Rejection::body(format!("heartbeat: {e}")))?;
    Ok(StoredHeartbeat {
        id,
        time_us,
        start_time_us,
        interval_seconds,
        is_final,
        runwarden_version: decoded.runwarden_version,
        sensor: decoded.sensor,
        mode: decoded.mode,
        resource,
        hostname: decoded.hostname,
        counts,
    })
}

fn id_field(obj: &Map<String, Value>, field: &str) -> Result<String, &'static str> {
    match obj.get(field) {
        Some(Value::String(s))
            if !s.is_empty() && s.chars().count() <= MAX_ID_CHARS && !s.chars().any(char::is_control) =>
        {
            Ok(s.clone())
        }
        Some(_) => Err("must be a string of 1 to 128 printable characters"),
        None => Err("missing"),
    }
}

fn time_field(obj: &Map<String, Value>, field: &str, required: bool) -> Result<Option<i64>, &'static str> {
    match obj.get(field) {
        Some(Value::String(s)) => {
            parse_time(s).map(Some).ok_or("must be an RFC 3339 UTC time like 2026-11-22T23:59:59.123456Z")
        }
        Some(_) => Err("must be a string"),
        None if required => Err("missing"),
        None => Ok(None),
    }
}

fn parse_resource(v: &Value) -> Result<Resource, (String, &'static str)> {
    let Value::Object(obj) = v else {
        return Err((String::new(), "must be an object"));
    };
    let field = |name: &str| match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err((name.to_string(), "must be a string")),
    };
    Ok(Resource {
        project_id: field("projectId")?,
        location: field("location")?,
        service: field("service")?,
        revision: field("revision")?,
        instance_id: field("instanceId")?,
        ..Resource::default()
    })
}

/// RFC 3339 in UTC (`Z`), with or without fractional seconds, to microseconds since the epoch.
pub fn parse_time(s: &str) -> Option<i64> {
    let t = humantime::parse_rfc3339(s).ok()?;
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).ok(),
        Err(e) => i64::try_from(e.duration().as_micros()).ok().map(|us| -us),
    }
}

/// 9999-12-31T23:59:59.999999Z in microseconds: the last instant RFC 3339 writes (four-digit years).
const MAX_RFC3339_US: i64 = 253_402_300_799_999_999;

/// Microseconds since the epoch to RFC 3339 UTC with microseconds (the contract's form). Clamped to
/// 1970..=9999: humantime panics before the epoch and its Display fails past year 9999.
pub fn format_time(us: i64) -> String {
    let us = us.clamp(0, MAX_RFC3339_US);
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_micros(us as u64);
    humantime::format_rfc3339_micros(t).to_string()
}

pub fn now_us() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Every string in the finding (ids, names, paths, arguments, addresses), lower-cased, so the text
/// filter finds a finding by anything it shows; bounded by [`MAX_SEARCH_TEXT_BYTES`].
fn search_text(v: &Value) -> String {
    fn walk(v: &Value, out: &mut String) {
        if out.len() >= MAX_SEARCH_TEXT_BYTES {
            return;
        }
        match v {
            Value::String(s) => {
                out.push_str(&s.to_lowercase());
                out.push('\n');
            }
            Value::Number(n) => {
                out.push_str(&n.to_string());
                out.push('\n');
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(m) => m.values().for_each(|x| walk(x, out)),
            Value::Bool(_) | Value::Null => {}
        }
    }
    let mut out = String::new();
    walk(v, &mut out);
    if out.len() > MAX_SEARCH_TEXT_BYTES {
        let mut cut = MAX_SEARCH_TEXT_BYTES;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn format_time_clamps_instead_of_panicking() {
        // Found by props::time_never_panics: humantime's Display failed past 9999 (a panic in to_string).
        assert_eq!(format_time(i64::MAX), "9999-12-31T23:59:59.999999Z");
        assert_eq!(format_time(-1), "1970-01-01T00:00:00.000000Z");
    }

    fn finding(id: &str) -> Value {
        json!({
            "findingId": id, "category": "Reverse Shell", "severity": "CRITICAL",
            "eventTime": "2026-11-22T23:59:59.123456Z", "description": "sh with a socket on stdin",
            "processes": [{"name": "sh", "args": ["/bin/sh", "-i"]}],
            "resource": {"service": "api", "revision": "api-00001-abc", "instanceId": "i-1"},
            "rule": {"id": "reverse_shell_stdio_socket"}
        })
    }

    #[test]
    fn a_good_batch() {
        let body = json!({"findings": [finding("a"), finding("b")]}).to_string();
        let b = parse_batch(body.as_bytes(), 10).unwrap();
        assert_eq!(b.findings.len(), 2);
        let f = &b.findings[0];
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(f.event_time_us, 1_795_391_999_123_456);
        assert_eq!(format_time(f.event_time_us), "2026-11-22T23:59:59.123456Z");
        assert_eq!(f.resource.service.as_deref(), Some("api"));
        assert_eq!(f.rule_id.as_deref(), Some("reverse_shell_stdio_socket"));
        assert!(f.search_text.contains("/bin/sh") && f.search_text.contains("reverse shell"));
        assert!(b.heartbeat.is_none());
    }

    #[test]
    fn one_bad_finding_names_index_and_field() {
        let mut bad = finding("b");
        bad["severity"] = json!("SEVERE");
        let body = json!({"findings": [finding("a"), bad]}).to_string();
        let r = parse_batch(body.as_bytes(), 10).unwrap_err();
        assert_eq!(r.index, Some(1));
        assert_eq!(r.field.as_deref(), Some("severity"));
        assert!(r.reason.starts_with("findings[1].severity"), "{}", r.reason);
        for (field, value) in
            [("findingId", json!(7)), ("eventTime", json!("yesterday")), ("category", json!(""))]
        {
            let mut bad = finding("x");
            bad[field] = value;
            let r = parse_batch(json!({"findings": [bad]}).to_string().as_bytes(), 10).unwrap_err();
            assert_eq!(r.field.as_deref(), Some(field));
        }
    }

    #[test]
    fn bodies_that_are_not_batches() {
        for body in ["", "[]", "{\"findings\": 3}", "{}", "{\"findings\": [1]}", "{\"findings\": [] "] {
            assert!(parse_batch(body.as_bytes(), 10).is_err(), "{body}");
        }
        let many = json!({"findings": (0..11).map(|i| finding(&i.to_string())).collect::<Vec<_>>()});
        assert!(parse_batch(many.to_string().as_bytes(), 10).unwrap_err().reason.contains("at most 10"));
    }

    #[test]
    fn heartbeat_only() {
        let body = json!({"findings": [], "heartbeat": {
            "heartbeatId": "h1", "time": "2026-11-22T10:00:00.000001Z", "startTime": "2026-11-22T09:00:00Z",
            "intervalSeconds": 60, "final": false, "runwardenVersion": "0.1.0", "sensor": "ptrace",
            "mode": "detect", "resource": {"service": "api", "revision": "api-1"},
            "counts": {"events": 5, "findings": 1, "delivered": 1, "retries": 0, "shed": 0, "spooled": 0, "rejected": 0}
        }});
        let b = parse_batch(body.to_string().as_bytes(), 10).unwrap();
        let h = b.heartbeat.unwrap();
        assert_eq!(h.instance_key(), "api/api-1");
        assert_eq!(h.interval_seconds, 60);
        // The hostname tells instances apart where the resource cannot; Cloud Run's "localhost" does not.
        let mut named = body.clone();
        named["heartbeat"]["hostname"] = json!("3f2a9c1b7d0e");
        let h = parse_batch(named.to_string().as_bytes(), 10).unwrap().heartbeat.unwrap();
        assert_eq!(h.instance_key(), "api/api-1@3f2a9c1b7d0e");
        named["heartbeat"]["hostname"] = json!("localhost");
        let h = parse_batch(named.to_string().as_bytes(), 10).unwrap().heartbeat.unwrap();
        assert_eq!(h.instance_key(), "api/api-1");
        named["heartbeat"]["resource"] = json!({});
        named["heartbeat"]["hostname"] = json!("3f2a9c1b7d0e");
        let h = parse_batch(named.to_string().as_bytes(), 10).unwrap().heartbeat.unwrap();
        assert_eq!(h.instance_key(), "3f2a9c1b7d0e");
        let mut bad = body.clone();
        bad["heartbeat"]["intervalSeconds"] = json!(0);
        let r = parse_batch(bad.to_string().as_bytes(), 10).unwrap_err();
        assert_eq!(r.field.as_deref(), Some("intervalSeconds"));
        assert_eq!(r.index, None);
    }
}
