//! Security Command Center export: each stored finding becomes a finding of a custom SCC source (API v2),
//! and triage state changes follow it there.
//!
//! Flow: ingest writes an outbox row per new finding (`publish`), a state change one per changed finding
//! (`state`), in the same transaction as the change ([`crate::storage::scc`]). The [`worker`] takes due
//! rows (publishes first), calls the API ([`client`]) with an access token of the collector's service
//! account from the metadata server, deletes the row on success, and on a retryable failure (429, 408,
//! 5xx, network; 404 for a state change whose finding is not there yet) pushes it back with capped,
//! jittered exponential backoff. Other 4xx are given up on: the row stays, marked, with the error.
//!
//! Idempotent by finding id: the SCC finding id is the runwarden `findingId` without hyphens (a UUID is
//! then 32 hex digits, what SCC allows), or the first 32 hex digits of its SHA-256 otherwise. A publish
//! is `findings.create` (`?findingId=`); if SCC already has it (409, e.g. a retry after a lost answer),
//! `findings.patch` replaces it with the same content.
//!
//! Mapping ([`scc_finding`]): `category` is runwarden's category; `severity`, `eventTime`,
//! `description`, `externalUri` as sent; `findingClass` THREAT; `resourceName` the Cloud Run service's
//! full resource name; `sourceProperties` the process, its binary and hash, the script excerpt, the
//! rule, the revision and instance. States: ACTIVE/ACKNOWLEDGED -> `ACTIVE`, RESOLVED -> `INACTIVE`
//! (`setState`); MUTED -> `setMute` `MUTED`, and `UNMUTED` when it leaves MUTED.
#![forbid(unsafe_code)]

pub mod client;
pub mod worker;

use serde_json::{json, Map, Value};
use sha2::Digest as _;

/// Script contents sent in `sourceProperties` (SCC findings are for triage; the collector keeps all).
pub const SCRIPT_EXCERPT_BYTES: usize = 4096;
pub const DEFAULT_ENDPOINT: &str = "https://securitycenter.googleapis.com";
pub const DEFAULT_METADATA: &str = "http://metadata.google.internal";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SccConfig {
    /// `organizations/ORG/sources/SOURCE` (or `projects/...`/`folders/...`), without a location.
    pub source: String,
    /// SCC location (data residency): `global` unless the organization uses another.
    pub location: String,
    pub endpoint: String,
    pub metadata: String,
    /// First retry delay; doubled per attempt up to [`worker::MAX_BACKOFF_MS`].
    pub retry_base_ms: u64,
    /// How often the outbox is looked at.
    pub poll_ms: u64,
}

impl SccConfig {
    /// Checks `COLLECTOR_SCC_SOURCE`: `organizations|folders|projects/ID/sources/ID`.
    pub fn new(source: &str, location: Option<&str>) -> Result<SccConfig, String> {
        let parts: Vec<&str> = source.trim_matches('/').split('/').collect();
        let ok = parts.len() == 4
            && matches!(parts[0], "organizations" | "folders" | "projects")
            && parts[2] == "sources"
            && [parts[1], parts[3]]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        if !ok {
            return Err(
                "expected organizations/ORG_ID/sources/SOURCE_ID (gcloud scc sources create prints it)"
                    .into(),
            );
        }
        let location = location.unwrap_or("global").to_string();
        if location.is_empty()
            || !location.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("location: expected global, us, eu or another SCC location".into());
        }
        Ok(SccConfig {
            source: parts.join("/"),
            location,
            endpoint: DEFAULT_ENDPOINT.to_string(),
            metadata: DEFAULT_METADATA.to_string(),
            retry_base_ms: 1000,
            poll_ms: 1000,
        })
    }

    /// `organizations/ORG/sources/SRC/locations/LOC`: the parent of the findings.
    pub fn parent(&self) -> String {
        format!("{}/locations/{}", self.source, self.location)
    }

    pub fn finding_name(&self, finding_id: &str) -> String {
        format!("{}/findings/{}", self.parent(), scc_id(finding_id))
    }
}

