//! The sample apps besides the vulnerable web app, in real containers run as users run them (default
//! seccomp and capabilities; also `--user 65534` and `--read-only` with a tmpfs): a batch job (a Cloud
//! Run job) and a pre-fork multi-process server. Benign runs raise nothing MEDIUM or above, `docker
//! stop` passes SIGTERM and the exit code through, and findings raised while the app shuts down reach
//! the HTTP sink (a collector this test runs on the test network) and the file sink before the
//! container is gone.

#[path = "common/docker.rs"]
mod docker;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use docker::*;
use serde_json::Value;

fn read_sink(sink: &SinkDir) -> Vec<Value> {
    complete_lines(&std::fs::read_to_string(sink.path()).unwrap_or_default())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON finding per line ({e}): {l}"))
        })
        .collect()
}

fn sink_env() -> String {
    format!("RUNWARDEN_SINKS=stderr,file:{}", SinkDir::IN_CONTAINER)
}

const VARIANTS: [(&str, &[&str]); 3] = [
    ("root", &[]),
    ("nobody", &["--user", "65534:65534"]),
    ("ro", &["--read-only", "--tmpfs", "/tmp", "--tmpfs", "/var/log/prefork"]),
];

fn with_sink<'a>(options: &[&'a str], volume: &'a str) -> Vec<&'a str> {
    let mut o = options.to_vec();
    o.extend(["-v", volume]);
    o
}

