//! Security Command Center export against a fake SCC v2 API and metadata server on loopback (no Google
//! project is reachable here). The fake checks every request against the v2 REST reference
//! (security-command-center/docs/reference/rest/v2: `organizations.sources.locations.findings` create,
//! patch, setState, setMute; the `Finding` resource's fields, which of them are output only, the enums,
//! the `findingId` rule "alphanumeric, 1 to 32 characters") and the bearer token from the metadata
//! server; any mismatch is recorded and fails the test. It stores the first create of each finding but
//! answers 503 (an answer lost on the way), so every publish is retried, meets 409 and patches.
//! Run against SQLite and PostgreSQL (the outbox is SQL).

mod common;

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::attacks::*;
use common::*;
use runwarden_collector::config::CollectorConfig;
use runwarden_collector::scc::SccConfig;
use serde_json::{json, Value};

const TOKEN: &str = "ya29.test-token";
/// `Finding` fields a client may set (v2 reference), and those that are output only.
const SETTABLE: &[&str] = &[
    "name",
    "parent",
    "resourceName",
    "category",
    "externalUri",
    "sourceProperties",
    "securityMarks",
    "eventTime",
    "severity",
    "findingClass",
    "indicator",
    "vulnerability",
    "externalSystems",
    "mitreAttack",
    "access",
    "connections",
    "processes",
    "contacts",
    "compliances",
    "description",
    "exfiltration",
    "iamBindings",
    "nextSteps",
    "containers",
    "kubernetes",
    "database",
    "files",
    "cloudDlpInspection",
    "cloudDlpDataProfile",
    "kernelRootkit",
    "application",
    "backupDisasterRecovery",
    "securityPosture",
    "logEntries",
    "loadBalancers",
    "cloudArmor",
    "notebook",
    "toxicCombination",
    "groupMemberships",
    "disk",
    "dataAccessEvents",
    "dataFlowEvents",
];
const OUTPUT_ONLY: &[&str] = &[
    "canonicalName",
    "state",
    "mute",
    "muteInfo",
    "createTime",
    "muteUpdateTime",
    "muteInitiator",
    "parentDisplayName",
];
const SEVERITIES: &[&str] = &["SEVERITY_UNSPECIFIED", "CRITICAL", "HIGH", "MEDIUM", "LOW"];
const CLASSES: &[&str] = &[
    "FINDING_CLASS_UNSPECIFIED",
    "THREAT",
    "VULNERABILITY",
    "MISCONFIGURATION",
    "OBSERVATION",
    "SCC_ERROR",
    "POSTURE_VIOLATION",
    "TOXIC_COMBINATION",
];

#[derive(Default)]
struct Fake {
    findings: HashMap<String, Value>,
    calls: Vec<String>,
    violations: Vec<String>,
    token_fetches: usize,
}

type Shared = Arc<Mutex<Fake>>;

fn is_parent(p: &str) -> bool {
    let parts: Vec<&str> = p.split('/').collect();
    parts.len() == 6
        && parts[0] == "organizations"
        && parts[1].bytes().all(|b| b.is_ascii_digit())
        && parts[2] == "sources"
        && parts[3].bytes().all(|b| b.is_ascii_digit())
        && parts[4] == "locations"
        && !parts[5].is_empty()
}

