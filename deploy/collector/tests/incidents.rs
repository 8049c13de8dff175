//! Incidents against SQLite and PostgreSQL: the README demo's five findings are one incident; two
//! unrelated attacks through one server on one instance are two; a finding that links two incidents
//! (it arrived last, but is their common ancestor) merges them; the time window and the instance split.

mod common;

use common::attacks::*;
use common::*;
use serde_json::{json, Value};

fn incidents(c: &Collector, q: &str) -> Value {
    let (st, v) = get_json(c, &format!("/v1/incidents{q}"));
    assert_eq!(st, 200, "{v}");
    v
}

#[test]
fn one_scenario_one_incident_two_attacks_two() {
    for db in databases() {
        let name = db.name;
        let c = collector_on(db);
        let findings = demo("i-1", 0);
        assert_eq!(post_json(&c, &json!({ "findings": findings }), None).0, 200, "{name}");
        let v = incidents(&c, "");
        assert_eq!(v["total"], 1, "{name}: {v}");
        let inc = &v["incidents"][0];
        assert_eq!(inc["findingCount"], 5, "{name}");
        assert_eq!(inc["severity"], "CRITICAL", "{name}");
        assert_eq!(inc["firstTime"], "2026-11-20T10:00:01.000000Z", "{name}");
        assert_eq!(inc["lastTime"], "2026-11-20T10:00:05.000000Z", "{name}");
        assert_eq!(inc["categories"].as_array().unwrap().len(), 4, "{name}: {inc}");
        // The incident with its findings, oldest first; redelivery changes nothing.
        let id = inc["incidentId"].as_str().unwrap();
        let (st, full) = get_json(&c, &format!("/v1/incidents/{id}"));
        assert_eq!(st, 200);
        assert_eq!(full["findings"].as_array().unwrap(), &findings, "{name}");
        assert_eq!(post_json(&c, &json!({ "findings": findings }), None).1["duplicates"], 5);
        assert_eq!(incidents(&c, "")["incidents"][0]["findingCount"], 5, "{name}");

        // Two attacks through one server (python, 7) on another instance: each its own sh -c.
        let server = [(7, "/usr/bin/python3.11"), (1, "/runwarden")];
        let a1 = by_process("Reverse Shell", "CRITICAL", "i-2", "2026-11-20T11:00:00Z", 100, 7, &server);
        let a1b = by_process(
            "Added Binary Executed",
            "LOW",
            "i-2",
            "2026-11-20T11:00:30Z",
            101,
            100,
            &[(100, "/bin/sh"), (7, "/usr/bin/python3.11")],
        );
        let a2 = by_process(
            "Execution: Netcat Remote Code Execution in Container",
            "HIGH",
            "i-2",
            "2026-11-20T11:01:00Z",
            200,
            7,
            &server,
        );
        let a2b = by_process(
            "Added Binary Executed",
            "LOW",
            "i-2",
            "2026-11-20T11:01:10Z",
            201,
            200,
            &[(200, "/bin/bash"), (7, "/usr/bin/python3.11")],
        );
        assert_eq!(post_json(&c, &json!({ "findings": [a1, a2, a1b, a2b] }), None).0, 200);
        let v = incidents(&c, "?instance=i-2");
        assert_eq!(v["total"], 2, "{name}: {v}");
        let counts: Vec<i64> =
            v["incidents"].as_array().unwrap().iter().map(|i| i["findingCount"].as_i64().unwrap()).collect();
        assert_eq!(counts, [2, 2], "{name}");
        assert_eq!(v["incidents"][0]["severity"], "HIGH", "{name}: the newest is the netcat one");
        assert_eq!(incidents(&c, "?severity=CRITICAL")["total"], 2, "{name}");
        assert_eq!(incidents(&c, "?category=Added%20Binary%20Executed")["total"], 3, "{name}");
        assert_eq!(incidents(&c, "?category=Reverse%20Shell")["total"], 1, "{name}");
        assert_eq!(incidents(&c, "?q=python3.11")["total"], 2, "{name}");
        assert_eq!(incidents(&c, "?q=NETCAT")["total"], 1, "{name}");
        assert_eq!(incidents(&c, "?since=2026-11-20T10:30:00Z")["total"], 2, "{name}");
    }
}

#[test]
fn a_late_ancestor_merges_and_the_window_splits() {
    for db in databases() {
        let name = db.name;
        let c = collector_on(db);
        let under = [(50, "/usr/bin/perl"), (7, "/usr/bin/python3.11")];
        // Two children of perl (not a shell): two incidents until perl's own finding arrives.
        let k1 = by_process("Added Binary Executed", "LOW", "i-9", "2026-11-20T12:00:10Z", 51, 50, &under);
        let k2 = by_process(
            "Execution: Program Run from Temporary Directory",
            "MEDIUM",
            "i-9",
            "2026-11-20T12:00:20Z",
            52,
            50,
            &under,
        );
        assert_eq!(post_json(&c, &json!({ "findings": [k1, k2] }), None).0, 200);
        assert_eq!(incidents(&c, "")["total"], 2, "{name}");
        let perl = by_process(
            "Execution: Malicious Python executed",
            "CRITICAL",
            "i-9",
            "2026-11-20T12:00:00Z",
            50,
            7,
            &under[1..],
        );
        assert_eq!(post_json(&c, &json!({ "findings": [perl] }), None).0, 200);
        let v = incidents(&c, "");
        assert_eq!(v["total"], 1, "{name}: merged: {v}");
        let inc = &v["incidents"][0];
        assert_eq!(
            (inc["findingCount"].as_i64(), inc["severity"].as_str()),
            (Some(3), Some("CRITICAL")),
            "{name}"
        );
        assert_eq!(inc["firstTime"], "2026-11-20T12:00:00.000000Z");
        let (_, full) = get_json(&c, &format!("/v1/incidents/{}", inc["incidentId"].as_str().unwrap()));
        assert_eq!(full["findings"].as_array().unwrap().len(), 3, "{name}");

        // The same PIDs two hours later (reused) or on another instance: new incidents.
        let later = by_process("Added Binary Executed", "LOW", "i-9", "2026-11-20T14:00:00Z", 51, 50, &under);
        let elsewhere =
            by_process("Added Binary Executed", "LOW", "i-10", "2026-11-20T12:00:11Z", 51, 50, &under);
        assert_eq!(post_json(&c, &json!({ "findings": [later, elsewhere] }), None).0, 200);
        assert_eq!(incidents(&c, "")["total"], 3, "{name}");
        // The same three in one batch (children first): merged while the batch is placed.
        let mut batch = vec![];
        for (i, (pid, parent)) in [(51, 50), (52, 50), (50, 7)].into_iter().enumerate() {
            let anc = if parent == 7 { &under[1..] } else { &under[..] };
            let t = format!("2026-11-20T16:00:0{i}Z");
            batch.push(by_process("Added Binary Executed", "LOW", "i-11", &t, pid, parent, anc));
        }
        assert_eq!(post_json(&c, &json!({ "findings": batch }), None).0, 200);
        let v = incidents(&c, "?instance=i-11");
        assert_eq!(
            (v["total"].as_i64(), v["incidents"][0]["findingCount"].as_i64()),
            (Some(1), Some(3)),
            "{name}: {v}"
        );
        assert_eq!(get_json(&c, "/v1/incidents/nope").0, 404);
    }
}
