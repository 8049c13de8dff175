//! End to end: the real runwarden binary (built by the workspace) supervises a workload that triggers
//! findings and ships them over HTTP (gzipped, with a bearer token) to a running collector; the
//! collector must hold exactly the findings runwarden also wrote to its file sink, with their
//! categories. Needs root (runwarden traces with ptrace), like the rest of the suite.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use common::*;
use runwarden_collector::config::CollectorConfig;
use serde_json::Value;

const TOKEN: &str = "e2e-token-0123456789abcdef";

/// target/<triple>/release/runwarden, next to this test's deps/ directory.
fn runwarden_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(|deps| deps.parent()).map(|dir| dir.join("runwarden")).unwrap();
    assert!(
        bin.is_file(),
        "{} not found: build the workspace first (cargo build --workspace --release)",
        bin.display()
    );
    bin
}

#[test]
fn runwarden_ships_real_findings_to_the_collector() {
    let runwarden = runwarden_binary();
    let db = sqlite();
    let mut config = CollectorConfig::local(&db.url);
    config.open = false;
    config.tokens = vec![TOKEN.to_string()];
    let c = Collector::start_with(config, db.dir);

    let work = tempfile::tempdir().unwrap();
    let token_file = work.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let file_sink = work.path().join("findings.jsonl");
    let shm = format!("/dev/shm/rwc-e2e-{}", std::process::id());
    let out = Command::new(&runwarden)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("RUNWARDEN_SINKS", format!("{}/v1/findings,file:{}", c.base, file_sink.display()))
        .env("RUNWARDEN_TOKEN_FILE", &token_file)
        .args(["--", "sh", "-c"])
        .arg(format!("echo aWQ= | base64 -d | sh; cp /bin/true {shm} && {shm}; rm -f {shm}"))
        .output()
        .expect("run runwarden");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "runwarden failed: {stderr}");
    assert!(stderr.contains("\"rejected\":0"), "the collector rejected a batch: {stderr}");

    let written: Vec<Value> = std::fs::read_to_string(&file_sink)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (st, stored) = get_json(&c, "/v1/findings?limit=1000");
    assert_eq!(st, 200);
    let ids = |list: &[Value]| {
        list.iter().map(|f| f["findingId"].as_str().unwrap().to_string()).collect::<BTreeSet<_>>()
    };
    let stored = stored["findings"].as_array().unwrap().clone();
    assert!(!written.is_empty());
    assert_eq!(ids(&stored), ids(&written), "the collector holds exactly what runwarden found");
    for w in &written {
        let s = stored.iter().find(|s| s["findingId"] == w["findingId"]).unwrap();
        assert_eq!(s, w, "stored as shipped");
    }
    let categories: BTreeSet<&str> = stored.iter().map(|f| f["category"].as_str().unwrap()).collect();
    for expected in [
        "Privilege Escalation: Fileless Execution in /dev/shm",
        "Defense Evasion: Base64 Encoded Shell Script Executed",
    ] {
        assert!(categories.contains(expected), "{expected} missing from {categories:?}");
    }
    // The demo is one attack: all its findings are one incident (grouped by process lineage).
    let (_, incidents) = get_json(&c, "/v1/incidents");
    assert_eq!(incidents["total"], 1, "one incident for the demo: {incidents}");
    assert_eq!(incidents["incidents"][0]["findingCount"].as_u64(), Some(written.len() as u64), "{incidents}");

    // The final heartbeat at shutdown marks the instance as ended, not silent, with the findings count.
    let (_, instances) = get_json(&c, "/v1/instances");
    let list = instances["instances"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{instances}");
    assert_eq!(
        (&list[0]["status"], &list[0]["final"]),
        (&serde_json::json!("ended"), &serde_json::json!(true))
    );
    assert_eq!(list[0]["counts"]["findings"].as_u64(), Some(written.len() as u64), "{instances}");

    // Filtering works on real findings too.
    let (_, shm_only) = get_json(
        &c,
        "/v1/findings?category=Privilege%20Escalation%3A%20Fileless%20Execution%20in%20%2Fdev%2Fshm",
    );
    assert!(
        shm_only["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["processes"][0]["binary"]["path"] == shm.as_str()),
        "{shm_only}"
    );
}
