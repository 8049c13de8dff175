//! Page times with many stored findings, run by hand (not part of the test run):
//!
//!     export RW_TEST_PG_URL=$(deploy/collector/tests/pg-setup.sh)   # to include PostgreSQL
//!     BENCH_FINDINGS=1000000 cargo bench -p runwarden-collector --bench scale
//!
//! Fills a fresh database (SQLite; PostgreSQL when RW_TEST_PG_URL is set) through the collector's own
//! ingest (so incidents, trend counts and triage columns are written as in production) with
//! BENCH_FINDINGS findings (default 1,000,000) spread over the last 30 days: attacks of four findings
//! each (a shell and three children, so each is one incident) on 5,000 instances of 20 services, 30
//! categories. Then serves it and times each page (list, filtered lists, a list page half-way down,
//! incidents, an incident, trends, a service's trends) BENCH_REPEAT times (default 5) over HTTP on loopback; prints median and max.
//!
//! Filling a million findings takes minutes, so `BENCH_DB=DIR` keeps the databases between runs: SQLite
//! in `DIR/scale-N.db`, PostgreSQL as the database `rwbench_N` beside RW_TEST_PG_URL's (N the number of
//! findings). A kept database that already holds N findings is reused as it is (opening it runs any new
//! migration, timed and printed); one that is missing is created and filled. Delete the file or
//! `DROP DATABASE rwbench_N` to fill again. Prints the fill rate (or the migration time) and the size of
//! each database.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use runwarden_collector::config::CollectorConfig;
use runwarden_collector::model::{format_time, now_us, parse_batch};
use runwarden_collector::storage::Store;
use serde_json::json;

const SEVERITIES: [&str; 4] = ["CRITICAL", "HIGH", "MEDIUM", "LOW"];
const BATCH: usize = 1000;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The `n`-th finding: attack `n / 4`, member `n % 4` (0 the shell, 1-3 its children).
fn nth(n: u64, now: i64) -> serde_json::Value {
    let attack = n / 4;
    let member = n % 4;
    // A spread of attack times over 30 days (a multiplicative hash of the attack number).
    let start = now - (attack.wrapping_mul(2_654_435_761) % (30 * 86_400)) as i64 * 1_000_000;
    let service = format!("svc-{}", attack % 20);
    let instance = format!("inst-{}", attack % 5000);
    let category = format!("Category {}", (attack * 7 + member) % 30);
    let severity = SEVERITIES[((attack + member) % 4) as usize];
    let shell = 1000 + (attack % 30_000) as i64 * 4;
    let mut f =
        finding(&category, severity, &service, &instance, &format_time(start + member as i64 * 2_000_000));
    f["findingId"] = json!(format!("bench-{n:08}"));
    f["rule"]["id"] = json!(format!("rule_{}", (attack + member) % 12));
    let (pid, parent, ancestors) = if member == 0 {
        (shell, 7, json!([{ "pid": 7, "binary": { "path": "/usr/bin/python3.11" } }]))
    } else {
        (
            shell + member as i64,
            shell,
            json!([{ "pid": shell, "binary": { "path": "/bin/sh" } }, { "pid": 7, "binary": { "path": "/usr/bin/python3.11" } }]),
        )
    };
    f["processes"][0]["pid"] = json!(pid);
    f["processes"][0]["parentPid"] = json!(parent);
    f["ancestors"] = ancestors;
    f
}

fn fill(url: &str, total: u64) -> Duration {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let t = Instant::now();
    rt.block_on(async {
        let store = Store::open(url).await.expect("open");
        let now = now_us();
        let mut n = 0;
        while n < total {
            let end = (n + BATCH as u64).min(total);
            let body = json!({ "findings": (n..end).map(|i| nth(i, now)).collect::<Vec<_>>() }).to_string();
            let batch = parse_batch(body.as_bytes(), BATCH).expect("valid batch");
            store.ingest(&batch.findings, None, now).await.expect("ingest");
            n = end;
            if n % 100_000 == 0 {
                eprintln!("  {n} findings stored ({:.0}/s)", n as f64 / t.elapsed().as_secs_f64());
            }
        }
        store.close().await;
    });
    t.elapsed()
}

/// A database kept between runs (`BENCH_DB`): its name, URL and how to tell its size.
struct Kept {
    name: &'static str,
    url: String,
    file: Option<PathBuf>,
}

