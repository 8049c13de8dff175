//! The counts kept beside the findings (`finding_counts`: the findings list's totals and counts, the
//! trends), against SQLite and PostgreSQL: after ingest (with duplicates, findings with no service or
//! rule, findings muted on arrival), finding and incident state changes, and retention sweeps that cut
//! through an hour, every row equals a count over `findings` itself, and the API's totals and counts
//! for time ranges that start and end mid-hour equal a direct count. And migration 0006 counts the
//! findings a database already held.

mod common;

use std::collections::BTreeMap;

use common::attacks::demo;
use common::*;
use runwarden_collector::model::{format_time, now_us};
use runwarden_collector::storage::counts::{floor_to, SPANS};
use runwarden_collector::storage::query::encode_params;
use serde_json::{json, Value};
use sqlx::Row as _;

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

type CountKey = (i64, i64, String, String, String, String, String);

async fn pool(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new().max_connections(1).connect(url).await.unwrap()
}

/// Every row of `finding_counts`, and what a count over `findings` says they should be.
fn kept_and_direct(c: &Collector, url: &str) -> (BTreeMap<CountKey, i64>, BTreeMap<CountKey, i64>) {
    c.block_on(async {
        let p = pool(url).await;
        let mut kept = BTreeMap::new();
        let rows = sqlx::query(
            "SELECT span, bucket, service, severity, category, rule_id, state, n FROM finding_counts",
        )
        .fetch_all(&p)
        .await
        .unwrap();
        for r in rows {
            let k = (
                r.get("span"),
                r.get("bucket"),
                r.get("service"),
                r.get("severity"),
                r.get("category"),
                r.get("rule_id"),
                r.get("state"),
            );
            assert!(kept.insert(k, r.get::<i64, _>("n")).is_none());
        }
        let mut direct = BTreeMap::new();
        let rows = sqlx::query(
            "SELECT event_time, COALESCE(service, '') AS service, severity, category, \
             COALESCE(rule_id, '') AS rule_id, state FROM findings",
        )
        .fetch_all(&p)
        .await
        .unwrap();
        for r in rows {
            let t: i64 = r.get("event_time");
            for span in SPANS {
                let k = (
                    span,
                    floor_to(t, span),
                    r.get("service"),
                    r.get("severity"),
                    r.get("category"),
                    r.get("rule_id"),
                    r.get("state"),
                );
                *direct.entry(k).or_insert(0) += 1;
            }
        }
        p.close().await;
        (kept, direct)
    })
}

fn assert_counts_exact(c: &Collector, url: &str, name: &str, when: &str) {
    let (kept, direct) = kept_and_direct(c, url);
    assert!(kept.values().all(|n| *n > 0), "{name} {when}: rows at zero or below are removed: {kept:?}");
    assert_eq!(kept, direct, "{name} {when}: finding_counts equals a count over findings");
}

/// Findings matching the API's filter, counted directly in SQL.
fn direct_total(c: &Collector, url: &str, cond: &str) -> i64 {
    c.block_on(async {
        let p = pool(url).await;
        let n: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n FROM findings WHERE {cond}"))
            .fetch_one(&p)
            .await
            .unwrap()
            .get("n");
        p.close().await;
        n
    })
}

/// A spread of findings over 40 days: times at odd minutes and seconds, 3 services and none, 5
/// categories, rules and none.
fn spread(n: usize, now: i64) -> Vec<Value> {
    let sev = ["CRITICAL", "HIGH", "MEDIUM", "LOW"];
    (0..n)
        .map(|i| {
            let ago = (i as i64 * 7_919_000_003) % (40 * DAY);
            let svc = ["api", "worker", "batch", ""][i % 4];
            let mut f = finding(
                &format!("Category {}", i % 5),
                sev[i % 4 / 2 + i % 3 % 2],
                svc,
                &format!("i-{}", i % 6),
                &format_time(now - ago),
            );
            if svc.is_empty() {
                f["resource"].as_object_mut().unwrap().remove("service");
                f["resource"].as_object_mut().unwrap().remove("instanceId");
            }
            if i % 7 == 0 {
                f["rule"].as_object_mut().unwrap().remove("id");
            } else {
                f["rule"]["id"] = json!(format!("rule_{}", i % 3));
            }
            f
        })
        .collect()
}

fn post(c: &Collector, path: &str, body: &Value) -> (u16, Value) {
    read(agent().post(&c.url(path)).set("Content-Type", "application/json").send_string(&body.to_string()))
}

