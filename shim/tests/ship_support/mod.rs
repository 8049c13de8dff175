//! Shared by the HTTP sink tests (`http_sink`, `ship_*`): a small HTTP(S) server on 127.0.0.1 written
//! here (std, plus rustls for HTTPS) that answers from a script and records every request (body
//! gunzipped), and helpers to read what runwarden wrote.
#![allow(dead_code)] // each test binary uses a different part

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::common::*;

/// Raises a few findings (base64-decoded code piped to a shell).
pub const WORKLOAD: &str = "echo aWQ= | base64 -d | sh; echo ZWNobyBkZWNvZGVk | base64 -d | sh";

#[derive(Clone, Copy)]
pub enum Answer {
    Status(u16),
    RetryAfter(u16, u64),
    /// Say nothing for this long, then close.
    Hang(Duration),
    /// 200 with this body (the metadata server).
    Text(&'static str),
}

#[derive(Debug, Clone)]
pub struct Request {
    pub at: Instant,
    /// The request line, e.g. `POST /v1/findings HTTP/1.1`.
    pub line: String,
    pub headers: HashMap<String, String>,
    /// The body, gunzipped when it says so.
    pub body: Value,
    pub status: u16,
}

pub struct Server {
    pub url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    /// Answers request number `n` (from 0) with `script(n)`.
    pub fn start(script: impl Fn(usize) -> Answer + Send + Sync + 'static) -> Server {
        Server::start_on("127.0.0.1:0", move |n, _| script(n))
    }

    /// Answers with `script(n, request line)`: for servers whose answer depends on the path.
    pub fn start_with_line(script: impl Fn(usize, &str) -> Answer + Send + Sync + 'static) -> Server {
        Server::start_on("127.0.0.1:0", script)
    }

    pub fn start_on(addr: &str, script: impl Fn(usize, &str) -> Answer + Send + Sync + 'static) -> Server {
        Server::listen(addr, None, script)
    }

    /// An HTTPS server with this certificate chain and key (PEM files).
    pub fn start_tls(
        cert: &std::path::Path,
        key: &std::path::Path,
        script: impl Fn(usize) -> Answer + Send + Sync + 'static,
    ) -> Server {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(cert).unwrap().map(|c| c.unwrap()).collect();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .unwrap();
        Server::listen("127.0.0.1:0", Some(Arc::new(config)), move |n, _| script(n))
    }

    fn listen(
        addr: &str,
        tls: Option<Arc<rustls::ServerConfig>>,
        script: impl Fn(usize, &str) -> Answer + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind(addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}/v1/findings", listener.local_addr().unwrap());
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
                        conn.set_nonblocking(false).unwrap();
                        conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                        match &tls {
                            Some(config) => {
                                let tls = rustls::ServerConnection::new(config.clone()).unwrap();
                                let stream = rustls::StreamOwned::new(tls, conn);
                                std::thread::spawn(move || serve(stream, &reqs, &*script, &counter));
                            }
                            None => {
                                std::thread::spawn(move || serve(conn, &reqs, &*script, &counter));
                            }
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server { url, requests, stop }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// findingIds of the requests answered 2xx, in order.
    pub fn delivered(&self) -> Vec<String> {
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

pub fn ids_of(body: &Value) -> Vec<String> {
    body["findings"]
        .as_array()
        .map(|a| a.iter().map(|f| f["findingId"].as_str().unwrap_or_default().to_string()).collect())
        .unwrap_or_default()
}

/// Reads one request (a TLS handshake the client gave up on reads as nothing) and answers it.
fn serve<S: Read + Write>(
    conn: S,
    reqs: &Mutex<Vec<Request>>,
    script: &(dyn Fn(usize, &str) -> Answer + Send + Sync),
    counter: &Mutex<usize>,
) {
    let mut reader = BufReader::new(conn);
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
    let conn = reader.get_mut();
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
pub fn rw_with(dir: &tempfile::TempDir, sinks: &str) -> (std::process::Command, std::path::PathBuf) {
    let file = dir.path().join("findings.jsonl");
    let mut cmd = rw();
    cmd.env("RUNWARDEN_SINKS", format!("file:{},{sinks}", file.display()));
    (cmd, file)
}

pub fn file_ids(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["findingId"].as_str().unwrap().to_string())
        .collect()
}

pub fn finished(out: &Output) -> Value {
    out.logs()
        .into_iter()
        .find(|v| v["message"] == "http sink finished")
        .unwrap_or_else(|| panic!("no 'http sink finished' line:\n{}", out.stderr()))
}

pub fn assert_no_duplicates(ids: &[String]) {
    let set: HashSet<&String> = ids.iter().collect();
    assert_eq!(set.len(), ids.len(), "duplicates delivered: {ids:?}");
}

/// A URL where nothing listens.
pub fn dead_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}/v1/findings", l.local_addr().unwrap())
}

pub fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
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

/// Requests that carried a heartbeat, in order, with their heartbeat.
pub fn heartbeats(server: &Server) -> Vec<(Request, Value)> {
    server
        .requests()
        .into_iter()
        .filter_map(|r| {
            let h = r.body.get("heartbeat").cloned()?;
            Some((r, h))
        })
        .collect()
}

/// The findingIds runwarden wrote to stderr as undelivered (label `runwarden/undelivered`).
pub fn undelivered_ids(out: &Output) -> Vec<String> {
    out.logs()
        .iter()
        .filter(|v| v["logging.googleapis.com/labels"]["runwarden/undelivered"] == "true")
        .map(|v| v["finding"]["findingId"].as_str().unwrap().to_string())
        .collect()
}
