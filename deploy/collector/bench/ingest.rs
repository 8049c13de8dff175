//! Sustained ingest benchmark, run by hand (not part of the test run):
//!
//!     export RW_TEST_PG_URL=$(deploy/collector/tests/pg-setup.sh)   # to include PostgreSQL
//!     cargo bench -p runwarden-collector --bench ingest
//!
//! A collector on loopback; BENCH_SENDERS (default 8) threads each POST gzipped batches of realistic
//! findings (the shape runwarden sends, ~2 KiB of JSON each, unique ids) back to back for BENCH_SECONDS
//! (default 15) per case; cases: batches of 100 (runwarden's maximum) and of 10 findings, on SQLite and
//! (when RW_TEST_PG_URL is set) PostgreSQL. Prints findings/s and request latency percentiles.
//! The senders (JSON + gzip) run on the same machine, so the numbers are a floor for the collector.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Result {
    findings: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
    errors: u64,
}

fn run(c: &Collector, senders: u64, batch: usize, seconds: u64) -> Result {
    // One template per sender thread; only the id changes per finding (cheap to build, unique to store).
    let template =
        finding("Reverse Shell", "CRITICAL", "api", "i-bench", "2026-11-20T10:00:00.123456Z").to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let threads: Vec<_> = (0..senders)
        .map(|_| {
            let url = c.url("/v1/findings");
            let stop = stop.clone();
            let template = template.clone();
            std::thread::spawn(move || {
                let agent = agent();
                let (mut sent, mut errors, mut lat) = (0u64, 0u64, Vec::new());
                let old_id = serde_json::from_str::<serde_json::Value>(&template).unwrap()["findingId"]
                    .as_str()
                    .unwrap()
                    .to_string();
                while !stop.load(Ordering::Relaxed) {
                    let items: Vec<String> =
                        (0..batch).map(|_| template.replace(&old_id, &new_id())).collect();
                    let body = gzip(format!("{{\"findings\":[{}]}}", items.join(",")).as_bytes());
                    let t = Instant::now();
                    let r = agent
                        .post(&url)
                        .set("Content-Type", "application/json")
                        .set("Content-Encoding", "gzip")
                        .send_bytes(&body);
                    lat.push(t.elapsed());
                    match r {
                        Ok(_) => sent += batch as u64,
                        Err(_) => errors += 1,
                    }
                }
                (sent, errors, lat)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let mut out = Result { findings: 0, elapsed: Duration::ZERO, latencies: Vec::new(), errors: 0 };
    for t in threads {
        let (sent, errors, lat) = t.join().unwrap();
        out.findings += sent;
        out.errors += errors;
        out.latencies.extend(lat);
    }
    out.elapsed = start.elapsed();
    out.latencies.sort();
    out
}

fn pct(l: &[Duration], p: f64) -> f64 {
    if l.is_empty() {
        return 0.0;
    }
    let i = ((l.len() as f64 * p).ceil() as usize).clamp(1, l.len()) - 1;
    l[i].as_secs_f64() * 1000.0
}

fn main() {
    // `cargo bench` passes --bench; nothing else is expected.
    let seconds = env_num("BENCH_SECONDS", 15);
    let senders = env_num("BENCH_SENDERS", 8);
    println!("| database | batch | senders | findings/s | requests | p50 ms | p99 ms | max ms | errors |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for db in databases() {
        let name = db.name;
        let c = collector_on(db);
        for batch in [100usize, 10] {
            let r = run(&c, senders, batch, seconds);
            println!(
                "| {name} | {batch} | {senders} | {:.0} | {} | {:.1} | {:.1} | {:.1} | {} |",
                r.findings as f64 / r.elapsed.as_secs_f64(),
                r.latencies.len(),
                pct(&r.latencies, 0.50),
                pct(&r.latencies, 0.99),
                pct(&r.latencies, 1.0),
                r.errors
            );
        }
    }
}
