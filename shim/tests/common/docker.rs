//! Docker helpers shared by the container tests (included with `#[path]` by those that need them):
//! the base image (integration/docker/build-base.sh: debootstrap + docker import, cached), sample
//! images built the way Dockerfile.example says, the test network, containers removed on drop, plain
//! HTTP on the test network, and an attacker's file server. Needs root and a Docker engine.
#![allow(dead_code)] // each test binary uses a different part

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BASE: &str = "runwarden-test/debian:bookworm-2";
pub const NETWORK: &str = "rwtest-net";

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

pub fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().expect("docker must be installed")
}

pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Builds the base image once per test binary (the script is idempotent, but two concurrent builds
/// would both debootstrap).
pub fn ensure_base() {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let out = Command::new(repo().join("integration/docker/build-base.sh")).arg(BASE).output().unwrap();
        assert!(out.status.success(), "base image: {}", String::from_utf8_lossy(&out.stderr));
    });
}

/// Builds an image from `dockerfile` with a context holding runwarden and `files` (Docker's build
/// cache makes a rebuild with the same contents instant).
pub fn build(tag: &str, dockerfile: &Path, files: &[&Path]) {
    ensure_base();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_runwarden"), ctx.path().join("runwarden")).unwrap();
    std::fs::copy(dockerfile, ctx.path().join("Dockerfile")).unwrap();
    for f in files {
        std::fs::copy(f, ctx.path().join(f.file_name().unwrap())).unwrap();
    }
    docker_ok(&[
        "build",
        "-q",
        "--build-arg",
        &format!("BASE={BASE}"),
        "-t",
        tag,
        ctx.path().to_str().unwrap(),
    ]);
}

/// Builds the sample app under integration/docker/apps/`app` (its Dockerfile and every file beside it).
pub fn build_app(app: &str, tag: &str) {
    let dir = repo().join("integration/docker/apps").join(app);
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "Dockerfile")
        .collect();
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    build(tag, &dir.join("Dockerfile"), &refs);
}