fn kept_databases(dir: &str, total: u64) -> Vec<Kept> {
    std::fs::create_dir_all(dir).expect("create BENCH_DB");
    let file = PathBuf::from(dir).join(format!("scale-{total}.db"));
    let mut out =
        vec![Kept { name: "sqlite", url: format!("sqlite://{}", file.display()), file: Some(file) }];
    if let Ok(admin) = std::env::var("RW_TEST_PG_URL") {
        if !admin.is_empty() {
            let name = format!("rwbench_{total}");
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                use sqlx::Connection as _;
                let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect to RW_TEST_PG_URL");
                let exists: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM pg_database WHERE datname = $1")
                    .bind(&name)
                    .fetch_optional(&mut conn)
                    .await
                    .unwrap();
                if exists.is_none() {
                    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.unwrap();
                }
                conn.close().await.unwrap();
            });
            let (base, _) = admin.rsplit_once('/').expect("RW_TEST_PG_URL ends in /DATABASE");
            out.push(Kept { name: "postgres", url: format!("{base}/{name}"), file: None });
        }
    }
    out
}

/// Findings stored, and how long opening (and so migrating) the database took.
fn stored(url: &str) -> (i64, Duration) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let t = Instant::now();
        let store = Store::open(url).await.expect("open");
        let took = t.elapsed();
        let page = runwarden_collector::storage::query::Page { limit: 1, offset: 0 };
        let (_, n) = store.list(&Default::default(), page).await.expect("count");
        store.close().await;
        (n, took)
    })
}

/// The database's size on disk in MiB (SQLite: the file and its WAL; PostgreSQL: pg_database_size).
fn size_mib(url: &str, file: Option<&PathBuf>) -> f64 {
    let bytes = match file {
        Some(f) => {
            let len = |p: PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            len(f.clone()) + len(PathBuf::from(format!("{}-wal", f.display())))
        }
        None => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                use sqlx::Connection as _;
                let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
                let (n,): (i64,) = sqlx::query_as("SELECT pg_database_size(current_database())")
                    .fetch_one(&mut conn)
                    .await
                    .unwrap();
                n as u64
            })
        }
    };
    bytes as f64 / (1024.0 * 1024.0)
}

fn time_page(c: &Collector, path: &str, repeat: usize) -> (f64, f64) {
    let mut ms: Vec<f64> = (0..repeat)
        .map(|_| {
            let t = Instant::now();
            let (st, body) = read(agent().get(&c.url(path)).call());
            assert_eq!(st, 200, "{path}: {body}");
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], ms[ms.len() - 1])
}

fn main() {
    let total = env_num("BENCH_FINDINGS", 1_000_000);
    let repeat = env_num("BENCH_REPEAT", 5) as usize;
    // (name, URL, file, what keeps a temporary database alive)
    let dbs: Vec<(&'static str, String, Option<PathBuf>, Option<tempfile::TempDir>)> =
        match std::env::var("BENCH_DB") {
            Ok(dir) if !dir.is_empty() => {
                kept_databases(&dir, total).into_iter().map(|k| (k.name, k.url, k.file, None)).collect()
            }
            _ => databases()
                .into_iter()
                .map(|db| {
                    let file = db.dir.as_ref().map(|d| d.path().join("collector.db"));
                    (db.name, db.url, file, db.dir)
                })
                .collect(),
        };
    println!("| database | findings | fill | page | median ms | max ms |");
    println!("|---|---|---|---|---|---|");
    for (name, url, file, dir) in dbs {
        let (have, opened) = stored(&url);
        let fill_note = if have == 0 {
            let took = fill(&url, total);
            format!("filled in {:.0} s, {:.0}/s", took.as_secs_f64(), total as f64 / took.as_secs_f64())
        } else if have == total as i64 {
            format!("reused (open+migrate {:.1} s)", opened.as_secs_f64())
        } else {
            panic!("{url} holds {have} findings, not {total}: delete it to fill again");
        };
        eprintln!("{name}: {fill_note}, {:.0} MiB on disk", size_mib(&url, file.as_ref()));
        let rate = &fill_note;
        let mut config = CollectorConfig::local(&url);
        config.retention = None;
        let c = Collector::start_with(config, dir);
        let (_, inc) = get_json(&c, "/v1/incidents?limit=1");
        let incident = inc["incidents"][0]["incidentId"].as_str().expect("an incident").to_string();
        let pages = [
            "/findings".to_string(),
            "/findings?service=svc-3&since=7d".to_string(),
            "/findings?severity=CRITICAL".to_string(),
            // Half-way down the list, by keyset (what the "older" links do from page to page).
            format!("/findings?before={}:~", now_us() - 15 * 86_400_000_000),
            "/incidents".to_string(),
            "/incidents?service=svc-3".to_string(),
            format!("/incidents/{incident}"),
            "/trends?window=30d".to_string(),
            "/trends?window=7d&service=svc-3".to_string(),
        ];
        for p in &pages {
            let (median, max) = time_page(&c, p, repeat);
            println!("| {name} | {total} | {rate} | `{p}` | {median:.0} | {max:.0} |");
        }
        let (_, all) = get_json(&c, "/v1/incidents?limit=1");
        eprintln!("{name}: {} incidents for {total} findings", all["total"]);
    }
}
