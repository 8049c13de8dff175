//! The collector under faults (issue 14, item 5), with the real binary where a process must die:
//! - `kill -9` in the middle of ingest, then a restart on the same SQLite file;
//! - PostgreSQL stopped hard (`pg_ctl -m immediate`, as a crash) and started again under load, on a
//!   private cluster this test creates (the shared test cluster is left alone);
//! - a full disk under SQLite (a small tmpfs), then space again;
//! - a burst of 1,000 instances' heartbeats.
//!
//! The sender behaves as runwarden does: it keeps each batch (the same findingIds) until it is
//! acknowledged with 200, retrying on 503 and on connection errors. Every case checks that nothing
//! acknowledged is lost, that every finding is stored exactly once, that errors are 503 and never 500,
//! and that the database is intact afterwards. Counts are printed (run with `--nocapture`).

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A collector process, killed when dropped (a failing test must not leave one behind).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The collector binary on `port`, logging to `log`.
fn spawn_collector(db_url: &str, port: u16, log: &Path) -> Running {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    let child = Running(
        Command::new(env!("CARGO_BIN_EXE_runwarden-collector"))
            .env("COLLECTOR_ADDR", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", db_url)
            .env("COLLECTOR_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if ureq::get(&format!("http://127.0.0.1:{port}/healthz"))
            .timeout(Duration::from_secs(1))
            .call()
            .is_ok()
        {
            return child;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the collector did not start on port {port}");
}

fn kill_9(c: &mut Running) {
    c.0.kill().unwrap(); // SIGKILL
    c.0.wait().unwrap();
}

/// What the sender saw: acknowledged ids, and every answer by status (0: no answer at all).
#[derive(Default)]
struct Tally {
    acked: HashSet<String>,
    statuses: BTreeMap<u16, u64>,
    sent: u64,
}

fn batch(n: usize, instance: &str) -> (Vec<String>, String) {
    let now = runwarden_collector::model::format_time(runwarden_collector::model::now_us());
    let findings: Vec<Value> =
        (0..n).map(|_| finding("Reverse Shell", "CRITICAL", "faults", instance, &now)).collect();
    let ids = findings.iter().map(|f| f["findingId"].as_str().unwrap().to_string()).collect();
    (ids, json!({ "findings": findings }).to_string())
}

/// Posts `batches` in order to `port`, each until it is acknowledged (as runwarden does: same ids on
/// every retry). Gives up after `deadline`.
fn send_all(port: u16, batches: Vec<(Vec<String>, String)>, tally: Arc<Mutex<Tally>>, deadline: Duration) {
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(5)).build();
    let end = Instant::now() + deadline;
    for (ids, body) in batches {
        loop {
            assert!(Instant::now() < end, "batches still unacknowledged after {deadline:?}");
            tally.lock().unwrap().sent += 1;
            let status = match agent
                .post(&format!("http://127.0.0.1:{port}/v1/findings"))
                .set("Content-Type", "application/json")
                .send_string(&body)
            {
                Ok(r) => r.status(),
                Err(ureq::Error::Status(s, _)) => s,
                Err(_) => 0,
            };
            let mut t = tally.lock().unwrap();
            *t.statuses.entry(status).or_default() += 1;
            if status == 200 {
                t.acked.extend(ids.iter().cloned());
                break;
            }
            drop(t);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn wait_acked(tally: &Arc<Mutex<Tally>>, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while tally.lock().unwrap().acked.len() < n {
        assert!(Instant::now() < deadline, "fewer than {n} findings acknowledged in 60 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every finding id stored, with how many rows each has (through sqlx, as the collector stores them).
fn stored(db_url: &str) -> (u64, HashSet<String>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let pool = sqlx::AnyPool::connect(db_url).await.unwrap();
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT finding_id FROM findings").fetch_all(&pool).await.unwrap();
        let total = rows.len() as u64;
        (total, rows.into_iter().map(|r| r.0).collect())
    })
}

fn sqlite_intact(path: &Path) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let url = format!("sqlite://{}", path.display());
    let check: String = rt.block_on(async {
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&pool).await.unwrap()
    });
    assert_eq!(check, "ok", "SQLite integrity check");
}

/// The checks every case ends with, and the counts it prints.
fn verify(case: &str, db_url: &str, tally: &Tally, expected: &HashSet<String>) {
    let (rows, ids) = stored(db_url);
    println!(
        "{case}: {} findings sent in {} requests, answers {:?} (0 = no answer), {} acknowledged, {} stored, {} duplicates",
        expected.len(),
        tally.sent,
        tally.statuses,
        tally.acked.len(),
        ids.len(),
        rows - ids.len() as u64
    );
    assert!(
        tally.statuses.keys().all(|s| matches!(s, 0 | 200 | 503)),
        "{case}: answers other than 200, 503 or none: {:?}",
        tally.statuses
    );
    let lost: Vec<&String> = tally.acked.iter().filter(|i| !ids.contains(*i)).collect();
    assert!(
        lost.is_empty(),
        "{case}: {} acknowledged findings are not stored: {:?}",
        lost.len(),
        &lost[..lost.len().min(3)]
    );
    assert_eq!(&ids, expected, "{case}: every finding sent is stored, and nothing else");
    assert_eq!(rows, ids.len() as u64, "{case}: a finding stored twice");
}

fn prepare_any_driver() {
    sqlx::any::install_default_drivers();
}

#[test]
fn kill_9_during_ingest_then_restart_loses_nothing() {
    prepare_any_driver();
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("collector.db");
    let db_url = format!("sqlite://{}", db_path.display());
    let log = dir.path().join("collector.log");
    let port = free_port();
    let mut c = spawn_collector(&db_url, port, &log);
    let batches: Vec<_> = (0..80).map(|i| batch(20, &format!("i-{}", i % 4))).collect();
    let expected: HashSet<String> = batches.iter().flat_map(|(ids, _)| ids.iter().cloned()).collect();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let sender = {
        let tally = tally.clone();
        std::thread::spawn(move || send_all(port, batches, tally, Duration::from_secs(120)))
    };
    // Killed while batches are in flight, twice.
    for round in 1..=2 {
        wait_acked(&tally, 400 * round);
        kill_9(&mut c);
        std::thread::sleep(Duration::from_millis(300));
        c = spawn_collector(&db_url, port, &log);
    }
    sender.join().unwrap();
    kill_9(&mut c);
    verify("kill -9 (SQLite)", &db_url, &tally.lock().unwrap(), &expected);
    sqlite_intact(&db_path);
}

/// A private PostgreSQL cluster: initdb into a temp dir as the postgres user, on a free port.
struct PgCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl PgCluster {
    fn bin() -> Option<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("initdb").exists())
            .collect();
        found.sort();
        found.pop()
    }

    fn pg(&self, tool: &str, args: &[&str]) -> std::process::Output {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(tool))
            .args(args)
            .output()
            .unwrap()
    }

    fn create() -> Option<PgCluster> {
        let bin = PgCluster::bin()?;
        let dir = tempfile::Builder::new().prefix("rw-pg-faults").tempdir_in("/var/tmp").unwrap();
        let chown = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status().unwrap();
        assert!(chown.success());
        let c = PgCluster { bin, dir, port: free_port() };
        let d = c.dir.path().to_str().unwrap().to_string();
        let out = c.pg("initdb", &["-D", &d, "-U", "postgres", "--auth=trust", "--encoding=UTF8"]);
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        c.start();
        let out = c.pg(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &c.port.to_string(),
                "-U",
                "postgres",
                "-qc",
                "CREATE DATABASE faults",
            ],
        );
        assert!(out.status.success(), "createdb: {}", String::from_utf8_lossy(&out.stderr));
        Some(c)
    }

    fn start(&self) {
        let d = self.dir.path().to_str().unwrap();
        let opts = format!("-p {} -k {d} -c listen_addresses=127.0.0.1", self.port);
        let log = format!("{d}/server.log");
        let out = self.pg("pg_ctl", &["-D", d, "-l", &log, "-w", "-t", "60", "-o", &opts, "start"]);
        assert!(out.status.success(), "pg_ctl start: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Stops it as a crash would: no checkpoint, connections cut.
    fn crash(&self) {
        let d = self.dir.path().to_str().unwrap();
        let out = self.pg("pg_ctl", &["-D", d, "-m", "immediate", "-w", "stop"]);
        assert!(out.status.success(), "pg_ctl stop: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/faults", self.port)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let d = self.dir.path().to_str().unwrap().to_string();
        let _ = self.pg("pg_ctl", &["-D", &d, "-m", "immediate", "stop"]);
    }
}

#[test]
fn postgres_crash_and_restart_under_load_loses_nothing() {
    prepare_any_driver();
    let Some(pg) = PgCluster::create() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but PostgreSQL is not installed (integration/setup.sh installs it)"
        );
        eprintln!("skipped: PostgreSQL is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("collector.log");
    let port = free_port();
    let mut c = spawn_collector(&pg.url(), port, &log);
    let batches: Vec<_> = (0..60).map(|i| batch(20, &format!("p-{}", i % 4))).collect();
    let expected: HashSet<String> = batches.iter().flat_map(|(ids, _)| ids.iter().cloned()).collect();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let sender = {
        let tally = tally.clone();
        std::thread::spawn(move || send_all(port, batches, tally, Duration::from_secs(180)))
    };
    wait_acked(&tally, 300);
    pg.crash();
    // The collector keeps answering while its database is gone: 503 (retry), never 500. The outage
    // lasts until the sender has been told so (at least 1.5 s), however slow the machine.
    let down = Instant::now();
    let deadline = down + Duration::from_secs(60);
    while down.elapsed() < Duration::from_millis(1500) || !tally.lock().unwrap().statuses.contains_key(&503) {
        assert!(
            Instant::now() < deadline,
            "no 503 while PostgreSQL was down: {:?}",
            tally.lock().unwrap().statuses
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    pg.start();
    sender.join().unwrap();
    kill_9(&mut c);
    let tally = tally.lock().unwrap();
    assert!(tally.statuses.get(&503).copied().unwrap_or(0) > 0, "the outage was seen: {:?}", tally.statuses);
    verify("PostgreSQL crash", &pg.url(), &tally, &expected);
}

#[test]
fn a_full_disk_under_sqlite_is_503_then_recovers() {
    prepare_any_driver();
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let mounted =
        Command::new("mount").args(["-t", "tmpfs", "-o", "size=16m", "rwfull"]).arg(&mnt).status().unwrap();
    assert!(mounted.success(), "mount a tmpfs (run as root)");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mnt.clone());
    let db_path = mnt.join("collector.db");
    let db_url = format!("sqlite://{}", db_path.display());
    let log = dir.path().join("collector.log");
    let port = free_port();
    let mut c = spawn_collector(&db_url, port, &log);
    // Fill the rest of the disk (until ENOSPC), then give back a little.
    let filler = mnt.join("filler");
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let len = f.metadata().unwrap().len();
        f.set_len(len.saturating_sub(96 * 1024)).unwrap();
    }

    let batches: Vec<_> = (0..40).map(|i| batch(20, &format!("d-{}", i % 4))).collect();
    let expected: HashSet<String> = batches.iter().flat_map(|(ids, _)| ids.iter().cloned()).collect();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let sender = {
        let tally = tally.clone();
        std::thread::spawn(move || send_all(port, batches, tally, Duration::from_secs(120)))
    };
    // The disk fills (96 KiB left, 1.6 MB to store, twice that with the WAL): the collector answers 503 and runwarden keeps the
    // batch. Space comes back a second later.
    let deadline = Instant::now() + Duration::from_secs(60);
    while tally.lock().unwrap().statuses.get(&503).copied().unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "no 503 on a full disk: {:?}", tally.lock().unwrap().statuses);
        assert!(
            !sender.is_finished(),
            "everything stored on a full disk? {:?}",
            tally.lock().unwrap().statuses
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(1));
    std::fs::remove_file(&filler).unwrap();
    if let Err(p) = sender.join() {
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        panic!("{:?}; collector log (last lines): {tail:#?}", p.downcast_ref::<String>());
    }
    kill_9(&mut c);
    verify("full disk (SQLite)", &db_url, &tally.lock().unwrap(), &expected);
    sqlite_intact(&db_path);
}

#[test]
fn a_burst_of_1000_instances_heartbeats_is_all_stored() {
    for db in databases() {
        let name = db.name;
        let c = collector_on(db);
        let base = c.base.clone();
        let failures = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let senders: Vec<_> = (0..20)
            .map(|t| {
                let base = base.clone();
                let failures = failures.clone();
                std::thread::spawn(move || {
                    let agent = agent();
                    for i in 0..50 {
                        let hb =
                            heartbeat(Some(&format!("burst-{t}-{i}")), &format!("svc-{}", i % 10), 60, false);
                        let body = json!({ "findings": [], "heartbeat": hb }).to_string();
                        let r = agent
                            .post(&format!("{base}/v1/findings"))
                            .set("Content-Type", "application/json")
                            .send_string(&body);
                        let (status, _) = read(r);
                        if status != 200 {
                            failures.lock().unwrap().push(status);
                        }
                    }
                })
            })
            .collect();
        for s in senders {
            s.join().unwrap();
        }
        let took = started.elapsed();
        assert!(
            failures.lock().unwrap().is_empty(),
            "{name}: heartbeats refused: {:?}",
            failures.lock().unwrap()
        );
        let (status, body) = get_json(&c, "/v1/instances");
        assert_eq!(status, 200);
        let n = body["instances"].as_array().unwrap().len();
        assert_eq!(n, 1000, "{name}: every instance listed");
        // The page's time is reported, not asserted (timing belongs to benchmarks).
        let mut times: Vec<Duration> = (0..5)
            .map(|_| {
                let t = Instant::now();
                let (status, _) = read(agent().get(&c.url("/instances")).call());
                assert_eq!(status, 200);
                t.elapsed()
            })
            .collect();
        times.sort();
        println!(
            "{name}: 1,000 instances' heartbeats from 20 senders stored in {took:?}; /instances page median {:?}, max {:?}",
            times[2], times[4]
        );
    }
}