fn finding_id_ok(id: &str) -> bool {
    (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The `Finding` body checks shared by create and patch.
fn check_finding(f: &Value, parent: &str, v: &mut Vec<String>) {
    let Some(obj) = f.as_object() else { return v.push("body is not an object".into()) };
    for k in obj.keys() {
        if OUTPUT_ONLY.contains(&k.as_str()) {
            v.push(format!("output-only field {k} sent"));
        } else if !SETTABLE.contains(&k.as_str()) {
            v.push(format!("unknown Finding field {k}"));
        }
    }
    for required in ["category", "resourceName", "eventTime", "parent"] {
        if f[required].as_str().is_none_or(str::is_empty) {
            v.push(format!("{required} missing"));
        }
    }
    if f["parent"] != parent {
        v.push(format!("parent {} is not the path's {parent}", f["parent"]));
    }
    if !f["severity"].as_str().is_some_and(|s| SEVERITIES.contains(&s)) {
        v.push(format!("severity {} not in the enum", f["severity"]));
    }
    if !f["findingClass"].as_str().is_some_and(|s| CLASSES.contains(&s)) {
        v.push(format!("findingClass {} not in the enum", f["findingClass"]));
    }
    if runwarden_collector::model::parse_time(f["eventTime"].as_str().unwrap_or("")).is_none() {
        v.push(format!("eventTime {} is not RFC 3339", f["eventTime"]));
    }
    if !f["sourceProperties"].is_object() {
        v.push("sourceProperties is not a map".into());
    }
}

fn handle(
    fake: &Shared,
    method: &str,
    target: &str,
    headers: &HashMap<String, String>,
    body: &str,
) -> (u16, Value) {
    let mut st = fake.lock().unwrap();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    st.calls.push(format!("{method} {path}"));
    if path == "/computeMetadata/v1/instance/service-accounts/default/token" {
        if headers.get("metadata-flavor").map(String::as_str) != Some("Google") {
            st.violations.push("token request without Metadata-Flavor: Google".into());
            return (403, json!({}));
        }
        st.token_fetches += 1;
        return (200, json!({ "access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer" }));
    }
    if headers.get("authorization") != Some(&format!("Bearer {TOKEN}")) {
        st.violations.push(format!("{method} {path} without the metadata server's token"));
        return (401, json!({ "error": { "code": 401 } }));
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        st.violations.push(format!("not a v2 path: {path}"));
        return (404, json!({}));
    };
    let Ok(b) = serde_json::from_str::<Value>(body) else {
        st.violations.push(format!("{method} {path}: body is not JSON"));
        return (400, json!({}));
    };
    let mut v = Vec::new();
    let answer = if let Some(parent) = rest.strip_suffix("/findings").filter(|_| method == "POST") {
        let id = query.strip_prefix("findingId=").unwrap_or("");
        if !is_parent(parent) || !finding_id_ok(id) || query.contains('&') {
            v.push(format!("create: bad parent {parent} or findingId {query}"));
        }
        check_finding(&b, parent, &mut v);
        let name = format!("{parent}/findings/{id}");
        match st.findings.entry(name.clone()) {
            std::collections::hash_map::Entry::Occupied(_) => {
                (409, json!({ "error": { "code": 409, "status": "ALREADY_EXISTS" } }))
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                let mut stored = b.clone();
                stored["name"] = json!(name);
                stored["state"] = json!("ACTIVE");
                stored["mute"] = json!("UNDEFINED");
                slot.insert(stored);
                // Stored, but the answer is "lost": the collector must retry, meet 409 and patch.
                (503, json!({ "error": { "code": 503 } }))
            }
        }
    } else if let Some((name, verb)) = rest.rsplit_once(':').filter(|_| method == "POST") {
        let field = match verb {
            "setState" => ("state", &["ACTIVE", "INACTIVE"][..]),
            "setMute" => ("mute", &["MUTED", "UNMUTED", "UNDEFINED"][..]),
            _ => ("", &[][..]),
        };
        let keys: Vec<&String> = b.as_object().map(|o| o.keys().collect()).unwrap_or_default();
        if field.0.is_empty() || keys.len() != 1 || !b[field.0].as_str().is_some_and(|s| field.1.contains(&s))
        {
            v.push(format!("{verb}: body {b} is not {{\"{}\": one of {:?}}}", field.0, field.1));
        }
        match st.findings.get_mut(name) {
            Some(f) => {
                f[field.0] = b[field.0].clone();
                (200, f.clone())
            }
            None => (404, json!({ "error": { "code": 404 } })),
        }
    } else if method == "PATCH" {
        let (parent, id) = rest.rsplit_once("/findings/").unwrap_or(("", ""));
        if !is_parent(parent) || !finding_id_ok(id) || b["name"] != rest {
            v.push(format!("patch: bad name {rest} (body name {})", b["name"]));
        }
        if !query.is_empty() {
            v.push(format!("patch: unexpected query {query} (an empty updateMask replaces all)"));
        }
        check_finding(&b, parent, &mut v);
        let keep = st.findings.get(rest).map(|f| (f["state"].clone(), f["mute"].clone()));
        let mut stored = b.clone();
        let (state, mute) = keep.unwrap_or((json!("ACTIVE"), json!("UNDEFINED")));
        stored["state"] = state;
        stored["mute"] = mute;
        st.findings.insert(rest.to_string(), stored.clone());
        (200, stored)
    } else {
        v.push(format!("no such method: {method} {path}"));
        (404, json!({}))
    };
    st.violations.extend(v);
    answer
}

/// The fake on a loopback port: one thread per connection, HTTP/1.1 with keep-alive.
fn serve(fake: Shared) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let fake = fake.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut w = conn;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut parts = line.split_whitespace();
                    let (method, target) =
                        (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
                    let mut headers = HashMap::new();
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                        }
                    }
                    let len: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    let body = String::from_utf8_lossy(&body).to_string();
                    let (status, answer) =
                        handle(&fake, &method, &target, &headers, if len == 0 { "{}" } else { &body });
                    let text = answer.to_string();
                    let head = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                        text.len()
                    );
                    if w.write_all(head.as_bytes()).and_then(|_| w.write_all(text.as_bytes())).is_err() {
                        return;
                    }
                }
            });
        }
    });
    base
}