fn wait_log(c: &Container, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !c.logs().contains(needle) {
        assert!(Instant::now() < deadline, "no {needle:?} in the log:\n{}", c.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A Cloud Run job's benign run: it downloads an input from a server on the test network, generates
/// another, processes both with ordinary tools, runs a benign notification hook, and exits 0. Quiet
/// as root, as a non-root user and on a read-only root file system.
#[test]
fn batch_job_benign_runs_are_quiet_and_exit_0() {
    let gw = ensure_network();
    let image = "runwarden-test/batch:latest";
    build_app("batch", image);
    let listener = TcpListener::bind((gw.as_str(), 0)).unwrap();
    let web = format!("http://{}", listener.local_addr().unwrap());
    let csv: String = (0..500).map(|i| format!("{i},customer-{},eu,{}.50\n", i % 13, i % 90)).collect();
    let manifest = format!("input sales {web}/in/sales.csv\ngenerate orders 3000\nhook {web}/notify.sh\n");
    let notify = "echo \"notify: $(ls /tmp/job/out | wc -l) result files\"\n";
    let server = FileServer::serve(
        listener,
        vec![
            ("/manifest".into(), manifest.into_bytes()),
            ("/in/sales.csv".into(), csv.into_bytes()),
            ("/notify.sh".into(), notify.as_bytes().to_vec()),
        ],
    );
    for (variant, options) in VARIANTS {
        let sink = SinkDir::new();
        let volume = sink.volume();
        let c = Container::run_with(
            image,
            &format!("-{variant}"),
            &[&sink_env(), &format!("JOB_MANIFEST_URL={web}/manifest")],
            &with_sink(options, &volume),
        );
        assert_eq!(c.wait(Duration::from_secs(60)), 0, "{variant}: the job failed:\n{}", c.logs());
        let logs = c.logs();
        assert!(logs.contains("job: task 0 of 1 processed 2 inputs, 6 outputs"), "{variant}:\n{logs}");
        assert!(logs.contains("notify: 7 result files"), "{variant}: the hook did not run:\n{logs}");
        assert!(logs.contains("\"mode\":\"ptrace\""), "{variant}: not traced:\n{logs}");
        let findings = read_sink(&sink);
        assert!(loud(&findings).is_empty(), "{variant}: a benign job raised findings: {findings:#?}");
    }
    assert_eq!(server.served().iter().filter(|p| *p == "/in/sales.csv").count(), 3);
}

/// `docker stop` on a running job: the TERM trap runs and its exit code (75: retry the task) is the
/// container's.
#[test]
fn batch_job_docker_stop_passes_the_jobs_exit_code() {
    ensure_network();
    let image = "runwarden-test/batch:latest";
    build_app("batch", image);
    let c = Container::run_with(image, "-stop", &["JOB_WAIT_SECONDS=120"], &[]);
    wait_log(&c, "job: task 0 of 1 processed");
    let started = Instant::now();
    assert_eq!(c.stop(), 75, "logs:\n{}", c.logs());
    assert!(started.elapsed() < Duration::from_secs(8), "SIGTERM did not reach the job: SIGKILL after 10 s");
    assert!(c.logs().contains("job: task 0 interrupted"), "{}", c.logs());
}

/// The pre-fork server: workers forked from a master share the port, the master rotates and gzips
/// its log and loads its libraries; all benign. A command injected through a worker's vulnerable
/// endpoint is seen with the worker and the master as ancestors. `docker stop`: the master stops its
/// workers and exits 0, in every variant.
#[test]
fn prefork_server_benign_injection_and_stop() {
    ensure_network();
    let image = "runwarden-test/prefork:latest";
    build_app("prefork", image);
    for (variant, options) in VARIANTS {
        let sink = SinkDir::new();
        let logs_dir = SinkDir::new();
        let (volume, log_volume) =
            (sink.volume(), format!("{}:/var/log/prefork", logs_dir.dir.path().display()));
        let mut opts = with_sink(options, &volume);
        if variant != "ro" {
            opts.extend(["-v", &log_volume]);
        }
        let c = Container::run_with(image, &format!("-{variant}"), &[&sink_env(), "ROTATE_SECONDS=1"], &opts);
        let ip = c.ip();
        wait_ready(&ip, 8080, "/healthz");
        for _ in 0..20 {
            assert!(get(&ip, 8080, "/work").unwrap_or_default().starts_with("rows=72 "), "{variant}");
        }
        // Three connections held open at once: a worker serves one at a time, so each is accepted by
        // a different worker, and all three answer.
        let pids = worker_pids(&ip, 3);
        assert_eq!(pids.len(), 3, "{variant}: not three workers: {pids:?}");
        std::thread::sleep(Duration::from_millis(2500));
        if variant != "ro" {
            let rotated = logs_dir.dir.path().join("server.log.1.gz");
            assert!(rotated.exists(), "{variant}: the master did not rotate its log");
        }
        let benign = read_sink(&sink);
        assert!(loud(&benign).is_empty(), "{variant}: benign traffic raised findings: {benign:#?}");

        let _ = get(&ip, 8080, &format!("/ping?host={}", url_encode("x;id -u")));
        let deadline = Instant::now() + Duration::from_secs(10);
        let shell = loop {
            let findings = read_sink(&sink);
            if let Some(f) = findings.into_iter().find(|f| f["category"] == "Unexpected Child Shell") {
                break f;
            }
            assert!(Instant::now() < deadline, "{variant}: no finding for the injection:\n{}", c.logs());
            std::thread::sleep(Duration::from_millis(200));
        };
        assert_eq!(shell["processes"][0]["args"][2], "getent hosts x;id -u", "{shell:#}");
        let (worker, master) = (&shell["ancestors"][0], &shell["ancestors"][1]);
        assert_eq!(worker["args"], serde_json::json!(["python3", "/app/server.py"]), "{shell:#}");
        assert_eq!(master["args"], worker["args"], "the worker is a fork of the master: {shell:#}");
        assert_ne!(worker["pid"], master["pid"]);
        assert_eq!(shell["processes"][0]["parentPid"], worker["pid"]);

        assert_eq!(c.stop(), 0, "{variant}: logs:\n{}", c.logs());
        if variant != "ro" {
            let log = std::fs::read_to_string(logs_dir.dir.path().join("server.log")).unwrap_or_default();
            assert!(log.contains("master stopped"), "{variant}: the master did not shut down cleanly: {log}");
        }
    }
}

/// The pids that answer `/pid` on `n` connections opened before any request is sent.
fn worker_pids(ip: &str, n: usize) -> std::collections::HashSet<String> {
    let mut conns: Vec<std::net::TcpStream> =
        (0..n).map(|_| std::net::TcpStream::connect((ip, 8080)).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    conns
        .iter_mut()
        .map(|c| {
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            write!(c, "GET /pid HTTP/1.0\r\n\r\n").unwrap();
            let mut resp = String::new();
            let _ = c.read_to_string(&mut resp);
            resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or(resp)
        })
        .collect()
}

/// A findings collector on the test network: answers every POST with 200 and keeps the bodies.
struct Collector {
    url: String,
    batches: Arc<Mutex<Vec<Value>>>,
}

impl Collector {
    fn start(host: &str) -> Collector {
        let listener = TcpListener::bind((host, 0)).unwrap();
        let url = format!("http://{}/v1/findings", listener.local_addr().unwrap());
        let batches = Arc::new(Mutex::new(Vec::new()));
        let b = batches.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let (mut length, mut gzip, mut line) = (0usize, false, String::new());
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    gzip |= lower.starts_with("content-encoding:") && lower.contains("gzip");
                    line.clear();
                }
                let mut raw = vec![0u8; length];
                if reader.read_exact(&mut raw).is_err() {
                    continue;
                }
                let body = if gzip {
                    let mut out = Vec::new();
                    flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).unwrap();
                    out
                } else {
                    raw
                };
                if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                    b.lock().unwrap().push(v);
                }
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            }
        });
        Collector { url, batches }
    }

    fn findings(&self) -> Vec<Value> {
        self.batches
            .lock()
            .unwrap()
            .iter()
            .flat_map(|b| b["findings"].as_array().cloned().unwrap_or_default())
            .collect()
    }
}