#[test]
fn counts_equal_a_count_over_findings() {
    for db in databases() {
        let name = db.name;
        let url = db.url.clone();
        let mut config = runwarden_collector::config::CollectorConfig::local(&db.url);
        config.retention = None;
        let c = Collector::start_with(config, db.dir);
        let now = now_us();

        // Ingest, in batches of up to 100 as runwarden sends; the first batch again (all duplicates).
        let findings = spread(400, now);
        for batch in findings.chunks(100) {
            assert_eq!(post_json(&c, &json!({ "findings": batch }), None).0, 200, "{name}");
        }
        let (_, again) = post_json(&c, &json!({ "findings": findings[..100] }), None);
        assert_eq!(again["duplicates"], 100, "{name}");
        assert_counts_exact(&c, &url, name, "after ingest");

        // Muted on arrival: counted as MUTED.
        let (st, _) =
            post(&c, "/v1/mutes", &json!({ "category": "Category 1", "expires": "1h", "note": "noise" }));
        assert_eq!(st, 201, "{name}");
        let more = spread(60, now - 5 * 60_000_000);
        assert_eq!(post_json(&c, &json!({ "findings": more }), None).0, 200, "{name}");
        assert!(direct_total(&c, &url, "state = 'MUTED'") > 0, "{name}");
        assert_counts_exact(&c, &url, name, "after findings muted on arrival");

        // An incident's state, a finding's, the same state again, then back.
        let recent = format_time(now - 2 * HOUR);
        let mut attack = demo("i-demo", 0);
        for f in &mut attack {
            f["eventTime"] = json!(recent);
        }
        assert_eq!(post_json(&c, &json!({ "findings": attack }), None).0, 200, "{name}");
        let (_, inc) = get_json(&c, "/v1/incidents?instance=i-demo");
        let incident = inc["incidents"][0]["incidentId"].as_str().unwrap().to_string();
        let one = attack[1]["findingId"].as_str().unwrap();
        assert_eq!(post(&c, &format!("/v1/findings/{one}/state"), &json!({ "state": "RESOLVED" })).0, 200);
        assert_counts_exact(&c, &url, name, "after a finding's state");
        let path = format!("/v1/incidents/{incident}/state");
        let (st, v) = post(&c, &path, &json!({ "state": "ACKNOWLEDGED" }));
        assert_eq!((st, v["findings"].as_array().unwrap().len()), (200, 5), "{name}: {v}");
        assert_counts_exact(&c, &url, name, "after an incident's state");
        assert_eq!(post(&c, &path, &json!({ "state": "ACKNOWLEDGED" })).0, 200);
        assert_eq!(
            post(&c, &format!("/v1/findings/{one}/state"), &json!({ "state": "ACKNOWLEDGED" })).0,
            200
        );
        assert_counts_exact(&c, &url, name, "after the same state again");
        assert_eq!(post(&c, &path, &json!({ "state": "ACTIVE" })).0, 200);
        assert_eq!(direct_total(&c, &url, "state = 'ACKNOWLEDGED'"), 0, "{name}");
        assert_counts_exact(&c, &url, name, "after the incident is active again");

        // The API's totals and counts, for ranges that start and end anywhere, equal a direct count.
        let ranges: [(Option<i64>, Option<i64>); 6] = [
            (None, None),
            (Some(now - 7 * DAY - 1_234_567), None),
            (Some(now - 30 * DAY + 17), Some(now - 3 * DAY + HOUR / 3)),
            (Some(now - 25 * HOUR - 5), Some(now - 3 * HOUR + 11)),
            (Some(now - 2 * HOUR - 999), Some(now - 2 * HOUR + 60_000_000)),
            (None, Some(now - 12 * DAY - 77)),
        ];
        for (since, until) in ranges {
            for extra in [vec![], vec![("service", "api")], vec![("severity", "HIGH"), ("state", "MUTED")]] {
                let mut params: Vec<(&str, String)> = Vec::new();
                let mut cond = vec!["1 = 1".to_string()];
                if let Some(t) = since {
                    params.push(("since", format_time(t)));
                    cond.push(format!("event_time >= {t}"));
                }
                if let Some(t) = until {
                    params.push(("until", format_time(t)));
                    cond.push(format!("event_time < {t}"));
                }
                for (k, v) in &extra {
                    params.push((k, v.to_string()));
                    cond.push(format!("{k} = '{v}'"));
                }
                let expected = direct_total(&c, &url, &cond.join(" AND "));
                let qs = encode_params(&params);
                let (st, list) = get_json(&c, &format!("/v1/findings?{qs}&limit=1"));
                assert_eq!(st, 200, "{name}: {list}");
                assert_eq!(list["total"], expected, "{name}: total of {qs}");
                let (_, counts) = get_json(&c, &format!("/v1/counts?{qs}"));
                assert_eq!(counts["total"], expected, "{name}: counts of {qs}");
                let by_sev: i64 =
                    counts["bySeverity"].as_object().unwrap().values().map(|v| v.as_i64().unwrap()).sum();
                let by_cat: i64 =
                    counts["byCategory"].as_object().unwrap().values().map(|v| v.as_i64().unwrap()).sum();
                assert_eq!((by_sev, by_cat), (expected, expected), "{name}: {qs}: {counts}");
                // The same filter with text (not in the counts) counts from findings, and agrees.
                let (_, text) = get_json(&c, &format!("/v1/counts?{qs}&q=curl"));
                assert_eq!(text["total"], expected, "{name}: {qs} with text");
            }
        }
        // The 30-day trend's total is the findings of its 30 whole days.
        let (_, month) = get_json(&c, "/v1/trends?window=30d");
        let end = floor_to(now, DAY) + DAY;
        let in_window =
            direct_total(&c, &url, &format!("event_time >= {} AND event_time < {end}", end - 30 * DAY));
        assert_eq!(month["total"], in_window, "{name}");

        // Retention cutting through an hour of a day, twice (the second sweep finds the rest of the day).
        for cutoff in [now - 31 * DAY + 17 * 60_000_000 + 3, now - 20 * DAY - 5 * HOUR - 123_456] {
            let before = direct_total(&c, &url, &format!("event_time < {cutoff}"));
            assert!(before > 0, "{name}: the sweep deletes something");
            let deleted = c.block_on(c.app.store.purge(cutoff)).unwrap();
            assert_eq!(deleted as i64, before, "{name}");
            assert_eq!(direct_total(&c, &url, &format!("event_time < {cutoff}")), 0, "{name}");
            assert_counts_exact(&c, &url, name, "after a retention sweep");
        }
        let (_, list) = get_json(&c, "/v1/findings?limit=1");
        assert_eq!(list["total"], direct_total(&c, &url, "1 = 1"), "{name}");
    }
}

