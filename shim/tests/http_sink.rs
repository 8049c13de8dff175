//! The HTTP sink end to end: the real runwarden binary, a workload that raises findings, and a small
//! HTTP server on 127.0.0.1 written here (std only) that answers from a script: 503s then 200, a hang
//! past the timeout, 400, 429 with Retry-After, falcosidekick's format, and no server at all (the
//! flush timeout, stderr, the spool delivered by the next run). Every wait is bounded.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Raises a few findings (base64-decoded code piped to a shell).
const WORKLOAD: &str = "echo aWQ= | base64 -d | sh; echo ZWNobyBkZWNvZGVk | base64 -d | sh";

#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    RetryAfter(u16, u64),
    /// Say nothing for this long, then close.
    Hang(Duration),
    /// 200 with this body (the metadata server).
    Text(&'static str),
}

#[derive(Debug, Clone)]
struct Request {
    at: Instant,
    /// The request line, e.g. `POST /v1/findings HTTP/1.1`.
    line: String,
    headers: HashMap<String, String>,
    /// The body, gunzipped when it says so.
    body: Value,
    status: u16,
}

struct Server {
    url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    /// Answers request number `n` (from 0) with `script(n)`.
    fn start(script: impl Fn(usize) -> Answer + Send + Sync + 'static) -> Server {
        Server::start_on("127.0.0.1:0", move |n, _| script(n))
    }

    /// Answers with `script(n, request line)`: for servers whose answer depends on the path.
    fn start_with_line(script: impl Fn(usize, &str) -> Answer + Send + Sync + 'static) -> Server {
        Server::start_on("127.0.0.1:0", script)
    }