/// The test network's gateway address (this host, as the containers see it). Created once per test
/// binary: Docker allows two networks with one name if two tests create it at the same moment.
pub fn ensure_network() -> String {
    static GATEWAY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    GATEWAY
        .get_or_init(|| {
            if !docker(&["network", "inspect", NETWORK]).status.success() {
                let out = docker(&["network", "create", NETWORK]);
                // Another test binary may have created it in between.
                assert!(
                    out.status.success() || docker(&["network", "inspect", NETWORK]).status.success(),
                    "docker network create: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            docker_ok(&["network", "inspect", NETWORK, "-f", "{{(index .IPAM.Config 0).Gateway}}"])
        })
        .clone()
}

/// A running container, removed on drop.
pub struct Container(pub String);

impl Container {
    pub fn run(image: &str, env: &[&str]) -> Container {
        Container::run_with(image, "", env, &[])
    }

    /// `docker run -d` on the test network with extra `docker run` options (e.g. `--user`,
    /// `--read-only`); `suffix` tells apart several containers of one image in one test.
    pub fn run_with(image: &str, suffix: &str, env: &[&str], options: &[&str]) -> Container {
        Container::run_cmd(image, suffix, env, options, &[])
    }

    /// The same with a command (the image's CMD replaced; runwarden stays the ENTRYPOINT).
    pub fn run_cmd(image: &str, suffix: &str, env: &[&str], options: &[&str], cmd: &[&str]) -> Container {
        ensure_network();
        let name = format!("rwtest-{}-{}{suffix}", std::process::id(), image.replace(['/', ':'], "-"));
        let _ = docker(&["rm", "-f", &name]);
        let mut args = vec!["run", "-d", "--name", &name, "--network", NETWORK];
        for e in env {
            args.extend(["-e", e]);
        }
        args.extend(options);
        args.push(image);
        args.extend(cmd);
        docker_ok(&args);
        Container(name)
    }

    pub fn ip(&self) -> String {
        docker_ok(&["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", &self.0])
    }

    pub fn logs(&self) -> String {
        let out = docker(&["logs", &self.0]);
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout)
    }

    /// The findings of the stderr sink (Cloud Logging's form: the finding under "finding").
    pub fn findings(&self) -> Vec<Value> {
        self.logs()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| v.get("finding").cloned())
            .collect()
    }

    /// `docker stop` (SIGTERM, SIGKILL after 10 s); the container's exit code.
    pub fn stop(&self) -> i64 {
        docker_ok(&["stop", "-t", "10", &self.0]);
        self.exit_code()
    }

    /// Waits for the container to exit by itself (a job); its exit code.
    pub fn wait(&self, timeout: Duration) -> i64 {
        let deadline = Instant::now() + timeout;
        while docker_ok(&["inspect", "-f", "{{.State.Running}}", &self.0]) == "true" {
            assert!(
                Instant::now() < deadline,
                "{} still running after {timeout:?}:\n{}",
                self.0,
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        self.exit_code()
    }

    pub fn exit_code(&self) -> i64 {
        docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", &self.0]).parse().unwrap()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.0]);
    }
}

/// A host directory mounted into a container for the file sink (world-writable: the container may run
/// as a non-root user). `RUNWARDEN_SINKS=...,file:/rw-findings/findings.jsonl`.
pub struct SinkDir {
    pub dir: tempfile::TempDir,
}

impl SinkDir {
    pub const IN_CONTAINER: &'static str = "/rw-findings/findings.jsonl";

    pub fn new() -> SinkDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        SinkDir { dir }
    }

    /// The `-v` option mounting it.
    pub fn volume(&self) -> String {
        format!("{}:/rw-findings", self.dir.path().display())
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("findings.jsonl")
    }
}

/// A plain HTTP/1.0 GET; the body.
pub fn get(host: &str, port: u16, path: &str) -> Option<String> {
    let mut s =
        TcpStream::connect_timeout(&format!("{host}:{port}").parse().ok()?, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

pub fn wait_ready(host: &str, port: u16, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if get(host, port, path).is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{host}:{port}{path} never answered");
}

/// Percent-encodes everything but RFC 3986's unreserved characters (for a query value).
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub fn loud(findings: &[Value]) -> Vec<&Value> {
    findings
        .iter()
        .filter(|f| matches!(f["severity"].as_str(), Some("MEDIUM" | "HIGH" | "CRITICAL")))
        .collect()
}

/// The attacker's web server on the test network: serves fixed files over HTTP/1.0 until dropped and
/// records the paths asked for.
pub struct FileServer {
    pub base: String,
    pub served: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
}

impl FileServer {
    pub fn start(host: &str, files: Vec<(String, Vec<u8>)>) -> FileServer {
        FileServer::serve(TcpListener::bind((host, 0)).unwrap(), files)
    }

    /// Serves on a listener bound beforehand (when the files must name the server's address).
    pub fn serve(listener: TcpListener, files: Vec<(String, Vec<u8>)>) -> FileServer {
        let addr = listener.local_addr().unwrap();
        let served = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (served.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
                let mut buf = [0u8; 4096];
                let n = conn.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = req.split_whitespace().nth(1).unwrap_or("").to_string();
                let body = files.iter().find(|(p, _)| *p == path).map(|(_, b)| b.clone());
                let (status, body) = match body {
                    Some(b) => ("200 OK", b),
                    None => ("404 Not Found", b"no".to_vec()),
                };
                let _ = write!(conn, "HTTP/1.0 {status}\r\nContent-Length: {}\r\n\r\n", body.len());
                let _ = conn.write_all(&body);
                s.lock().unwrap().push(path);
            }
        });
        FileServer { base: format!("http://{addr}"), served, stop, addr }
    }

    pub fn served(&self) -> Vec<String> {
        self.served.lock().unwrap().clone()
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// An attacker's listener (`port` 0: any) for one connection (a reverse shell, a miner, an implant):
/// accepts it, types `commands` (each line a command; `exit` is appended), and returns what came back
/// once the peer closed or went quiet.
pub fn reverse_shell_listener(
    host: &str,
    port: u16,
    commands: String,
) -> (u16, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind((host, port)).unwrap_or_else(|e| panic!("listen on {host}:{port}: {e}"));
    let port = listener.local_addr().unwrap().port();
    let session = std::thread::spawn(move || {
        listener.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut conn = loop {
            match listener.accept() {
                Ok((c, _)) => break c,
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return format!("no connection: {e}"),
            }
        };
        conn.set_nonblocking(false).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
        let _ = conn.write_all(format!("{commands}\nexit\n").as_bytes());
        let mut got = Vec::new();
        let _ = conn.read_to_end(&mut got);
        String::from_utf8_lossy(&got).into_owned()
    });
    (port, session)
}

/// The lines of a file that a sink may still be appending to: a last line without its newline is
/// being written and is left for the next read (a finding is written with more than one write(2)
/// when it is larger than the sink's buffer).
pub fn complete_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive('\n').filter_map(|l| l.strip_suffix('\n'))
}