/// The SCC finding id for a runwarden `findingId` (alphanumeric, at most 32 characters).
pub fn scc_id(finding_id: &str) -> String {
    let plain: String = finding_id.chars().filter(|c| *c != '-').collect();
    if !plain.is_empty() && plain.len() <= 32 && plain.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return plain;
    }
    let digest = sha2::Sha256::digest(finding_id.as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The Cloud Run service's full resource name: the finding's `resource.name`, else built from its fields.
pub fn resource_name(v: &Value) -> String {
    let r = &v["resource"];
    if !s(r, "name").is_empty() {
        return s(r, "name").to_string();
    }
    match (s(r, "projectId"), s(r, "location"), s(r, "service")) {
        (p, l, svc) if !p.is_empty() && !l.is_empty() && !svc.is_empty() => {
            format!("//run.googleapis.com/projects/{p}/locations/{l}/services/{svc}")
        }
        _ => "runwarden:unidentified".to_string(),
    }
}

/// The v2 `Finding` for a stored runwarden finding (its JSON body); only fields a client may set.
pub fn scc_finding(cfg: &SccConfig, body: &Value) -> Value {
    let mut props = Map::new();
    let mut put = |k: &str, v: Value| {
        if !(v.is_null() || v.as_str() == Some("")) {
            props.insert(k.to_string(), v);
        }
    };
    put("runwardenFindingId", json!(s(body, "findingId")));
    let p = &body["processes"][0];
    put("processName", json!(s(p, "name")));
    put("processPid", p["pid"].clone());
    put(
        "processArgs",
        json!(p["args"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "))),
    );
    put("binaryPath", json!(s(&p["binary"], "path")));
    put("binarySha256", json!(s(&p["binary"], "sha256")));
    put("scriptPath", json!(s(&p["script"], "path")));
    put("scriptSha256", json!(s(&p["script"], "sha256")));
    let contents = s(&p["script"], "contents");
    let mut cut = contents.len().min(SCRIPT_EXCERPT_BYTES);
    while !contents.is_char_boundary(cut) {
        cut -= 1;
    }
    put("scriptExcerpt", json!(&contents[..cut]));
    put("ruleId", json!(s(&body["rule"], "id")));
    put("action", json!(s(body, "action")));
    let r = &body["resource"];
    for (k, field) in [("service", "service"), ("revision", "revision"), ("instanceId", "instanceId")] {
        put(k, json!(s(r, field)));
    }
    put("mitreAttack", body["mitreAttack"].clone());
    if let Some(sp) = body["sourceProperties"].as_object() {
        for (k, v) in sp {
            put(k, v.clone());
        }
    }
    let mut f = json!({
        "parent": cfg.parent(),
        "resourceName": resource_name(body),
        "category": s(body, "category"),
        "severity": s(body, "severity"),
        "findingClass": "THREAT",
        "eventTime": s(body, "eventTime"),
        "sourceProperties": Value::Object(props),
    });
    for key in ["description", "externalUri"] {
        if !s(body, key).is_empty() {
            f[key] = json!(s(body, key));
        }
    }
    f
}

/// SCC's `State` and `Mute` for a runwarden triage state.
pub fn scc_state(state: &str) -> (&'static str, &'static str) {
    match state {
        "RESOLVED" => ("INACTIVE", "UNMUTED"),
        "MUTED" => ("ACTIVE", "MUTED"),
        _ => ("ACTIVE", "UNMUTED"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_sources() {
        assert_eq!(scc_id("0195f3a2-7c1e-7d2b-9c4f-1a2b3c4d5e6f"), "0195f3a27c1e7d2b9c4f1a2b3c4d5e6f");
        let hashed = scc_id("not/a uuid");
        assert_eq!(hashed.len(), 32);
        assert_eq!(hashed, scc_id("not/a uuid"), "stable");
        let c = SccConfig::new("organizations/123/sources/456", None).unwrap();
        assert_eq!(c.finding_name("a-b"), "organizations/123/sources/456/locations/global/findings/ab");
        for bad in [
            "",
            "organizations/123",
            "orgs/1/sources/2",
            "organizations/1/sources/2/extra",
            "organizations/1/sources/a b",
        ] {
            assert!(SccConfig::new(bad, None).is_err(), "{bad}");
        }
        assert!(SccConfig::new("projects/p/sources/1", Some("EU")).is_err());
    }

    #[test]
    fn mapping() {
        let c = SccConfig::new("organizations/1/sources/2", Some("eu")).unwrap();
        let body = json!({
            "findingId": "f", "category": "Reverse Shell", "severity": "CRITICAL", "eventTime": "2026-11-20T10:00:00Z",
            "description": "d", "processes": [{ "name": "sh", "pid": 4, "args": ["sh", "-i"], "binary": { "path": "/bin/sh", "sha256": "ab" },
            "script": { "contents": "é".repeat(3000) } }],
            "resource": { "projectId": "p", "location": "europe-west1", "service": "api" }, "rule": { "id": "r" },
            "sourceProperties": { "sensor": "ptrace" }
        });
        let f = scc_finding(&c, &body);
        assert_eq!(f["parent"], "organizations/1/sources/2/locations/eu");
        assert_eq!(f["resourceName"], "//run.googleapis.com/projects/p/locations/europe-west1/services/api");
        assert_eq!(
            (f["category"].as_str(), f["severity"].as_str()),
            (Some("Reverse Shell"), Some("CRITICAL"))
        );
        let sp = &f["sourceProperties"];
        assert_eq!(
            (sp["processArgs"].as_str(), sp["binarySha256"].as_str(), sp["sensor"].as_str()),
            (Some("sh -i"), Some("ab"), Some("ptrace"))
        );
        assert!(sp["scriptExcerpt"].as_str().unwrap().len() <= SCRIPT_EXCERPT_BYTES);
        assert!(
            sp.get("scriptPath").is_none() && f.get("externalUri").is_none(),
            "absent fields are omitted"
        );
        assert_eq!(scc_state("RESOLVED"), ("INACTIVE", "UNMUTED"));
        assert_eq!(scc_state("MUTED").1, "MUTED");
    }
}