fn wait_until(what: &str, fake: &Shared, cond: impl Fn(&Fake) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond(&fake.lock().unwrap()) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; calls: {:?}",
            fake.lock().unwrap().calls
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn scc_name(finding: &Value) -> String {
    let id: String = finding["findingId"].as_str().unwrap().chars().filter(|c| *c != '-').collect();
    format!("organizations/123/sources/456/locations/global/findings/{id}")
}

fn post(c: &Collector, path: &str, body: &Value) -> (u16, Value) {
    read(agent().post(&c.url(path)).set("Content-Type", "application/json").send_string(&body.to_string()))
}

#[test]
fn findings_and_their_states_reach_scc() {
    for db in databases() {
        let name = db.name;
        let fake: Shared = Arc::new(Mutex::new(Fake::default()));
        let base = serve(fake.clone());
        let mut config = CollectorConfig::local(&db.url);
        let mut scc = SccConfig::new("organizations/123/sources/456", None).unwrap();
        (scc.endpoint, scc.metadata, scc.retry_base_ms, scc.poll_ms) = (base.clone(), base, 20, 50);
        config.scc = Some(scc);
        let c = Collector::start_with(config, db.dir);

        let findings = demo("i-1", 0);
        assert_eq!(post_json(&c, &json!({ "findings": findings }), None).0, 200);
        wait_until("5 findings patched after their lost creates", &fake, |f| {
            f.calls.iter().filter(|c| c.starts_with("PATCH")).count() >= 5
        });
        {
            let f = fake.lock().unwrap();
            assert!(f.violations.is_empty(), "{name}: {:?}", f.violations);
            assert_eq!(f.findings.len(), 5, "{name}");
            let creates =
                f.calls.iter().filter(|c| c.starts_with("POST") && c.ends_with("/findings")).count();
            assert_eq!(creates, 10, "{name}: each create retried once (503, then 409)");
            assert_eq!(f.token_fetches, 1, "{name}: the token is kept");
            let sent = &f.findings[&scc_name(&findings[1])];
            assert_eq!(sent["category"], "Defense Evasion: Base64 Encoded Shell Script Executed");
            assert_eq!(
                (sent["severity"].as_str(), sent["eventTime"].as_str()),
                (Some("MEDIUM"), Some("2026-11-20T10:00:02Z"))
            );
            assert_eq!(
                sent["resourceName"],
                "//run.googleapis.com/projects/p/locations/europe-west1/services/api"
            );
            let sp = &sent["sourceProperties"];
            assert_eq!(sp["binarySha256"], "a".repeat(64), "{name}");
            assert!(sp["scriptExcerpt"].as_str().unwrap().contains("uname -a"));
            assert_eq!(sp["processPid"], 11);
            assert_eq!(sp["runwardenFindingId"], findings[1]["findingId"]);
        }
        // Redelivery publishes nothing again.
        let calls = fake.lock().unwrap().calls.len();
        assert_eq!(post_json(&c, &json!({ "findings": findings }), None).1["duplicates"], 5);
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(fake.lock().unwrap().calls.len(), calls, "{name}");

        // Triage: resolved -> INACTIVE; muted -> MUTED; the others stay ACTIVE.
        let f0 = findings[0]["findingId"].as_str().unwrap();
        let f3 = findings[3]["findingId"].as_str().unwrap();
        assert_eq!(post(&c, &format!("/v1/findings/{f0}/state"), &json!({ "state": "RESOLVED" })).0, 200);
        assert_eq!(post(&c, &format!("/v1/findings/{f3}/state"), &json!({ "state": "MUTED" })).0, 200);
        let (n0, n3) = (scc_name(&findings[0]), scc_name(&findings[3]));
        wait_until("the state changes", &fake, |f| {
            f.findings[&n0]["state"] == "INACTIVE" && f.findings[&n3]["mute"] == "MUTED"
        });
        // Reopened: back to ACTIVE and unmuted.
        assert_eq!(post(&c, &format!("/v1/findings/{f0}/state"), &json!({ "state": "ACTIVE" })).0, 200);
        wait_until("the reopening", &fake, |f| {
            f.findings[&n0]["state"] == "ACTIVE" && f.findings[&n0]["mute"] == "UNMUTED"
        });

        // Muted on arrival: published, then muted.
        let rule = json!({ "category": "Reverse Shell", "expires": "1h" });
        assert_eq!(post(&c, "/v1/mutes", &rule).0, 201);
        let shell = finding("Reverse Shell", "CRITICAL", "api", "i-2", "2026-11-20T11:00:00Z");
        assert_eq!(post_json(&c, &json!({ "findings": [shell] }), None).0, 200);
        let ns = scc_name(&shell);
        wait_until("the muted finding", &fake, |f| f.findings.get(&ns).is_some_and(|x| x["mute"] == "MUTED"));

        let f = fake.lock().unwrap();
        assert!(f.violations.is_empty(), "{name}: {:?}", f.violations);
        drop(f);
        let deadline = Instant::now() + Duration::from_secs(10);
        while c.block_on(c.app.store.scc_backlog()).unwrap() != (0, 0) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(c.block_on(c.app.store.scc_backlog()).unwrap(), (0, 0), "{name}: the outbox is empty");
    }
}