    fn start_on(addr: &str, script: impl Fn(usize, &str) -> Answer + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind(addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/v1/findings", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (reqs, st) = (requests.clone(), stop.clone());
        let script = Arc::new(script);
        let counter = Arc::new(Mutex::new(0usize));
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (reqs, script, counter) = (reqs.clone(), script.clone(), counter.clone());
                        std::thread::spawn(move || serve(conn, &reqs, &*script, &counter));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server { url, requests, stop }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// findingIds of the requests answered 2xx, in order.
    fn delivered(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .flat_map(|r| ids_of(&r.body))
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn ids_of(body: &Value) -> Vec<String> {
    body["findings"]
        .as_array()
        .map(|a| a.iter().map(|f| f["findingId"].as_str().unwrap_or_default().to_string()).collect())
        .unwrap_or_default()
}

fn serve(
    conn: TcpStream,
    reqs: &Mutex<Vec<Request>>,
    script: &(dyn Fn(usize, &str) -> Answer + Send + Sync),
    counter: &Mutex<usize>,
) {
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut headers = HashMap::new();
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let request_line = line.trim_end().to_string();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.trim_end().split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut raw = vec![0u8; len];
    reader.read_exact(&mut raw).unwrap();
    let body = if headers.get("content-encoding").map(String::as_str) == Some("gzip") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).expect("a valid gzip body");
        out
    } else {
        raw
    };
    let body: Value =
        if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).expect("a JSON body") };
    let n = {
        let mut c = counter.lock().unwrap();
        *c += 1;
        *c - 1
    };
    let answer = script(n, &request_line);
    let status = match answer {
        Answer::Status(s) | Answer::RetryAfter(s, _) => s,
        Answer::Hang(_) => 0,
        Answer::Text(_) => 200,
    };
    reqs.lock().unwrap().push(Request { at: Instant::now(), line: request_line, headers, body, status });
    let mut conn = conn;
    match answer {
        Answer::Hang(d) => std::thread::sleep(d),
        Answer::Text(t) => {
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{t}",
                t.len()
            );
        }
        Answer::Status(s) => {
            let _ = write!(conn, "HTTP/1.1 {s} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
        Answer::RetryAfter(s, secs) => {
            let _ = write!(
                conn,
                "HTTP/1.1 {s} X\r\nRetry-After: {secs}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    }
}

/// runwarden with the file sink (the reference set of findings) and `sinks`.
fn rw_with(dir: &tempfile::TempDir, sinks: &str) -> (std::process::Command, std::path::PathBuf) {
    let file = dir.path().join("findings.jsonl");
    let mut cmd = rw();
    cmd.env("RUNWARDEN_SINKS", format!("file:{},{sinks}", file.display()));
    (cmd, file)
}

fn file_ids(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["findingId"].as_str().unwrap().to_string())
        .collect()
}

fn finished(out: &Output) -> Value {
    out.logs()
        .into_iter()
        .find(|v| v["message"] == "http sink finished")
        .unwrap_or_else(|| panic!("no 'http sink finished' line:\n{}", out.stderr()))
}

fn assert_no_duplicates(ids: &[String]) {
    let set: HashSet<&String> = ids.iter().collect();
    assert_eq!(set.len(), ids.len(), "duplicates delivered: {ids:?}");
}

#[test]
fn delivered_after_503s_with_the_same_ids_gzip_and_bearer() {
    let server = Server::start(|n| if n < 2 { Answer::Status(503) } else { Answer::Status(200) });
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let (mut cmd, file) = rw_with(&dir, &server.url);
    cmd.env("RUNWARDEN_TOKEN_FILE", &token).args(["--", "sh", "-c", WORKLOAD]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let want = file_ids(&file);
    assert!(!want.is_empty(), "the workload raised no findings:\n{}", out.stderr());
    let reqs = server.requests();
    assert!(reqs.len() >= 3, "{reqs:?}");
    // The retries carry the same findingIds as the refused first attempt.
    assert_eq!(ids_of(&reqs[0].body), ids_of(&reqs[1].body));
    assert_eq!(ids_of(&reqs[0].body), ids_of(&reqs[2].body));
    for r in &reqs {
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(r.headers["content-encoding"], "gzip");
        assert_eq!(r.headers["authorization"], "Bearer s3cret-token");
    }
    let delivered = server.delivered();
    assert_no_duplicates(&delivered);
    assert_eq!(delivered.iter().collect::<HashSet<_>>(), want.iter().collect::<HashSet<_>>());
    let fin = finished(&out);
    assert_eq!(fin["delivered"], want.len() as u64);
    assert!(fin["retries"].as_u64().unwrap() >= 2, "{fin}");
    assert!(!out.stderr().contains("s3cret-token"), "the token was logged");
}

#[test]
fn google_id_token_from_the_metadata_server_renewed_on_401() {
    // Identity tokens by their own count: the same server also answers the findings' resource lookups.
    let issued = std::sync::atomic::AtomicUsize::new(0);
    let metadata = Server::start_with_line(move |_, line| {
        if !line.contains("/service-accounts/default/identity") {
            return Answer::Status(404);
        }
        let n = issued.fetch_add(1, Ordering::SeqCst);
        Answer::Text(if n == 0 { "id-token-1\n" } else { "id-token-2" })
    });
    let server = Server::start(|n| if n == 0 { Answer::Status(401) } else { Answer::Status(200) });
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, file) = rw_with(&dir, &server.url);
    let meta_host = metadata.url.trim_start_matches("http://").split('/').next().unwrap().to_string();
    cmd.env("RUNWARDEN_AUTH", "google")
        .env("GCE_METADATA_HOST", &meta_host)
        .args(["--", "sh", "-c", WORKLOAD]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    // The same server also answers the findings' resource lookups (project, region, instance id);
    // the identity-token requests are the ones this test is about.
    let asked: Vec<_> = metadata
        .requests()
        .into_iter()
        .filter(|r| r.line.contains("/service-accounts/default/identity"))
        .collect();
    assert_eq!(asked.len(), 2, "one fetch, one renewal on the 401: {asked:?}");
    let origin = server.url.trim_end_matches("/v1/findings").replace(':', "%3A").replace('/', "%2F");
    for r in &asked {
        assert_eq!(r.headers["metadata-flavor"], "Google");
        assert!(
            r.line.starts_with("GET /computeMetadata/v1/instance/service-accounts/default/identity?"),
            "{}",
            r.line
        );
        assert!(r.line.contains(&format!("audience={origin}")), "{} vs {origin}", r.line);
    }
    let reqs = server.requests();
    assert_eq!(reqs[0].headers["authorization"], "Bearer id-token-1");
    assert_eq!(reqs[1].headers["authorization"], "Bearer id-token-2");
    assert_eq!(ids_of(&reqs[0].body), ids_of(&reqs[1].body));
    assert_eq!(server.delivered().len(), file_ids(&file).len());
    assert!(!out.stderr().contains("id-token-"), "a token was logged");
}

#[test]
fn retry_after_is_honoured() {
    let server = Server::start(|n| if n == 0 { Answer::RetryAfter(429, 2) } else { Answer::Status(200) });
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, file) = rw_with(&dir, &server.url);
    cmd.args(["--", "sh", "-c", WORKLOAD]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let reqs = server.requests();
    assert!(reqs.len() >= 2, "{reqs:?}");
    let gap = reqs[1].at - reqs[0].at;
    assert!(gap >= Duration::from_millis(1900), "retried after {gap:?}, not after Retry-After: 2");
    let delivered = server.delivered();
    assert_no_duplicates(&delivered);
    assert_eq!(delivered.len(), file_ids(&file).len());
}

#[test]
fn a_hanging_endpoint_times_out_and_is_retried() {
    let server =
        Server::start(|n| if n == 0 { Answer::Hang(Duration::from_secs(8)) } else { Answer::Status(200) });
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, file) = rw_with(&dir, &server.url);
    cmd.env("RUNWARDEN_HTTP_TIMEOUT", "300ms").args(["--", "sh", "-c", WORKLOAD]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let reqs = server.requests();
    assert!(reqs.len() >= 2, "{reqs:?}");
    assert!(reqs[1].at - reqs[0].at < Duration::from_secs(3), "the timeout did not apply");
    assert!(out.elapsed < Duration::from_secs(8), "runwarden waited for the hanging request");
    let delivered = server.delivered();
    assert_no_duplicates(&delivered);
    assert_eq!(delivered.len(), file_ids(&file).len());
}

#[test]
fn a_400_rejects_the_batch_once_logged_and_counted() {
    let server = Server::start(|_| Answer::Status(400));
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, file) = rw_with(&dir, &server.url);
    cmd.args(["--", "sh", "-c", WORKLOAD]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let want = file_ids(&file);
    let sent: Vec<String> = server.requests().iter().flat_map(|r| ids_of(&r.body)).collect();
    assert_no_duplicates(&sent); // not retried
    assert_eq!(sent.len(), want.len());
    let fin = finished(&out);
    assert_eq!(fin["rejected"], want.len() as u64, "{fin}");
    assert_eq!(fin["retries"], 0);
    let rejected = out
        .logs()
        .into_iter()
        .find(|v| v["message"] == "the findings endpoint rejected a batch; it is not retried");
    let rejected = rejected.unwrap_or_else(|| panic!("no rejection logged:\n{}", out.stderr()));
    assert_eq!(rejected["status"], 400);
    assert_eq!(rejected["severity"], "ERROR");
}

#[test]
fn falco_format_posts_one_event_per_request() {
    let server = Server::start(|_| Answer::Status(200));
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, file) = rw_with(&dir, &format!("falco+{}", server.url));
    cmd.env("RUNWARDEN_GZIP", "0").args(["--", "sh", "-c", WORKLOAD]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let want = file_ids(&file);
    let reqs = server.requests();
    assert_eq!(reqs.len(), want.len(), "one request per finding");
    let priorities =
        ["Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"];
    for r in &reqs {
        let e = &r.body;
        assert!(!r.headers.contains_key("content-encoding"));
        assert!(priorities.contains(&e["priority"].as_str().unwrap()), "{e}");
        assert!(!e["output"].as_str().unwrap().is_empty(), "{e}");
        assert!(!e["rule"].as_str().unwrap().is_empty(), "{e}");
        assert!(e["time"].as_str().unwrap().ends_with('Z'), "{e}");
        assert_eq!(e["source"], "runwarden");
        assert!(!e["output_fields"].as_object().unwrap().is_empty(), "{e}");
        assert!(e["tags"].as_array().is_some(), "{e}");
    }
    let got: HashSet<String> = reqs
        .iter()
        .map(|r| r.body["output_fields"]["runwarden.finding_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, want.into_iter().collect());
}

/// A URL where nothing listens.
fn dead_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}/v1/findings", l.local_addr().unwrap())
}

#[test]
fn at_exit_undelivered_findings_go_to_stderr_within_the_flush_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, file) = rw_with(&dir, &dead_url());
    cmd.env("RUNWARDEN_FLUSH_TIMEOUT", "1s").args(["--", "sh", "-c", WORKLOAD]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let want: HashSet<String> = file_ids(&file).into_iter().collect();
    assert!(!want.is_empty());
    let on_stderr: HashSet<String> = out
        .logs()
        .iter()
        .filter(|v| v["logging.googleapis.com/labels"]["runwarden/undelivered"] == "true")
        .map(|v| {
            assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
            v["finding"]["findingId"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(on_stderr, want, "stderr:\n{}", out.stderr());
    assert!(out.elapsed < Duration::from_secs(6), "took {:?}", out.elapsed);
    assert_eq!(finished(&out)["undelivered"], want.len() as u64);
}

#[test]
fn spooled_findings_are_delivered_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let url = dead_url();
    let (mut cmd, file) = rw_with(&dir, &url);
    cmd.env("RUNWARDEN_SPOOL_DIR", &spool)
        .env("RUNWARDEN_FLUSH_TIMEOUT", "1s")
        .args(["--", "sh", "-c", WORKLOAD]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let first: Vec<String> = file_ids(&file);
    assert!(!first.is_empty());
    assert!(finished(&out)["spooled"].as_u64().unwrap() >= first.len() as u64, "{}", out.stderr());

    // The endpoint is back, on the same address.
    let addr = url.trim_start_matches("http://").split('/').next().unwrap().to_string();
    let server = Server::start_on(&addr, |_, _| Answer::Status(200));
    let mut cmd = rw();
    cmd.env("RUNWARDEN_SINKS", &url).env("RUNWARDEN_SPOOL_DIR", &spool).args(["--", "true"]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let delivered = server.delivered();
    assert_no_duplicates(&delivered);
    for id in &first {
        assert!(
            delivered.contains(id),
            "{id} was not delivered from the spool: {delivered:?}\n{}",
            out.stderr()
        );
    }
    let left: Vec<_> =
        walk(&spool).into_iter().filter(|p| p.extension().is_some_and(|e| e == "jsonl")).collect();
    assert!(left.is_empty(), "spool files left after delivery: {left:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
