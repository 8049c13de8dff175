//! Trends against SQLite and PostgreSQL: findings counted into the right buckets of each window, by
//! severity and category, per service, with the top services and rules; old findings outside.

mod common;

use common::*;
use runwarden_collector::model::{format_time, now_us};
use serde_json::{json, Value};

const HOUR: i64 = 3_600_000_000;

fn at(category: &str, severity: &str, service: &str, ago_us: i64, rule: &str) -> Value {
    let mut f = finding(category, severity, service, "i-1", &format_time(now_us() - ago_us));
    f["rule"]["id"] = json!(rule);
    f
}

fn sum(v: &Value) -> i64 {
    v.as_array().unwrap().iter().map(|n| n.as_i64().unwrap()).sum()
}

#[test]
fn buckets_services_and_rules() {
    for db in databases() {
        let name = db.name;
        let c = collector_on(db);
        let findings = [
            at("Reverse Shell", "CRITICAL", "api", HOUR / 2, "reverse_shell"),
            at("Reverse Shell", "CRITICAL", "api", 3 * HOUR, "reverse_shell"),
            at("Added Binary Executed", "LOW", "api", 3 * HOUR, "drift"),
            at("Added Binary Executed", "LOW", "worker", 2 * 24 * HOUR, "drift"),
            at(
                "Execution: Netcat Remote Code Execution in Container",
                "HIGH",
                "worker",
                40 * 24 * HOUR,
                "nc",
            ),
        ];
        assert_eq!(post_json(&c, &json!({ "findings": findings }), None).0, 200, "{name}");

        let (st, day) = get_json(&c, "/v1/trends?window=24h");
        assert_eq!(st, 200, "{name}: {day}");
        assert_eq!((day["total"].as_i64(), day["bucketSeconds"].as_i64()), (Some(3), Some(3600)), "{name}");
        let crit = day["bySeverity"]["CRITICAL"].as_array().unwrap();
        assert_eq!(crit.len(), 24);
        assert_eq!(sum(&day["bySeverity"]["CRITICAL"]), 2, "{name}");
        // The newest bucket is the current hour: the finding of half an hour ago is in it or the one before.
        assert_eq!(crit[22].as_i64().unwrap() + crit[23].as_i64().unwrap(), 1, "{name}: {crit:?}");
        assert_eq!(sum(&day["byCategory"]["Added Binary Executed"]), 1, "{name}");

        let (_, week) = get_json(&c, "/v1/trends?window=7d");
        assert_eq!(week["total"], 4, "{name}");
        assert_eq!(
            week["topServices"],
            json!([{ "service": "api", "count": 3 }, { "service": "worker", "count": 1 }]),
            "{name}"
        );
        assert_eq!(week["topRules"][0], json!({ "ruleId": "drift", "count": 2 }), "{name}");
        let (_, month) = get_json(&c, "/v1/trends?window=30d&service=worker");
        assert_eq!(month["total"], 1, "{name}: the 40-day-old finding is outside");
        assert_eq!(month["buckets"].as_array().unwrap().len(), 30);
        assert_eq!(get_json(&c, "/v1/trends?window=1y").0, 400);
        assert_eq!(get_json(&c, "/v1/trends?since=1h").0, 400);

        // A redelivered finding is not counted twice (the 40-day-old one is past the retention).
        assert_eq!(post_json(&c, &json!({ "findings": findings[..4] }), None).1["duplicates"], 4);
        assert_eq!(get_json(&c, "/v1/trends?window=7d").1["total"], 4, "{name}");
    }
}