/// Migration 0006 on a database that a collector before it filled: its findings are counted, and the
/// list's totals and the trends read them.
#[test]
fn migration_counts_existing_findings() {
    for db in databases() {
        let name = db.name;
        let now = now_us();
        let backend = if db.url.starts_with("sqlite") {
            runwarden_collector::storage::Backend::Sqlite
        } else {
            runwarden_collector::storage::Backend::Postgres
        };
        let url = if backend == runwarden_collector::storage::Backend::Sqlite {
            format!("{}?mode=rwc", db.url)
        } else {
            db.url.clone()
        };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let p = pool(&url).await;
            runwarden_collector::storage::migrate::run_through(&p, backend, 5).await.unwrap();
            // Rows as the collector before 0006 wrote them (columns of 0001-0003), some before 1970's
            // epoch hour boundaries would round the wrong way without a Euclidean floor.
            for i in 0..300i64 {
                let t = if i == 0 { -HOUR - 5 } else { now - (i * 4_321_000_017) % (35 * DAY) };
                sqlx::query(
                    "INSERT INTO findings (finding_id, event_time, received_at, category, severity, severity_rank, \
                     service, rule_id, description, search_text, body, state) \
                     VALUES ($1, $2, $3, $4, $5, 1, $6, $7, 'd', 's', '{}', $8)",
                )
                .bind(format!("old-{i}"))
                .bind(t)
                .bind(now)
                .bind(format!("Category {}", i % 4))
                .bind(["LOW", "HIGH"][(i % 2) as usize])
                .bind(if i % 5 == 0 { None } else { Some(format!("svc-{}", i % 3)) })
                .bind(if i % 6 == 0 { None } else { Some(format!("rule-{}", i % 2)) })
                .bind(["ACTIVE", "RESOLVED", "MUTED"][(i % 3) as usize])
                .execute(&p)
                .await
                .unwrap();
            }
            p.close().await;
        });
        let mut config = runwarden_collector::config::CollectorConfig::local(&db.url);
        config.retention = None;
        let c = Collector::start_with(config, db.dir);
        assert_counts_exact(&c, &db.url, name, "after migration 0006");
        let (_, list) = get_json(&c, "/v1/findings?limit=1&since=7d");
        let since = now - 7 * DAY;
        // `since=7d` is taken at the request, a moment after `now`.
        let direct = direct_total(&c, &db.url, &format!("event_time >= {since}"));
        assert!((list["total"].as_i64().unwrap() - direct).abs() <= 1, "{name}: {list} vs {direct}");
        assert_eq!(get_json(&c, "/v1/findings?limit=1").1["total"], 300, "{name}");
        let (_, week) = get_json(&c, "/v1/trends?window=7d");
        let end = floor_to(now, 6 * HOUR) + 6 * HOUR;
        let in_window =
            direct_total(&c, &db.url, &format!("event_time >= {} AND event_time < {end}", end - 7 * DAY));
        assert_eq!(week["total"], in_window, "{name}");
    }
}