/// The master's shutdown hook runs a base64-decoded shell payload when SIGTERM arrives: the findings it
/// raises must be in the collector and the file sink by the time `docker stop` returns.
#[test]
fn findings_raised_during_shutdown_are_delivered_before_the_container_is_gone() {
    let gw = ensure_network();
    let image = "runwarden-test/prefork:latest";
    build_app("prefork", image);
    let collector = Collector::start(&gw);
    let sink = SinkDir::new();
    let hook = "echo ZWNobyBmbHVzaGVkIGNhY2hlcw== | base64 -d | sh";
    let c = Container::run_with(
        image,
        "-shutdown",
        &[
            &format!("RUNWARDEN_SINKS={},file:{}", collector.url, SinkDir::IN_CONTAINER),
            &format!("SHUTDOWN_HOOK={hook}"),
        ],
        &["-v", &sink.volume()],
    );
    let ip = c.ip();
    wait_ready(&ip, 8080, "/healthz");
    assert!(collector.findings().is_empty() && read_sink(&sink).is_empty(), "findings before the stop");

    assert_eq!(c.stop(), 0, "logs:\n{}", c.logs());
    // No waiting: the container is gone, what runwarden delivered is all there will be.
    let posted = collector.findings();
    let written = read_sink(&sink);
    for (sink_name, findings) in [("http", &posted), ("file", &written)] {
        let b64 = findings
            .iter()
            .find(|f| f["category"] == "Defense Evasion: Base64 Encoded Shell Script Executed")
            .unwrap_or_else(|| {
                panic!("{sink_name} sink: no base64 finding from the shutdown hook: {findings:#?}")
            });
        assert_eq!(b64["severity"], "MEDIUM");
        assert_eq!(b64["rule"]["id"], "base64_shell_executed");
        assert_eq!(b64["processes"][0]["args"], serde_json::json!(["/bin/sh", "-c", hook]), "{b64:#}");
        assert_eq!(b64["ancestors"][0]["args"], serde_json::json!(["python3", "/app/server.py"]), "{b64:#}");
        let shell = findings
            .iter()
            .find(|f| f["category"] == "Unexpected Child Shell")
            .unwrap_or_else(|| panic!("{sink_name} sink: no Unexpected Child Shell: {findings:#?}"));
        assert_eq!(shell["processes"][0]["pid"], b64["processes"][0]["pid"]);
    }
    // Both sinks carry the same findings, with the same ids.
    let ids = |f: &Vec<Value>| {
        let mut v: Vec<String> = f.iter().map(|f| f["findingId"].as_str().unwrap().to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(ids(&posted), ids(&written));
    assert!(c.logs().contains("http sink finished"), "{}", c.logs());
    // The instance said it ended on purpose: the final heartbeat, counting what it delivered.
    let batches = collector.batches.lock().unwrap().clone();
    let last = batches
        .iter()
        .filter_map(|b| b.get("heartbeat"))
        .find(|h| h["final"] == true)
        .unwrap_or_else(|| panic!("no final heartbeat before the container was gone: {batches:#?}"));
    assert_eq!(last["mode"], "detect", "{last:#}");
    assert!(last["counts"]["findings"].as_u64() >= Some(2), "{last:#}");
}

/// Without `PORT` in the environment (a plain `docker run`; Cloud Run always sets it), the workers a
/// pre-fork server forks, which inherit the master's listening socket, are the service too, not "New
/// Listening Socket"s (found by this suite, fixed in shim/src). The prefork image sets `ENV
/// PORT=8080`; here PORT is set empty (the server falls back to 8080, runwarden sees no service port).
#[test]
fn prefork_workers_sharing_the_masters_socket_are_not_new_listeners() {
    ensure_network();
    let image = "runwarden-test/prefork:latest";
    build_app("prefork", image);
    let sink = SinkDir::new();
    let c = Container::run_with(image, "-noport", &[&sink_env(), "PORT="], &["-v", &sink.volume()]);
    let ip = c.ip();
    wait_ready(&ip, 8080, "/healthz");
    for _ in 0..10 {
        let _ = get(&ip, 8080, "/work");
    }
    std::thread::sleep(Duration::from_millis(1500));
    let findings = read_sink(&sink);
    assert!(loud(&findings).is_empty(), "benign pre-fork workers raised findings: {findings:#?}");
    assert_eq!(c.stop(), 0);
}
